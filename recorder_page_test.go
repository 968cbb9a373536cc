package idctrace

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/ticket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
)

// apiPath is a documented endpoint's path as the API serves it.
func apiPath(path string) string { return "/api/v1/public" + path }

// failedCall is a call the page test fixture makes, and what its error
// (an APIError or a TransportError) says.
type failedCall struct {
	method, path, id string
	attempts         int
	ticket           func(account string) string
}

// failThrough makes each call through a Transport that retries twice and
// records into rec, over a loopback server that answers with h, and returns
// the calls with their errors. A call to "refused" goes to a closed port.
func failThrough(t *testing.T, rec *Recorder, h http.Handler, calls ...failedCall) []failedCall {
	t.Helper()
	srv := newServer(t, "HTTP/1.1", h)
	closed := "http://" + refusedAddr(t)
	tr, _, _ := retrying(srv.Client().Transport, RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond, MaxDelay: time.Second})
	tr.recorder = rec
	for i, c := range calls {
		base := srv.URL
		if c.path == "refused" {
			base, c.path = closed, apiPath("/projects")
		}
		req, err := http.NewRequest(c.method, base+c.path, nil)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			readAll(t, resp)
			err = CheckResponse(resp)
		}
		var apiErr *APIError
		var trErr *TransportError
		switch {
		case errors.As(err, &apiErr):
			calls[i].id, calls[i].attempts, calls[i].ticket = apiErr.RequestID, apiErr.Attempt, apiErr.SupportTicket
		case errors.As(err, &trErr):
			calls[i].id, calls[i].attempts, calls[i].ticket = trErr.RequestID, trErr.Attempt, trErr.SupportTicket
		default:
			t.Fatalf("%s %s: want an APIError or a TransportError, got %v", c.method, c.path, err)
		}
	}
	return calls
}

// standardFailures are a 404, a 503 retried twice, a refused connection
// retried twice and a 422 with a list of errors.
func standardFailures(t *testing.T, rec *Recorder) []failedCall {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPath("/recordings/rec_missing"), reply(404, `{"error":"Resource not found"}`))
	mux.HandleFunc("GET "+apiPath("/recordings"), reply(503, `{"error":"Service temporarily unavailable"}`))
	mux.HandleFunc("POST "+apiPath("/recordings"), reply(422, `{"errors":["Language is not supported","File is too large"]}`))
	return failThrough(t, rec, mux,
		failedCall{method: "GET", path: apiPath("/recordings/rec_missing")},
		failedCall{method: "GET", path: apiPath("/recordings")},
		failedCall{method: "GET", path: "refused"},
		failedCall{method: "POST", path: apiPath("/recordings")},
	)
}

// get asks h for target and returns the response.
func get(h http.Handler, method, target string) *http.Response {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w.Result()
}

var (
	kindRowRE   = regexp.MustCompile(`<tr class="kind"><td class="mono ep">(.*?)</td><td><span class="st \w+">(.*?)</span></td><td class="num">(\d+)</td>`)
	requestIDRE = regexp.MustCompile(`<code class="rid">(.*?)</code>`)
	ticketRE    = regexp.MustCompile(`(?s)<pre class="ticket" id="ticket-\d+">(.*?)</pre>`)
)

// shown returns the text of each match of re in page, its groups joined
// by " | ": the kinds table is "endpoint | outcome | count" lines.
func shown(re *regexp.Regexp, page string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		out = append(out, html.UnescapeString(strings.Join(m[1:], " | ")))
	}
	return out
}

func kindRows(page string) []string     { return shown(kindRowRE, page) }
func shownIDs(page string) []string     { return shown(requestIDRE, page) }
func shownTickets(page string) []string { return shown(ticketRE, page) }

