package idctrace

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTransportRequestIDRules(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 129)
	tests := []struct {
		name    string
		header  []string
		spell   string // the header's map key; "" for the canonical one
		ctxID   string
		gen     func() string
		want    string // "" means a fresh UUID
		wantGen bool
	}{
		{name: "header kept", header: []string{"caller-1"}, ctxID: "ctx-1", want: "caller-1"},
		{name: "first of repeated header", header: []string{"caller-1", "caller-2"}, want: "caller-1"},
		{name: "context used", ctxID: "ctx-1", want: "ctx-1"},
		{name: "generated", gen: func() string { return "gen-1" }, want: "gen-1"},
		{name: "uuid by default"},
		{name: "header too long replaced", header: []string{long}, ctxID: "ctx-1", want: "ctx-1"},
		{name: "header with control char replaced", header: []string{"a\tb"}, gen: func() string { return "gen-1" }, want: "gen-1"},
		{name: "context too long replaced", ctxID: long},
		{name: "context with newline replaced", ctxID: "a\nb"},
		{name: "bad generator falls back to uuid", gen: func() string { return "" }},
		{name: "128 bytes kept", header: []string{long[:128]}, want: long[:128]},
		{name: "header under the constant's spelling", header: []string{"caller-1"}, spell: DefaultRequestIDHeader, want: "caller-1"},
		{name: "header in lower case", header: []string{"caller-1"}, spell: "x-request-id", want: "caller-1"},
		{name: "header holding a key replaced", header: []string{"id-" + testKey}, ctxID: "ctx-1", want: "ctx-1"},
		{name: "escaped key replaced", header: []string{"idc%5F" + testKey[4:]}, gen: func() string { return "gen-1" }, want: "gen-1"},
		{name: "context holding a key replaced", ctxID: testKey},
		{name: "generated key replaced", gen: func() string { return testKey }},
		// What a server or a reader of the error's text would read otherwise.
		{name: "not UTF-8 replaced", header: []string{"id-\xff"}, ctxID: "ctx-1", want: "ctx-1"},
		{name: "beyond ASCII replaced", header: []string{"idé"}, ctxID: "ctx-1", want: "ctx-1"},
		{name: "leading blank replaced", header: []string{" id-1"}, ctxID: "ctx-1", want: "ctx-1"},
		{name: "trailing blank replaced", header: []string{"id-1 "}, ctxID: "ctx-1", want: "ctx-1"},
		{name: "inner space replaced", header: []string{"id 1"}, ctxID: "ctx-1", want: "ctx-1"},
		{name: "parenthesis replaced", header: []string{"id(1)"}, ctxID: "ctx-1", want: "ctx-1"},
		{name: "context beyond ASCII replaced", ctxID: "ключ"},
		{name: "generator's blank replaced", gen: func() string { return "gen 1" }},
		{name: "visible ASCII kept", header: []string{"a-Z_0.9:/=+~!#$%&'*;<>?@[]^`{|}\""}, want: "a-Z_0.9:/=+~!#$%&'*;<>?@[]^`{|}\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, reply(200, ""))
			var opts []Option
			if tt.gen != nil {
				opts = append(opts, WithIDGenerator(tt.gen))
			}
			tr := New(srv.Client().Transport, nil, opts...)
			ctx := context.Background()
			if tt.ctxID != "" {
				ctx = ContextWithRequestID(ctx, tt.ctxID)
			}
			req, err := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
			require.NoError(t, err)
			if tt.header != nil {
				spell := cmp.Or(tt.spell, http.CanonicalHeaderKey(DefaultRequestIDHeader))
				req.Header[spell] = tt.header
			}

			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			readAll(t, resp)

			sent := srv.seenIDs()[0]
			assert.Len(t, srv.got()[0].header.Values(DefaultRequestIDHeader), 1, "the server receives exactly one ID")
			if tt.want == "" {
				assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, sent)
			} else {
				assert.Equal(t, tt.want, sent)
			}
			assert.Equal(t, sent, RequestID(resp))
			got, ok := RequestIDFromContext(resp.Request.Context())
			assert.True(t, ok)
			assert.Equal(t, sent, got)
			assert.Equal(t, []string{sent}, resp.Request.Header.Values(DefaultRequestIDHeader))
		})
	}
}

