package idctrace

// FuzzNoSecretInAnyOutput plants secrets in requests and in the bodies and
// errors a hostile server answers with, and looks for them in every output.
// It plants a key in each spelling the README lists (keySpellings), in the
// path, the body and the error text, and the request's own credentials: a
// Bearer token (after a space or a tab) or a Basic user name and password,
// the URL's user name and password, a query secret after '&' or ';', a
// cookie, an X-IdentityCall-Key header, and the request's key echoed
// without its prefix. Its oracle knows the secrets it planted and looks for
// any 5 characters of them in each output, as printed and decoded by its
// own rules (decodeAll); it does not use the library's key finder.
// testdata/fuzz holds what it found: a key JSON-escaped inside a JSON
// string, in a body cut short ("idc\\u005f..." was not a key).

import (
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
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
		mode, form uint8
	}{
		{1, "recordings", "denied", 401, 1000, 0, 0},
		{2, "recordings/x", `{"error":"no"}`, 403, 20, 1 << 7, 0},             // JSON body, cut early
		{3, "keys", "bad key", 422, 45, 2, 0},                                 // idc%5F, cut inside the key
		{4, "a b/c", "proxy", 502, 60, 4 | 1<<3, 0},                           // idc\u005f; key in the path, all escaped
		{5, "x", "oops", 500, 90, 1<<4 | 1<<5, 0},                             // the key as Authorization, lower-case header
		{6, "recordings", "refused", 0, 500, 1 << 6, 0},                       // a transport error that echoes
		{7, "y", strings.Repeat("z", 200), 429, 230, 3 | 1<<7, 0},             // idc%5f in JSON, cut inside the echo
		{8, "%zz", "\x00\xff", 404, 7, 5, 0},                                  // IDC\u005F, control bytes
		{9, "recordings", "echo", 400, 120, 1<<4 | 1<<5 | 1<<3 | 1<<7 | 6, 0}, // everything at once
		{10, "x", "json cut", 401, 70, 1 << 7, 1},                             // \u0069dc_, cut JSON
		{11, "x", "html", 400, 1000, 1<<6 | 1<<4, 3 | formTab},                // &#95; in a transport error; Bearer<TAB>key
		{12, "x", "zw", 401, 1000, 1 << 7, 7 | formBasic | formSemicolon},     // zero-width everywhere; Basic; ';' query
		{13, "x", "pct", 401, 1000, 1<<6 | 1<<3, 8 | formSemicolon},           // every character %-escaped, in error text
	} {
		f.Add(seed.seed, seed.path, seed.body, seed.status, seed.cut, seed.mode, seed.form)
	}
	f.Fuzz(func(t *testing.T, seed uint64, pathText, bodyText string, status uint16, cut uint16, mode, form uint8) {
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
		user, headerKey := draw(14), draw(18)
		secrets := []string{key[4:], token, password, queryToken, cookie, user, headerKey}

		// The key, in one of the spellings the README lists.
		spellings := keySpellings(key)
		plantedKey := spellings[(int(form&formSpelling)<<3|int(mode&7))%len(spellings)]

		// The request: the key in the path, the request's own credentials
		// in its URL's user info, its headers and its query.
		keyInPath := url.PathEscape(plantedKey)
		if mode&(1<<3) != 0 {
			keyInPath = escapeAll(key)
		}
		sep := "&"
		if form&formSemicolon != 0 {
			sep = ";" // read as '&' by servers such as Rack
		}
		rawURL := "https://" + user + ":" + password + "@api.identitycall.example/api/v1/public/" +
			url.PathEscape(pathText) + "/" + keyInPath + "?page=2" + sep + "api_key=" + queryToken + "&q=" + url.QueryEscape(bodyText)
		req, err := http.NewRequest("GET", rawURL, nil)
		if err != nil {
			t.Skip("not a URL")
		}
		credential := token
		if mode&(1<<4) != 0 {
			credential = key
		}
		auth := "Bearer " + credential
		switch {
		case form&formBasic != 0: // the credential as the user name
			auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(credential+":"+password))
		case form&formTab != 0:
			auth = "Bearer\t" + credential
		}
		authName := "Authorization"
		if mode&(1<<5) != 0 {
			authName = "authorization"
		}
		req.Header[authName] = []string{auth}
		req.Header.Set("Cookie", "session="+cookie)
		req.Header["X-IdentityCall-Key"] = []string{headerKey}

		// The answer: the planted key and every credential echoed, in a
		// body cut anywhere by the cap, or in a transport error.
		half := len(bodyText) / 2
		echo := bodyText[:half] + " " + plantedKey + " " + bodyText[half:] + " auth=" + auth + " user=" + credential +
			" pw=" + password + " q=" + queryToken + " cookie=session=" + cookie + " by " + user + " header=" + headerKey
		if credential == key {
			echo += " key " + key[4:] + " revoked" // the request's key, without its prefix
		}
		body := echo
		if mode&(1<<7) != 0 {
			body = fmt.Sprintf(`{"error":%q,"errors":[%q]}`, echo, plantedKey)
		}
		maxBody := 1 + int64(cut)%int64(len(body)+8)
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if mode&(1<<6) != 0 {
				return nil, fmt.Errorf("proxy refused %s: %s", r.URL, echo) // r.URL with its user info, as given
			}
			return &http.Response{StatusCode: 400 + int(status)%200, Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})

		outputs := failedOutputs(t, req, base, WithMaxBodyBytes(maxBody), WithIDGenerator(func() string { return "req-fuzz" }))
		public := pathText + " " + bodyText + " " + strings.Join(publicWords, " ")
		public += " " + decodeAll(public)
		for where, out := range outputs {
			for _, view := range []string{out, decodeAll(out)} {
				for _, secret := range secrets {
					for i := 0; i+5 <= len(secret); i++ {
						if run := secret[i : i+5]; !strings.Contains(public, run) && strings.Contains(view, run) {
							t.Fatalf("%q of a secret is in the %s: %s", run, where, out)
						}
					}
				}
			}
		}
	})
}