func TestRecorderPage(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(0)
	calls := standardFailures(t, rec)
	notFound, unavailable, refused, invalid := calls[0], calls[1], calls[2], calls[3]

	resp := get(rec, "GET", "/debug/identitycall")
	page := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	for name, want := range map[string]string{"Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff",
		"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		assert.Equal(t, want, resp.Header.Get(name), name)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	assert.Regexp(t, `^default-src 'none'; style-src 'nonce-[A-Z2-7]{26}'; script-src 'nonce-[A-Z2-7]{26}'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'$`, csp)
	nonce := regexp.MustCompile(`nonce-([A-Z2-7]+)`).FindStringSubmatch(csp)[1]
	assert.Equal(t, 2, strings.Count(page, `nonce="`+nonce+`"`), "the page's own style and script carry the nonce")
	assert.NotRegexp(t, `(src|href|action)="(\w+:)?//`, page, "no link or load elsewhere")

	assert.Equal(t, []string{
		"GET /projects | connection_refused | 3",
		"GET /recordings | 503 Service Unavailable | 3",
		"POST /recordings | 422 Unprocessable Entity | 1",
		"GET /recordings/{id} | 404 Not Found | 1",
	}, kindRows(page), "the most failures first, then the latest")
	assert.Contains(t, page, "8 failed attempts held (the last 50 are kept) · 8 counted since start")

	r, u, f, n := invalid.id, refused.id, unavailable.id, notFound.id
	assert.Equal(t, []string{r, u, u, u, f, f, f, n}, shownIDs(page), "newest first, every attempt")

	account := "you@example.com (fill in)"
	tickets := shownTickets(page)
	require.Len(t, tickets, 8)
	assert.Equal(t, invalid.ticket(account), tickets[0], "the ticket the error gives")
	assert.Equal(t, refused.ticket(account), tickets[1])
	assert.Equal(t, unavailable.ticket(account), tickets[4])
	assert.Equal(t, notFound.ticket(account), tickets[7])
	assert.Contains(t, tickets[4], "Attempts:\n  1. ", "a retried call's ticket lists its attempts")
	assert.Contains(t, page, "<th>errors</th><td>Language is not supported\nFile is too large</td>", "the log entry's fields")
	assert.Contains(t, page, `<span class="msg" title="Language is not supported; File is too large">`)
	assert.Contains(t, page, `<span class="st bad">connection_refused</span>`)
}

func TestRecorderPageRequestID(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(0)
	calls := standardFailures(t, rec)
	unavailable := calls[1].id

	tests := []struct {
		name, query, want string
		status            int
		ids               []string
	}{
		{name: "held, every attempt", query: "?request_id=" + unavailable, status: 200,
			ids: []string{unavailable, unavailable, unavailable}, want: "Request ID <code>" + unavailable + "</code> only."},
		{name: "not held", query: "?request_id=0190c1d2-0000-7000-8000-000000000000", status: 404,
			want: "No failure with request ID <code>0190c1d2-0000-7000-8000-000000000000</code> is held: the Recorder keeps the last 50."},
		{name: "hostile, not held", query: `?request_id=%3Cscript%3Ealert(1)%3C/script%3E`, status: 404,
			want: "No failure with request ID <code>&lt;script&gt;alert(1)&lt;/script&gt;</code> is held"},
		{name: "a key pasted in the wrong box, redacted", query: "?request_id=" + testKey, status: 404,
			want: "No failure with request ID <code>idc_****" + testKey[len(testKey)-4:] + "</code> is held"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := get(rec, "GET", "/debug/identitycall"+tt.query)
			page := readAll(t, resp)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.ids, shownIDs(page))
			assert.Contains(t, page, tt.want)
			assert.Equal(t, len(tt.ids), strings.Count(page, `<details class="failure" open>`), "one failure's details are open")
			assert.Len(t, kindRows(page), 4, "the kinds stay on top")
			assertNoKey(t, page)
		})
	}
}

func TestRecorderPageEmail(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(0)
	standardFailures(t, rec)
	const email = `"><script>alert(1)</script>@example.com`

	resp := get(rec, "GET", "/debug/identitycall?email=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E%40example.com")
	page := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, strings.Count(page, "<script"), "the email is escaped, not markup")
	assert.Contains(t, page, `value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@example.com"`)
	for _, ticket := range shownTickets(page) {
		assert.True(t, strings.HasPrefix(ticket, "IdentityCall support request\nAccount:     "+email+"\n"), ticket)
	}
	assert.Contains(t, page, `href="?email=%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E%40example.com&amp;format=jsonl"`, "the bundle link keeps the account")

	// Without one, the tickets hold a placeholder, and the links no email.
	page = readAll(t, get(rec, "GET", "/debug/identitycall"))
	assert.Contains(t, page, "Account:     "+accountPlaceholder)
	assert.NotContains(t, page, "email=", "a link carries the account asked for, never the placeholder")

	page = readAll(t, get(rec, "GET", "/debug/identitycall?email="+testKey+"%40example.com"))
	assertNoKey(t, page)
	assert.Contains(t, page, "Account:     idc_****"+testKey[len(testKey)-4:]+"@example.com")
}

