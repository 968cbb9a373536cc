package idctrace

// FuzzNoSecretInAnyOutput plants secrets in requests and in the bodies and
// errors a hostile server answers with, and looks for them in every output.
// Its oracle knows the secrets it planted; it does not use the library's
// key finder. testdata/fuzz holds what it found: a key JSON-escaped inside
// a JSON string, in a body cut short ("idc\\u005f..." was not a key).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// secretAlphabet draws the planted secrets: capital consonants, which no
// output holds five of in a row by itself (timestamps, UUIDs, field names
// and REDACTED would otherwise make false alarms).
const secretAlphabet = "BFGJKLMNQSVWXZ"

// publicWords are capital words the outputs hold on their own.
var publicWords = []string{"REDACTED", "DELETE", "PATCH", "POST", "GET", "PUT", "HEAD", "OPTIONS"}

func FuzzNoSecretInAnyOutput(f *testing.F) {
	for _, seed := range []struct {
		seed       uint64
		path, body string
		status     uint16
		cut        uint16
		mode       uint8
	}{
		{1, "recordings", "denied", 401, 1000, 0},
		{2, "recordings/x", `{"error":"no"}`, 403, 20, 1 << 7},             // JSON body, cut early
		{3, "keys", "bad key", 422, 45, 2},                                 // idc%5F, cut inside the key
		{4, "a b/c", "proxy", 502, 60, 4 | 1<<3},                           // idc\u005f; key in the path, all escaped
		{5, "x", "oops", 500, 90, 1<<4 | 1<<5},                             // the key as Authorization, lower-case header
		{6, "recordings", "refused", 0, 500, 1 << 6},                       // a transport error that echoes
		{7, "y", strings.Repeat("z", 200), 429, 230, 3 | 1<<7},             // idc%5f in JSON, cut inside the echo
		{8, "%zz", "\x00\xff", 404, 7, 5},                                  // IDC\u005F, control bytes
		{9, "recordings", "echo", 400, 120, 1<<4 | 1<<5 | 1<<3 | 1<<7 | 6}, // everything at once
	} {
		f.Add(seed.seed, seed.path, seed.body, seed.status, seed.cut, seed.mode)
	}
	f.Fuzz(func(t *testing.T, seed uint64, pathText, bodyText string, status uint16, cut uint16, mode uint8) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		draw := func(n int) string {
			b := make([]byte, n)
			for i := range b {
				b[i] = secretAlphabet[rng.IntN(len(secretAlphabet))]
			}
			return string(b)
		}
		key := "idc_" + draw(32)
		token, password, queryToken, cookie := draw(24), draw(12), draw(16), draw(20)

		// The key, in one of the escapings the README lists.
		escapings := []string{"idc_", "IDC_", "idc%5F", "idc%255f", `idc\u005f`, `IDC\u005F`, `idc\\u005f`, "Idc_"}
		plantedKey := escapings[mode&7] + key[4:]

		// The request: the key in the path, the request's own credentials
		// in its headers, URL and query.
		keyInPath := key
		if mode&(1<<3) != 0 {
			keyInPath = escapeAll(key)
		} else {
			keyInPath = "%69" + key[1:]
		}
		rawURL := "https://bob:" + password + "@api.identitycall.example/api/v1/public/" +
			url.PathEscape(pathText) + "/" + keyInPath + "?page=2&api_key=" + queryToken + "&q=" + url.QueryEscape(bodyText)
		req, err := http.NewRequest("GET", rawURL, nil)
		if err != nil {
			t.Skip("not a URL")
		}
		auth := "Bearer " + token
		if mode&(1<<4) != 0 {
			auth = "Bearer " + key
		}
		authName := "Authorization"
		if mode&(1<<5) != 0 {
			authName = "authorization"
		}
		req.Header[authName] = []string{auth}
		req.Header.Set("Cookie", "session="+cookie)

		// The answer: the planted key and every credential echoed, in a
		// body cut anywhere by the cap, or in a transport error.
		half := len(bodyText) / 2
		echo := bodyText[:half] + " " + plantedKey + " " + bodyText[half:] +
			" auth=" + auth + " pw=" + password + " q=" + queryToken + " cookie=session=" + cookie
		body := echo
		if mode&(1<<7) != 0 {
			body = fmt.Sprintf(`{"error":%q,"errors":[%q]}`, echo, plantedKey)
		}
		maxBody := 1 + int64(cut)%int64(len(body)+8)
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if mode&(1<<6) != 0 {
				return nil, errors.New("proxy refused: " + echo)
			}
			return &http.Response{StatusCode: 400 + int(status)%200, Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})

		var logBuf syncBuffer
		var observed []string
		recorder := NewRecorder(0)
		tr := New(base, jsonLogger(&logBuf), WithMaxBodyBytes(maxBody), WithRecorder(recorder),
			WithIDGenerator(func() string { return "req-fuzz" }),
			WithObserver(func(a Attempt) {
				observed = append(observed, a.URL)
				if a.Err != nil {
					observed = append(observed, a.Err.Error())
				}
			}))
		outputs := map[string]string{}
		resp, err := tr.RoundTrip(req)
		var te *TransportError
		switch {
		case errors.As(err, &te):
			outputs["error"], outputs["ticket"] = te.Error(), te.SupportTicket("")
		case err != nil:
			t.Fatalf("an error that is no TransportError: %v", err)
		default:
			io.Copy(io.Discard, resp.Body)
			var apiErr *APIError
			if !errors.As(CheckResponse(resp), &apiErr) {
				t.Fatal("no APIError for a failure")
			}
			outputs["error"], outputs["ticket"] = apiErr.Error(), apiErr.SupportTicket("")
			outputs["fields"] = strings.Join([]string{apiErr.Message, strings.Join(apiErr.Errors, " "), apiErr.Body, apiErr.URL, apiErr.Hint}, " ")
		}
		var bundle bytes.Buffer
		if err := recorder.WriteBundle(&bundle, ""); err != nil {
			t.Fatal(err)
		}
		outputs["log"], outputs["bundle"], outputs["observer"] = logBuf.String(), bundle.String(), strings.Join(observed, " ")

		public := pathText + " " + bodyText + " " + strings.Join(publicWords, " ")
		for where, out := range outputs {
			for _, secret := range []string{key[4:], token, password, queryToken, cookie} {
				for i := 0; i+5 <= len(secret); i++ {
					if run := secret[i : i+5]; !strings.Contains(public, run) && strings.Contains(out, run) {
						t.Fatalf("%q of a secret is in the %s: %s", run, where, out)
					}
				}
			}
		}
	})
}
