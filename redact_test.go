package idctrace

// The redaction suite: secrets a request carries or a server echoes, in
// every output the Transport makes. The rules themselves are tested in
// internal/redact; here they meet real requests over loopback.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey is a well-formed IdentityCall key; tests check that only its last
// four characters ever reach an output.
const testKey = "idc_Q7mK2xV9pL4sT8wB3nR6yH1cF5jD0gZa"

// keyRE finds key literals the way the tests define them, independently of
// the library's own key finder: "idc_" in any case, possibly escaped once or
// more, followed by a key character.
var keyRE = regexp.MustCompile(`(?i)idc(_|%(25)*5f|\\+u005f)[a-z0-9_-]`)

// assertNoKey fails when s holds a key literal other than a masked one, as
// printed or decoded (decodeAll).
func assertNoKey(t *testing.T, s string) {
	t.Helper()
	assert.NotRegexp(t, keyRE, s)
	assert.NotRegexp(t, keyRE, decodeAll(s))
}

// assertNoRun fails when any run of n characters of secret is in out.
func assertNoRun(t *testing.T, out, secret string, n int) {
	t.Helper()
	for i := 0; i+n <= len(secret); i++ {
		if strings.Contains(out, secret[i:i+n]) {
			t.Errorf("%q of secret %q is in %q", secret[i:i+n], secret, out)
			return
		}
	}
}

// everyOutput makes one failed call through a Transport with a recorder and
// a JSON logger, and returns what each output holds: the log line, the
// error, its ticket and the bundle.
func everyOutput(t *testing.T, req *http.Request, base http.RoundTripper, opts ...Option) map[string]string {
	t.Helper()
	var buf syncBuffer
	recorder := NewRecorder(0)
	tr := New(base, jsonLogger(&buf), append(opts, WithRecorder(recorder))...)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	var bundle bytes.Buffer
	require.NoError(t, recorder.WriteBundle(&bundle, ""))
	return map[string]string{
		"log":    buf.String(),
		"error":  apiErr.Error(),
		"ticket": apiErr.SupportTicket(""),
		"bundle": bundle.String(),
	}
}

// echo answers 401 with the request's own credentials and URL in its body,
// as a careless server might.
func echo(status int) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprintf(w, "denied: auth=%s key=%s url=%s",
			headerAnySpelling(r.Header, "Authorization"), headerAnySpelling(r.Header, "X-Api-Key"), r.URL)
	}
}

func headerAnySpelling(h http.Header, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return strings.Join(v, ",")
		}
	}
	return ""
}

func TestRedactionOfEveryOutput(t *testing.T) {
	t.Parallel()
	const oauth = "ya29.opaque-oauth-token-3f9a8b7c"
	tests := []struct {
		name    string
		url     func(srv string) string // "" path means srv as is
		header  http.Header
		opaque  string
		maxBody int64
		step    step
		secrets []string // none of their 5-character runs may show
		want    string   // each output, where it holds a message, holds this
	}{
		{name: "key cut by the cap shows none of its characters",
			url:  func(srv string) string { return srv + "/x" },
			step: reply(401, "denied for "+testKey), maxBody: int64(len("denied for ") + 20),
			secrets: []string{testKey[4:]}},
		{name: "own bearer token cut by the cap",
			url:    func(srv string) string { return srv + "/x" },
			header: http.Header{"Authorization": {"Bearer " + oauth}},
			step:   echo(401), maxBody: int64(len("denied: auth=Bearer ") + 12),
			secrets: []string{oauth}},
		{name: "key in the path, one character escaped",
			url:     func(srv string) string { return srv + "/keys/%69dc_" + testKey[4:] },
			step:    reply(404, `{"error":"Resource not found"}`),
			secrets: []string{testKey[4 : len(testKey)-4]}},
		{name: "key in the path, every character escaped",
			url:     func(srv string) string { return srv + "/keys/" + escapeAll(testKey) },
			step:    reply(404, `{"error":"Resource not found"}`),
			secrets: []string{testKey[4 : len(testKey)-4]}},
		{name: "credential under a lower-case header key, echoed",
			url:     func(srv string) string { return srv + "/x" },
			header:  http.Header{"authorization": {"Bearer " + oauth}, "x-api-key": {"k3y-" + oauth}},
			step:    echo(401),
			secrets: []string{oauth}},
		{name: "opaque URL with user info",
			url:     func(srv string) string { return srv },
			opaque:  "//alice:s3cret-pass@HOST/x",
			step:    reply(404, `{"error":"Resource not found"}`),
			secrets: []string{"s3cret-pass", "alice:"}},
		{name: "URL password with a control character, echoed",
			url: func(srv string) string { return strings.Replace(srv, "://", "://bob:pw%09secret!@", 1) + "/x" },
			step: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(401)
				io.WriteString(w, "bad password pw\tsecret!")
			},
			secrets: []string{"pw\tsecret!", "pw secret!"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, tt.step)
			req, err := http.NewRequest("GET", tt.url(srv.URL), nil)
			require.NoError(t, err)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			if tt.opaque != "" {
				req.URL.Opaque = strings.Replace(tt.opaque, "HOST", req.URL.Host, 1)
			}
			var opts []Option
			if tt.maxBody > 0 {
				opts = append(opts, WithMaxBodyBytes(tt.maxBody))
			}
			for where, out := range everyOutput(t, req, srv.Client().Transport, opts...) {
				assertNoKey(t, out)
				for _, secret := range tt.secrets {
					assertNoRun(t, out, secret, 5)
				}
				_ = where
			}
		})
	}
}