func TestRecorderPageBundle(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(0)
	rec.now = func() time.Time { return time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC) }
	standardFailures(t, rec)

	for _, email := range []string{"", "ops@example.com"} {
		resp := get(rec, "GET", "/debug/identitycall?format=jsonl&email="+email)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "application/jsonl; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Equal(t, `attachment; filename="identitycall-failures-20260314T092653Z.jsonl"`, resp.Header.Get("Content-Disposition"))
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		var want bytes.Buffer
		require.NoError(t, rec.WriteBundle(&want, email))
		assert.Equal(t, want.String(), readAll(t, resp), "WriteBundle's bytes")
	}
}

func TestRecorderPageMethods(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(0)
	rec.now = func() time.Time { return time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC) }
	rec.add(&record{requestID: "r1", method: "GET", status: 500, started: rec.now()}, zapcore.ErrorLevel)

	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		resp := get(rec, method, "/debug/identitycall")
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, method)
		assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	}

	getResp := get(rec, "GET", "/debug/identitycall")
	headResp := get(rec, "HEAD", "/debug/identitycall")
	assert.Equal(t, http.StatusOK, headResp.StatusCode)
	assert.Empty(t, readAll(t, headResp))
	assert.Equal(t, getResp.Header.Get("Content-Length"), headResp.Header.Get("Content-Length"))
	assert.Equal(t, getResp.Header.Get("Content-Length"), strconv.Itoa(len(readAll(t, getResp))))

	resp := get(rec, "GET", "/debug/identitycall?format=json")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "idctrace: unknown format \"json\": the debug page has only format=jsonl\n", readAll(t, resp))
}

func TestRecorderPageSparkline(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	var clock time.Time
	rec := NewRecorder(5)
	rec.now = func() time.Time { return clock }
	empty := readAll(t, get(rec, "GET", "/"))
	assert.Contains(t, empty, "0 failed attempts held (the last 5 are kept) · 0 counted since start")
	assert.Contains(t, empty, "No failures counted.")
	assert.Contains(t, empty, "No failures held.")
	fail := func(at time.Time, n int) {
		clock = at
		for range n {
			rec.add(&record{method: "GET", route: "/recordings", status: 429, started: at}, zapcore.WarnLevel)
		}
	}
	fail(now.Add(-2*time.Hour), 3) // out of the last hour
	fail(now.Add(-59*time.Minute), 1)
	fail(now.Add(-time.Minute), 4)
	fail(now, 2)

	page := readAll(t, get(rec, "GET", "/"))
	assert.Equal(t, []string{"GET /recordings | 429 Too Many Requests | 10"}, kindRows(page))
	assert.Contains(t, page, `<td class="mono">07:26:53</td><td class="mono">09:26:53</td>`, "first and last")
	assert.Equal(t, []string{
		`<rect class="limit" x="0" y="15" width="2" height="5"></rect>`,
		`<rect class="limit" x="174" y="0" width="2" height="20"></rect>`,
		`<rect class="limit" x="177" y="10" width="2" height="10"></rect>`,
	}, regexp.MustCompile(`<rect [^>]*></rect>`).FindAllString(page, -1), "one bar a minute, scaled to the peak")
	assert.Contains(t, page, "peak 4/min")
}

func TestRecorderPageManyKinds(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(0)
	for i := range maxKinds + 2 {
		rec.add(&record{method: "GET", route: fmt.Sprint("/r", i), status: 500}, zapcore.ErrorLevel)
	}
	rows := kindRows(readAll(t, get(rec, "GET", "/")))
	require.Len(t, rows, maxKinds+1)
	assert.Equal(t, "other kinds | several | 2", rows[0], "the kinds past the bound, counted together")
}