// TestRequestIDReadsBackFromText: every ID a Transport sends comes back,
// byte for byte, from the text of the error http.Client keeps.
func TestRequestIDReadsBackFromText(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"req-1", "a-Z_0.9:/=+~!#$%&'*;<>?@[]^`{|}\"", strings.Repeat("x", 128)} {
		tr := New(stubRT{err: refused}, nil)
		req := newRequest(t, "GET", "http://h/api/v1/public/recordings")
		req.Header.Set(DefaultRequestIDHeader, id)
		_, err := tr.RoundTrip(req)
		require.Error(t, err)
		assert.Equal(t, id, RequestIDFromError(errors.New("Get: "+err.Error())), "%q", id)
	}
}

func TestTransportCustomHeader(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(200, ""))
	tr := New(srv.Client().Transport, nil, WithRequestIDHeader("x-correlation-id"), WithIDGenerator(func() string { return "corr-1" }))
	req, err := http.NewRequest("GET", srv.URL, nil)
	require.NoError(t, err)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, []string{"corr-1"}, srv.seen("X-Correlation-Id"))
	assert.Equal(t, "corr-1", RequestID(resp), "RequestID finds a custom header's ID through the context")
	assert.Empty(t, resp.Request.Header.Get(DefaultRequestIDHeader))
}

func TestWithRequestIDHeaderRejectsInvalidName(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, `idctrace: WithRequestIDHeader: invalid header name "X Request"`, func() {
		New(nil, nil, WithRequestIDHeader("X Request"))
	})
	assert.NotPanics(t, func() { New(nil, nil, WithRequestIDHeader("")) })
}

func TestRequestHeaderCopy(t *testing.T) {
	t.Parallel()
	many := []string{"a", "b", "c", "d", "e"}
	tests := []struct {
		name string
		h    http.Header
	}{
		{"nil", nil},
		{"one value each", http.Header{"Authorization": {"Bearer x"}, "Accept": {"application/json"}}},
		{"more values than headers", http.Header{"Accept": many, "Cookie": {"a=1", "b=2"}, "X-A": {"1"}}},
		{"every header multi-valued", http.Header{"A": many, "B": many, "C": many}},
		{"nil and empty values", http.Header{"A": nil, "B": {}, "C": {"1"}}},
		{"the key already set", http.Header{"X-Request-Id": {"old", "older"}, "A": {"1"}}},
		{"the key under other spellings", http.Header{"X-Request-ID": {"old"}, "x-request-id": {"older"}, "A": {"1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := tt.h.Clone()
			want := http.Header{}
			for k, v := range tt.h {
				if !strings.EqualFold(k, "X-Request-Id") {
					want[k] = slices.Clone(v)
				}
			}
			want["X-Request-Id"] = []string{"id"}

			tr := New(nil, nil, WithIDGenerator(func() string { return "id" }))
			id, got := tr.requestHeader(&http.Request{Header: tt.h})
			if vv, _ := scanHeader(tt.h, "X-Request-Id"); len(vv) > 0 {
				want["X-Request-Id"] = vv[:1] // the caller's ID, alone, under the canonical key
			}
			assert.Equal(t, want["X-Request-Id"][0], id)
			assert.Equal(t, want, got)
			for _, vv := range got {
				for i := range vv {
					vv[i] = "changed"
				}
			}
			assert.Equal(t, before, tt.h, "the original shares no array with the copy")
		})
	}
}

func TestClientRedirects(t *testing.T) {
	t.Parallel()
	target := newScripted(t, reply(404, `{"error":"Resource not found"}`))
	origin := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		// Another host name for the same server: the client treats it as
		// another host.
		http.Redirect(w, r, strings.Replace(target.URL, "127.0.0.1", "localhost", 1)+"/api/v1/public/recordings/9", http.StatusFound)
	})
	log, logs := observed()
	client := WrapClient(origin.Client(), log)
	req, _ := http.NewRequest("GET", origin.URL+"/api/v1/public/recordings/9", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := client.Do(req)
	require.NoError(t, err)
	assert.Equal(t, `{"error":"Resource not found"}`, readAll(t, resp))

	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	assert.Equal(t, target.seenIDs()[0], apiErr.RequestID, "the error is the last hop's")
	assert.Equal(t, []string{""}, target.seen("Authorization"), "the client dropped the key on the way to another host")
	require.Equal(t, 1, logs.Len(), "a redirect is no failure")
	assert.Equal(t, origin.seenIDs()[0], apiErr.RequestID, "every hop of one call carries its ID")
}