// escapeAll percent-escapes every byte of s.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

func TestRedactionOfAKeyCutByTheCap(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(401, "denied for "+testKey+" and more"))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	for cut := len("denied for idc_") + 1; cut < len("denied for ")+len(testKey); cut++ {
		out := everyOutput(t, req, srv.Client().Transport, WithMaxBodyBytes(int64(cut)))
		assert.Contains(t, out["log"], `"body":"denied for idc_****"`, "cut at %d", cut)
		assertNoRun(t, out["log"], testKey[4:], 4)
	}
	out := everyOutput(t, req, srv.Client().Transport)
	assert.Contains(t, out["log"], "denied for idc_****"+testKey[len(testKey)-4:]+" and more", "a whole key keeps its last four")
}

// TestRedactionOfEchoedSecrets sends every kind of secret a caller might
// put in a request to a server that echoes them back in each documented
// body shape, and checks every output.
func TestRedactionOfEchoedSecrets(t *testing.T) {
	t.Parallel()
	const (
		password = "hunter2-pass"
		oauth    = "ya29.opaque-oauth-token"
		token    = "tok-9d8c7b6a"
	)
	echoed := func(r *http.Request) string {
		return fmt.Sprintf("auth=%s url=%s key=%s", r.Header.Get("Authorization"), r.URL, r.Header.Get("X-Api-Key"))
	}
	tests := []struct {
		name   string
		status int
		shape  func(string) string
		auth   string
	}{
		{"json error", 401, func(s string) string { return fmt.Sprintf(`{"error":%q}`, s) }, "Bearer " + testKey},
		{"json errors", 422, func(s string) string { return fmt.Sprintf(`{"errors":[%q]}`, s) }, "Bearer " + oauth},
		{"html page", 502, func(s string) string { return "<pre>" + s + "</pre>" }, "Bearer " + testKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.shape(echoed(r)))
			})
			u := strings.Replace(srv.URL, "http://", "http://bob:"+password+"@", 1) +
				"/api/v1/public/recordings/" + testKey + "?page=2&api_key=" + testKey + "&token=" + token + "&q=x" + testKey
			req, err := http.NewRequest("GET", u, nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", tt.auth)
			req.Header.Set("X-Api-Key", testKey)
			out := everyOutput(t, req, srv.Client().Transport)
			assert.Contains(t, out["log"], "page=2", "the page stays")
			assert.Contains(t, out["log"], "api_key=REDACTED")
			assert.Contains(t, out["log"], "idc_****"+testKey[len(testKey)-4:], "a whole key keeps its last four characters")
			for _, o := range out {
				assertNoKey(t, o)
				for _, secret := range []string{testKey[4 : len(testKey)-4], password, oauth, token} {
					assert.NotContains(t, o, secret)
				}
			}
		})
	}
}

func TestRedactionOfTheQuery(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(404, `{"error":"Resource not found"}`))
	u := srv.URL + "/x?page=2&api_key=" + url.QueryEscape(testKey) + "&q=" + url.QueryEscape("x"+testKey)
	req, _ := http.NewRequest("GET", u, nil)
	out := everyOutput(t, req, srv.Client().Transport)
	assert.Contains(t, out["log"], "page=2")
	assert.Contains(t, out["log"], "api_key=REDACTED")
	assert.Contains(t, out["log"], "q=REDACTED")
}

