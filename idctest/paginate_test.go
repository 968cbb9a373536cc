package idctest_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/idctest"
)

func TestPagination(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write)
	other := srv.NewAccountKey("other", idctest.Write)
	project := newProject(t, srv, key, "P")
	var ids []string
	for range 7 {
		ids = append(ids, upload(t, srv, key, "project_id", project)["public_id"].(string))
	}
	upload(t, srv, other, "project_id", newProject(t, srv, other, "O"))
	srv.CompleteTranscription(ids[0], "done")

	tests := []struct {
		query               string
		n, page, pages, per int
		total               float64
	}{
		{"", 7, 1, 1, 20, 7},
		{"?per_page=3", 3, 1, 3, 3, 7},
		{"?per_page=3&page=3", 1, 3, 3, 3, 7},
		{"?per_page=3&page=4", 0, 4, 3, 3, 7},
		{"?per_page=100", 7, 1, 1, 100, 7},
		{"?status=completed", 1, 1, 1, 20, 1},
	}
	for _, tt := range tests {
		r := call(t, srv, key, "GET", "/recordings"+tt.query, nil)
		require.Equal(t, 200, r.status, tt.query)
		m := r.json(t)
		assert.Len(t, m["data"], tt.n, tt.query)
		assert.Equal(t, map[string]any{"current_page": float64(tt.page), "total_pages": float64(tt.pages),
			"total_count": tt.total, "per_page": float64(tt.per)}, m["meta"], tt.query)
	}
	for q, want := range map[string]string{
		"?page=0":       `{"error":"page must be a positive integer"}`,
		"?per_page=101": `{"error":"per_page must be between 1 and 100"}`,
	} {
		r := call(t, srv, key, "GET", "/recordings"+q, nil)
		assert.Equal(t, 400, r.status)
		assert.JSONEq(t, want, r.body)
	}
}

// TestPaginationOfAnyValue: whatever page and per_page say, the answer is
// the documented one, a page past the last an empty list with its meta,
// and no arithmetic overflows.
func TestPaginationOfAnyValue(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write)
	project := newProject(t, srv, key, "P")
	for range 3 {
		upload(t, srv, key, "project_id", project)
	}
	const maxInt = math.MaxInt64
	badPage := `{"error":"page must be a positive integer"}`
	badPerPage := `{"error":"per_page must be between 1 and 100"}`
	tests := []struct {
		query string
		n     int    // items on the page
		meta  string // current_page, total_pages, total_count, per_page
		err   string // the 400's body
	}{
		{query: fmt.Sprint("page=", maxInt), meta: fmt.Sprint(maxInt, " 1 3 20")},
		{query: fmt.Sprint("page=", maxInt/20+1), meta: fmt.Sprint(maxInt/20+1, " 1 3 20")},
		{query: fmt.Sprint("page=", maxInt/20+2), meta: fmt.Sprint(maxInt/20+2, " 1 3 20")},
		{query: fmt.Sprint("page=", maxInt, "&per_page=100"), meta: fmt.Sprint(maxInt, " 1 3 100")},
		{query: fmt.Sprint("page=", maxInt/2+1, "&per_page=2"), meta: fmt.Sprint(maxInt/2+1, " 2 3 2")},
		{query: "page=2&per_page=2", n: 1, meta: "2 2 3 2"},
		{query: "page=3&per_page=1", n: 1, meta: "3 3 3 1"},
		{query: "page=4&per_page=1", meta: "4 3 3 1"},
		{query: "page=%2B1", n: 3, meta: "1 1 3 20"},
		{query: "page=", n: 3, meta: "1 1 3 20"},
		{query: "page=9223372036854775808", err: badPage},
		{query: "page=99999999999999999999999", err: badPage},
		{query: fmt.Sprint("page=", math.MinInt64), err: badPage},
		{query: "page=-1", err: badPage},
		{query: "page=0", err: badPage},
		{query: "page=abc", err: badPage},
		{query: "page=1.5", err: badPage},
		{query: "page=%201", err: badPage},
		{query: "per_page=0", err: badPerPage},
		{query: "per_page=-5", err: badPerPage},
		{query: "per_page=101", err: badPerPage},
		{query: fmt.Sprint("per_page=", maxInt), err: badPerPage},
		{query: "per_page=9223372036854775808", err: badPerPage},
		{query: "per_page=x", err: badPerPage},
		{query: fmt.Sprint("page=", maxInt, "&per_page=", maxInt), err: badPerPage},
	}
	for _, tt := range tests {
		r := call(t, srv, key, "GET", "/recordings?"+tt.query, nil)
		if tt.err != "" {
			assert.Equal(t, 400, r.status, tt.query)
			assert.JSONEq(t, tt.err, r.body, tt.query)
			continue
		}
		require.Equal(t, 200, r.status, "%s: %s", tt.query, r.body)
		var list struct {
			Data []idctest.Recording
			Meta struct {
				CurrentPage json.Number `json:"current_page"`
				TotalPages  json.Number `json:"total_pages"`
				TotalCount  json.Number `json:"total_count"`
				PerPage     json.Number `json:"per_page"`
			}
		}
		dec := json.NewDecoder(strings.NewReader(r.body))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&list), tt.query)
		m := list.Meta
		assert.Len(t, list.Data, tt.n, tt.query)
		assert.NotNil(t, list.Data, "%s: a list, never null", tt.query)
		assert.Equal(t, tt.meta, fmt.Sprint(m.CurrentPage, " ", m.TotalPages, " ", m.TotalCount, " ", m.PerPage), tt.query)
	}
}
