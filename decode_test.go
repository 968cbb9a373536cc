package idctrace

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	tests := []struct {
		name       string
		body       string
		message    string
		errs       []string
		retryAfter time.Duration
		hasRetry   bool
		logBody    string
	}{
		{name: "error", body: `{"error":"Resource not found"}`, message: "Resource not found"},
		{name: "errors", body: `{"errors":["a","b"]}`, errs: []string{"a", "b"}},
		{name: "both", body: `{"error":"x","errors":["a"]}`, message: "x", errs: []string{"a"}},
		{name: "retry_after", body: `{"error":"Rate limit exceeded","retry_after":60}`, message: "Rate limit exceeded", retryAfter: time.Minute, hasRetry: true},
		{name: "retry_after string", body: `{"error":"r","retry_after":"30"}`, message: "r", retryAfter: 30 * time.Second, hasRetry: true},
		{name: "retry_after fraction", body: `{"error":"r","retry_after":1.5}`, message: "r", retryAfter: 1500 * time.Millisecond, hasRetry: true},
		{name: "retry_after negative", body: `{"error":"r","retry_after":-5}`, message: "r", hasRetry: true},
		{name: "retry_after huge", body: `{"error":"r","retry_after":99999999999}`, message: "r", retryAfter: maxWait, hasRetry: true},
		{name: "retry_after 1e400", body: `{"error":"r","retry_after":1e400}`, message: "r", retryAfter: maxWait, hasRetry: true},
		{name: "retry_after bad", body: `{"error":"r","retry_after":"soon"}`, message: "r"},
		{name: "retry_after null", body: `{"error":"r","retry_after":null}`, message: "r"},
		{name: "whitespace", body: " \n{\"error\":\"x\"}\n", message: "x"},
		{name: "empty", body: ""},
		{name: "not json", body: "upstream connect error", logBody: "upstream connect error"},
		{name: "truncated", body: `{"error":"Resource no`, logBody: `{"error":"Resource no`},
		{name: "array", body: `["a"]`, logBody: `["a"]`},
		{name: "other object", body: `{"message":"hi"}`, logBody: `{"message":"hi"}`},
		{name: "error wrong type", body: `{"error":{"code":5}}`, logBody: `{"error":{"code":5}}`},
		{name: "errors wrong type", body: `{"error":"x","errors":"y"}`, message: "x"},
		{name: "errors mixed types", body: `{"errors":["a",1,"b"]}`, errs: []string{"a", "", "b"}},
		{name: "control chars", body: `{"error":"a\u0000b\nc"}`, message: "a\uFFFDb c"},
		{name: "invalid utf8", body: "{\"error\":\"a\xffb\"}", message: "a\uFFFDb"},
		{name: "key in message", body: `{"error":"key ` + testKey + ` revoked"}`, message: "key idc_****" + testKey[len(testKey)-4:] + " revoked"},
		{name: "key in body", body: "denied " + testKey, logBody: "denied idc_****" + testKey[len(testKey)-4:]},
		{name: "deeply nested", body: deep, logBody: deep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f record
			f.decode([]byte(tt.body), false)
			assert.Equal(t, tt.message, f.message)
			assert.Equal(t, tt.errs, f.errs)
			assert.Equal(t, tt.retryAfter, f.retryAfter)
			assert.Equal(t, tt.hasRetry, f.hasRetry)
			assert.Equal(t, tt.logBody, f.body)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"  ", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"-5", 0, true},
		{"99999999999", maxWait, true},
		{"999999999999999999999999999", maxWait, true},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Fri, 31 Dec 9999 23:59:59 GMT", maxWait, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		assert.GreaterOrEqual(t, got, time.Duration(0))
	}
}

// FuzzParseRetryAfter feeds arbitrary Retry-After values to the parser the
// retry loop sleeps on: every answer is a usable wait, never negative nor
// past maxWait, and whole seconds below 2^31 read as themselves.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, seed := range []string{
		"", "60", "1.5", "-5", "2147483647", "99999999999", "1e400", "-1e400", "NaN", "+Inf", "-0",
		"0x1p4", " 12 ", "null", "Wed, 25 Nov 2026 12:01:30 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
		"Mon, 01 Jan 0001 00:00:00 GMT", "Wednesday, 25-Nov-26 12:00:10 GMT", "Wed Nov 25 12:00:05 2026",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		assert.GreaterOrEqual(t, d, time.Duration(0), "%q", v)
		assert.LessOrEqual(t, d, maxWait, "%q", v)
		if !ok {
			assert.Zero(t, d, "%q: no value, no wait", v)
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 31); err == nil {
			assert.Equal(t, time.Duration(n)*time.Second, d, "%q", v)
		}
	})
}

func TestRetryAfterBodyBeatsHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		body, header  string
		want, waitFor time.Duration
	}{
		{"body only", `{"retry_after":5}`, "", 5 * time.Second, 5 * time.Second},
		{"header only", `{}`, "7", 7 * time.Second, 7 * time.Second},
		{"body larger", `{"retry_after":9}`, "3", 9 * time.Second, 9 * time.Second},
		{"header larger", `{"retry_after":3}`, "9", 3 * time.Second, 9 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := &http.Response{StatusCode: 429, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tt.body)), ContentLength: -1}
			if tt.header != "" {
				resp.Header.Set("Retry-After", tt.header)
			}
			req, _ := http.NewRequest("GET", "http://h/", nil)
			f := new(record)
			f.init(req, "id", time.Now(), 1, nil)
			f.inspectHeader(resp, time.Now())
			f.decodeBody([]byte(tt.body), false, defaultMaxBody)
			assert.Equal(t, tt.want, f.retryAfter, "APIError.RetryAfter prefers the body")
			assert.Equal(t, tt.waitFor, f.waitHint, "a retry waits for the larger")
		})
	}
}