// failedOutputs makes one call through a Transport with a recorder, a JSON
// logger and an observer, and returns what each output holds, whether the
// call failed with a status (read through CheckResponse) or with a
// transport error.
func failedOutputs(t *testing.T, req *http.Request, base http.RoundTripper, opts ...Option) map[string]string {
	t.Helper()
	var buf syncBuffer
	var observed []string
	recorder := NewRecorder(0)
	tr := New(base, jsonLogger(&buf), append(opts, WithRecorder(recorder), WithObserver(func(a Attempt) {
		observed = append(observed, a.URL)
		if a.Err != nil {
			observed = append(observed, a.Err.Error())
		}
	}))...)
	out := map[string]string{}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		var te *TransportError
		require.ErrorAs(t, err, &te)
		out["error"], out["url"], out["ticket"] = te.Error(), te.URL, te.SupportTicket("")
	} else {
		readAll(t, resp)
		var apiErr *APIError
		require.ErrorAs(t, CheckResponse(resp), &apiErr)
		out["error"], out["url"], out["ticket"] = apiErr.Error(), apiErr.URL, apiErr.SupportTicket("")
		out["fields"] = strings.Join([]string{apiErr.Message, strings.Join(apiErr.Errors, " "), apiErr.Body, apiErr.Hint}, " ")
	}
	var bundle bytes.Buffer
	require.NoError(t, recorder.WriteBundle(&bundle, ""))
	out["log"], out["bundle"], out["observer"] = buf.String(), bundle.String(), strings.Join(observed, " ")
	return out
}

// refuse fails every request with a transport error whose text holds the
// request's URL, as net/http's errors do.
var refuse = roundTripFunc(func(r *http.Request) (*http.Response, error) {
	return nil, &url.Error{Op: "Get", URL: r.URL.String(), Err: errors.New("connection refused")}
})

// TestRedactionOfASemicolonQuery: servers that split a query on ';' as on
// '&' (Rack, PHP with arg_separator.input) read a secret behind a ';'.
func TestRedactionOfASemicolonQuery(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3tQueryToken"
	for _, transportError := range []bool{false, true} {
		t.Run(fmt.Sprint("transport error ", transportError), func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, echo(404))
			base := srv.Client().Transport
			if transportError {
				base = refuse
			}
			req, err := http.NewRequest("GET", srv.URL+"/x?page=1;api_key="+secret+"&q=1;token="+secret, nil)
			require.NoError(t, err)
			out := failedOutputs(t, req, base)
			assert.Equal(t, srv.URL+"/x?page=1;api_key=REDACTED&q=REDACTED;token=REDACTED", out["url"])
			for where, o := range out {
				assert.NotContains(t, o, secret[:5], "in the %s", where)
			}
		})
	}
}

// TestRedactionOfTheRequestsOwnCredentials: each credential a request may
// carry, echoed by the server in a body or by the base in its error, shows
// in no output.
func TestRedactionOfTheRequestsOwnCredentials(t *testing.T) {
	t.Parallel()
	const token = "tok3nQWERTYzxcvb"
	tests := []struct {
		name   string
		user   string // the URL's user info
		header http.Header
		echo   string // what the server and the base echo
	}{
		{name: "basic user name", header: http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(token+":"))}}, echo: token},
		{name: "URL user name", user: token + "@", echo: token},
		{name: "bearer and a tab", header: http.Header{"Authorization": {"Bearer\t" + token}}, echo: token},
		{name: "X-IdentityCall-Key", header: http.Header{"X-Identitycall-Key": {token}}, echo: token},
		{name: "key body", header: http.Header{"Authorization": {"Bearer " + testKey}}, echo: "key " + testKey[4:] + " is revoked"},
	}
	for _, tt := range tests {
		for _, transportError := range []bool{false, true} {
			t.Run(fmt.Sprint(tt.name, ", transport error ", transportError), func(t *testing.T) {
				t.Parallel()
				srv := newScripted(t, reply(401, tt.echo))
				base := srv.Client().Transport
				if transportError {
					base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
						return nil, &url.Error{Op: "Get", URL: r.URL.String(), Err: errors.New("proxy says " + tt.echo)}
					})
				}
				req, err := http.NewRequest("GET", strings.Replace(srv.URL, "//", "//"+tt.user, 1)+"/x", nil)
				require.NoError(t, err)
				for k, v := range tt.header {
					req.Header[k] = v
				}
				for _, out := range failedOutputs(t, req, base) {
					assertNoRun(t, out, token, 5)
					assertNoRun(t, out, testKey[4:], 5)
				}
			})
		}
	}
}

