package idctest

import (
	"net/http"
	"slices"
	"strconv"
)

const (
	defaultPerPage = 20
	maxPerPage     = 100
)

// paginate returns the page of items the query asks for, and the meta of
// the documented list shape: a page past the last is an empty list with
// its meta. page must be a positive integer that fits in 64 bits and
// per_page one from 1 to 100; otherwise paginate writes the 400 itself and
// reports false.
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T) ([]T, map[string]int, bool) {
	q := r.URL.Query()
	page, ok := positiveParam(q.Get("page"), 1)
	if !ok {
		writeError(w, http.StatusBadRequest, "page must be a positive integer")
		return nil, nil, false
	}
	perPage, ok := positiveParam(q.Get("per_page"), defaultPerPage)
	if !ok || perPage > maxPerPage {
		writeError(w, http.StatusBadRequest, "per_page must be between 1 and 100")
		return nil, nil, false
	}
	pages := (len(items) + perPage - 1) / perPage
	data := []T{}
	if page <= pages { // so (page-1)*perPage < len(items): no overflow
		from := (page - 1) * perPage
		data = slices.Clone(items[from:min(from+perPage, len(items))])
	}
	return data, map[string]int{
		"current_page": page,
		"total_pages":  pages,
		"total_count":  len(items),
		"per_page":     perPage,
	}, true
}

// positiveParam parses an optional positive integer parameter.
func positiveParam(v string, def int) (int, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n > 0
}