func gzipped(t testing.TB, p []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	require.NoError(t, err)
	_, err = zw.Write(p)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// FuzzDecode feeds arbitrary bodies to the decoder: it must not panic, must
// leave no unmasked key in anything it keeps, and must only ever report a
// non-negative wait.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"error":"Resource not found"}`,
		`{"errors":["file is required","Transcription not available"]}`,
		`{"error":"Rate limit exceeded","retry_after":60}`,
		`{"error":"x","retry_after":-1e308}`, `{"retry_after":"1e999"}`,
		`{"error":` + `"` + testKey + `"}`, `{"errors":[1,{"a":"idc_abcdefghijkl"}]}`,
		"<html>502</html>", "\xff\xfe\x00", `{"error":"a\u0000b"}`, `[[[[[[[[`, `{"error":"tru`,
		`{"error":"idc\u005fabcdefghijklmnop"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fl record
		fl.decode(body, false)
		assertNoKey(t, fl.message)
		assertNoKey(t, fl.body)
		for _, e := range fl.errs {
			assertNoKey(t, e)
		}
		assert.GreaterOrEqual(t, fl.retryAfter, time.Duration(0))
		assert.LessOrEqual(t, fl.retryAfter, maxWait)
	})
}

// rawServer answers every connection with raw, once, then closes it.
func rawServer(t *testing.T, raw string) string {
	t.Helper()
	ln := listen(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				http.ReadRequest(bufio.NewReader(conn))
				io.WriteString(conn, raw)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String() + "/"
}

func TestFaultMalformedBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, prefix string
	}{
		{"Content-Length larger than the body",
			"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\n{\"error\":\"x\"}", `{"error":"x"}`},
		{"malformed chunked body",
			"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", "hello"},
		{"chunked body cut short",
			"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{\"error\":\"Resource", `{"error":"Resource`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := rawServer(t, tt.raw)
			base := &http.Transport{}
			defer base.CloseIdleConnections()
			log, logs := observed()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)

			resp, err := New(base, log).RoundTrip(req)
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tt.prefix, string(b))
			require.Error(t, err, "an error, not a hang or a clean EOF")
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, 1, logs.Len())
		})
	}
}

func TestFaultGzipErrorBody(t *testing.T) {
	t.Parallel()
	const plain = `{"error":"Resource not found"}`
	zipped := gzipped(t, []byte(plain))
	bomb := gzipped(t, []byte(strings.Repeat("A", 1<<20))) // 1 MiB from ~1 KiB, 256 times the cap
	for _, proto := range protocols {
		for _, tt := range []struct {
			name      string
			encoding  string
			body      []byte
			askedGzip bool // the caller set Accept-Encoding and reads gzip
			message   string
			logBody   string
		}{
			{"caller decodes", "gzip", zipped, true, "Resource not found", ""},
			{"transport decodes", "gzip", zipped, false, "Resource not found", ""},
			{"bomb capped after decompression", "gzip", bomb, true, "", strings.Repeat("A", 4096)},
			{"mislabelled plain JSON", "gzip", []byte(plain), true, "Resource not found", ""},
			{"gzip bytes without the header", "", zipped, true, "", redact.Text(string(zipped), nil, false)},
		} {
			t.Run(tt.name+"/"+proto, func(t *testing.T) {
				t.Parallel()
				srv := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tt.encoding != "" {
						w.Header().Set("Content-Encoding", tt.encoding)
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(404)
					w.Write(tt.body)
				}))
				log, logs := observed()
				req, _ := http.NewRequest("GET", srv.URL, nil)
				if tt.askedGzip {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				resp, err := WrapClient(srv.Client(), log, WithMaxBodyBytes(4096)).Do(req)
				require.NoError(t, err)
				got, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				resp.Body.Close()
				if tt.askedGzip {
					assert.Equal(t, tt.body, got, "the caller reads the bytes as sent")
				} else {
					assert.Equal(t, plain, string(got))
				}
				require.Equal(t, 1, logs.Len())
				f := logs.All()[0].ContextMap()
				assertField(t, f, schema.Error, tt.message, tt.message != "")
				assertField(t, f, schema.Body, tt.logBody, tt.logBody != "")
			})
		}
	}
}

// TestParseSecondsClamps: every value at or below zero, however written,
// is a wait of 0, and every value at or past maxWait is maxWait.
func TestParseSecondsClamps(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0", "-0", "+0", "-0.5", "-5e-324", "-1e-400", "-1e400", "-Inf", "0x0p0"} {
		d, ok := parseSeconds(v)
		assert.True(t, ok, v)
		assert.Equal(t, time.Duration(0), d, v)
	}
	for _, v := range []string{"Inf", "+Inf", "1e400", "2305843009.213694", "99999999999"} {
		d, ok := parseSeconds(v)
		assert.True(t, ok, v)
		assert.Equal(t, maxWait, d, v)
	}
	d, ok := parseSeconds("5e-324")
	assert.True(t, ok)
	assert.Equal(t, time.Duration(0), d, "a positive value below a nanosecond")
}