// The bits of FuzzNoSecretInAnyOutput's form argument beyond the spelling.
const (
	formSpelling  = 0x1f // with mode's low three bits, picks the key's spelling
	formTab       = 1 << 5
	formBasic     = 1 << 6
	formSemicolon = 1 << 7
)

// keySpellings spells key in each way the README lists: the first eight
// are those the fuzz target had before its find, in that order.
func keySpellings(key string) []string {
	body := key[4:]
	spellings := []string{"idc_" + body, "IDC_" + body, "idc%5F" + body, "idc%255f" + body, `idc\u005f` + body,
		`IDC\u005F` + body, `idc\\u005f` + body, "Idc_" + body}
	escaped := escapedKeys(key)
	for _, name := range slices.Sorted(maps.Keys(escaped)) {
		spellings = append(spellings, escaped[name])
	}
	return spellings
}

// escapedKeys spells a key in each way the README lists.
func escapedKeys(key string) map[string]string {
	body := key[4:]
	zw := func(sep string) string { return strings.Join(strings.Split(body, ""), sep) }
	return map[string]string{
		"json i":          `\u0069dc_` + body,
		"json c":          `id\u0063_` + body,
		"json _":          `idc\u005f` + body,
		"json in json":    `\\u0069dc_` + body,
		"hex escape":      `idc\x5f` + body,
		"percent i":       "%69dc_" + body,
		"percent twice":   "%2569dc_" + body,
		"percent all":     escapeAll(key),
		"html decimal":    "idc&#95;" + body,
		"html hex":        "idc&#x5f;" + body,
		"html twice":      "idc&amp;#95;" + body,
		"html lowbar":     "idc&lowbar;" + body,
		"html in a URL":   "idc&%2395%3B" + body, // as net/url prints idc&#95;
		"json in a URL":   "idc%5Cu005f" + body,
		"zero-width":      "idc_\u200b" + body,
		"zero-width all":  "i\u200cd\u200dc\u2060_\ufeff" + zw("\u200b"),
		"zero-width json": `idc_\u200b` + zw(`\u200b`),
	}
}

// The escapes decodeAll undoes beyond HTML's.
var (
	percentRE   = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)
	zeroWidthRE = regexp.MustCompile("[\u200b\u200c\u200d\u2060\ufeff]")
	backslashRE = regexp.MustCompile(`\\+(?:[uU][0-9A-Fa-f]{4}|[xX][0-9A-Fa-f]{2})`)
)

// decodeAll undoes, with its own rules and the standard library, every
// escaping the README lists, until nothing changes: what an attacker's
// reader would see.
func decodeAll(s string) string {
	for {
		t := html.UnescapeString(s)
		t = percentRE.ReplaceAllStringFunc(t, func(e string) string {
			b, _ := strconv.ParseUint(e[1:], 16, 8)
			return string([]byte{byte(b)})
		})
		t = backslashRE.ReplaceAllStringFunc(t, func(e string) string {
			e = strings.TrimLeft(e, `\`)
			r, _ := strconv.ParseUint(e[1:], 16, 32)
			return string(rune(r))
		})
		t = zeroWidthRE.ReplaceAllString(t, "")
		if t == s {
			return s
		}
		s = t
	}
}