// hostileFailures are failures whose bodies try to break out of the page,
// and hold a key in each escaping the redaction covers.
func hostileFailures(t *testing.T, rec *Recorder) []failedCall {
	t.Helper()
	key := testKey
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPath("/recordings/rec_1"), reply(502, `</pre><script>alert(1)</script><img src=x onerror=alert(2)>`))
	mux.HandleFunc("GET "+apiPath("/recordings/rec_2"), reply(400,
		`{"error":"\"><script>alert(3)</script> see javascript:alert(4)","errors":["' onmouseover='alert(5)","ctl\u0000\u0007\u001b[31m red\r\nnext"]}`))
	mux.HandleFunc("GET "+apiPath("/recordings/rec_3"), reply(401,
		"keys: "+key+" "+strings.Replace(key, "_", "%5F", 1)+" "+strings.Replace(key, "_", `\u005f`, 1)+" "+strings.Replace(key, "_", "%255f", 1)))
	mux.HandleFunc("GET "+apiPath("/recordings/rec_4"), reply(403, `{"error":"key idc\u005f`+key[4:]+` is not allowed"}`))
	mux.HandleFunc("GET "+apiPath("/recordings"), reply(404, `{"error":"<a href=\"javascript:alert(6)\">x</a>"}`))
	return failThrough(t, rec, mux,
		failedCall{method: "GET", path: apiPath("/recordings/rec_1")},
		failedCall{method: "GET", path: apiPath("/recordings/rec_2")},
		failedCall{method: "GET", path: apiPath("/recordings/rec_3")},
		failedCall{method: "GET", path: apiPath("/recordings/rec_4")},
		failedCall{method: "GET", path: apiPath("/recordings?api_key=") + key},
	)
}

// TestRecorderPageHostile renders failures whose bodies try to break out
// of the page, and a key in each escaping the redaction covers.
func TestRecorderPageHostile(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(0)
	hostileFailures(t, rec)

	for _, query := range []string{"", "?request_id=x", "?format=jsonl"} {
		page := readAll(t, get(rec, "GET", "/"+query))
		assertNoKey(t, page)
		assertNoRun(t, page, testKey[4:len(testKey)-4], 5)
		if query == "?format=jsonl" {
			continue
		}
		assert.Equal(t, 1, strings.Count(strings.ToLower(page), "<script"), "only the page's own script")
		assert.NotContains(t, page, "<img")
		assert.NotRegexp(t, `(?i)(href|src)="\s*javascript:`, page)
		assert.NotRegexp(t, `[\x00-\x08\x0b-\x1f\x7f]`, page, "no control characters")
		if query == "" {
			assert.Contains(t, page, "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;")
			assert.Contains(t, page, `title="&#34;&gt;&lt;script&gt;alert(3)&lt;/script&gt; see javascript:alert(4)"`)
			assert.Contains(t, page, "&#39; onmouseover=&#39;alert(5)")
			assert.Contains(t, page, "idc_****"+testKey[len(testKey)-4:])
		}
	}
}

// FuzzRecorderPage puts any text in every string of a record the page
// shows, and in ?email=: none of it may become markup.
func FuzzRecorderPage(f *testing.F) {
	f.Add(`</pre><script>alert(1)</script>`)
	f.Add(`" onmouseover="alert(1)`)
	f.Add(`javascript:alert(1)`)
	f.Add("</title><!-- \x00 ]]> <svg/onload=alert(1)>")
	page := func(t *testing.T, s string) string {
		rec := NewRecorder(2)
		rec.add(&record{requestID: s, method: s, url: s, route: s, status: 500, message: s, errs: []string{s, s},
			body: s, hint: s, history: []ticket.Attempt{{Outcome: s}}}, zapcore.ErrorLevel)
		rec.add(&record{requestID: s, method: s, url: s, route: s, errType: s}, zapcore.ErrorLevel) // a transport error: a cause
		return readAll(t, get(rec, "GET", "/?email="+url.QueryEscape(s)))
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return // empty fields are left out: another page
		}
		got, want := page(t, s), page(t, "x")
		assert.Equal(t, strings.Count(want, "<"), strings.Count(got, "<"), "no tag from the data")
		assert.Equal(t, 1, strings.Count(strings.ToLower(got), "<script"))
	})
}