// TestRedactionOfEscapedKeys echoes a key in every spelling the README
// lists, in every shape of body and in a transport error's text.
func TestRedactionOfEscapedKeys(t *testing.T) {
	t.Parallel()
	shapes := map[string]func(string) string{
		"text":               func(k string) string { return "denied for " + k + " today" },
		"json error":         func(k string) string { return `{"error":"denied for ` + k + `"}` },
		"json cut":           func(k string) string { return `{"error":"denied for ` + k },
		"json without error": func(k string) string { return `{"message":"denied for ` + k + `"}` },
		"html":               func(k string) string { return "<p>denied for " + k + "</p>" },
		"transport error":    func(k string) string { return "proxy: denied for " + k },
	}
	for form, spelled := range escapedKeys(testKey) {
		for shape, wrap := range shapes {
			t.Run(form+", "+shape, func(t *testing.T) {
				t.Parallel()
				srv := newScripted(t, reply(401, wrap(spelled)))
				base := srv.Client().Transport
				if shape == "transport error" {
					base = roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New(wrap(spelled)) })
				}
				req, err := http.NewRequest("GET", srv.URL+"/x", nil)
				require.NoError(t, err)
				out := failedOutputs(t, req, base)
				assert.Contains(t, out["log"], "idc_****"+testKey[len(testKey)-4:], "masked, with the last four")
				for _, o := range out {
					assertNoRun(t, decodeAll(o), testKey[4:], 5)
				}
			})
		}
	}
}

// TestRedactionOfAKeyInTheMethod: a caller's bug that puts a key in the
// request's method (net/http sends any token) reaches no output with it:
// not the entry, the summary, the error, the ticket or the bundle.
func TestRedactionOfAKeyInTheMethod(t *testing.T) {
	t.Parallel()
	base := stubRT{status: 405, body: stringBody(`{"error":"Method not allowed"}`)}
	req, err := http.NewRequest(testKey, "https://api.identitycall.ai/api/v1/public/recordings", nil)
	require.NoError(t, err)
	out := everyOutput(t, req, base)
	var buf syncBuffer
	storm := New(base, jsonLogger(&buf), WithLogLimit(1, time.Hour))
	for range 3 {
		resp, err := storm.RoundTrip(req)
		require.NoError(t, err)
		readAll(t, resp)
	}
	storm.Flush()
	out["storm"] = buf.String()
	require.Contains(t, out["storm"], schema.Summarized)
	for where, text := range out {
		assert.NotContains(t, text, testKey[4:len(testKey)-4], where)
		if where != "error" { // an APIError's text has no method
			assert.Contains(t, text, "idc_****"+testKey[len(testKey)-4:], where)
		}
	}
}

// TestRedactionOfCredentialsSetBelow: the request's own credentials are
// replaced wherever a server echoes them, whether the caller set them or a
// RoundTripper below the Transport did (a client that already carries its
// key, which WrapClient wraps): the request as sent, resp.Request, is
// redacted too.
func TestRedactionOfCredentialsSetBelow(t *testing.T) {
	t.Parallel()
	const secret = "dXNlcjpzM2NyZXQtcGFzc3dvcmQ=" // base64 of user:s3cret-password
	srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		io.WriteString(w, "bad credentials: "+r.Header.Get("Authorization")) // a server that echoes
	})
	base := srv.Client().Transport
	withCredentials := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		out := req.Clone(req.Context())
		out.Header.Set("Authorization", "Basic "+secret)
		return base.RoundTrip(out)
	})
	for _, below := range []bool{false, true} {
		t.Run(fmt.Sprintf("set below %v", below), func(t *testing.T) {
			rt := base
			req := mustRequest(t, "GET", srv.URL+"/api/v1/public/recordings")
			if below {
				rt = withCredentials
			} else {
				req.Header.Set("Authorization", "Basic "+secret)
			}
			log, logs := observed()
			resp, err := New(rt, log).RoundTrip(req)
			require.NoError(t, err)
			readAll(t, resp)
			require.Equal(t, 1, logs.Len())
			assert.NotContains(t, logs.All()[0].ContextMap()[schema.Body], secret, "the entry")
			var apiErr *APIError
			require.ErrorAs(t, CheckResponse(resp), &apiErr)
			assert.NotContains(t, apiErr.Body, secret, "the APIError")
		})
	}
}
