package redact

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey is a whole IdentityCall key: only its last four characters may
// ever be printed.
const testKey = "idc_Q7mK2xV9pL4sT8wB3nR6yH1cF5jD0gZa"

var tail = testKey[len(testKey)-4:]

func TestMaskKeys(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"no key here", "no key here"},
		{testKey, "idc_****" + tail},
		{"Invalid key " + testKey + ".", "Invalid key idc_****" + tail + "."},
		{strings.ToUpper(testKey), "idc_****" + strings.ToUpper(tail)},
		{"idc%5F" + testKey[4:], "idc_****" + tail},
		{`"idc\u005f` + testKey[4:] + `"`, `"idc_****` + tail + `"`},
		{"IDC_ABCDEFGHIJKLMNOP", "idc_****"}, // not a whole key: nothing of it
		{testKey[:20], "idc_****"},           // a key cut short: nothing of it
		{testKey + "X", "idc_****"},          // longer than a key
		{testKey[:20] + "-" + testKey[20:], "idc_****"},
		{"idc_short", "idc_****"},
		{"idc_", "idc_"},
		{"idc_ x", "idc_ x"},
		{"idc", "idc"},
		{"idcidc_abc", "idcidc_****"},
		{testKey + testKey, "idc_****" + tail + "idc_****" + tail},
		{"IDC%5f000000000IDC%5f0", "idc_****idc_****"},   // found by FuzzRedact
		{"idc%255F" + testKey[4:], "idc_****" + tail},    // escaped twice
		{"idc%25255f" + testKey[4:], "idc_****" + tail},  // three times
		{`idc\\u005f` + testKey[4:], "idc_****" + tail},  // JSON-escaped inside JSON text
		{"idc%25" + testKey[4:], "idc%25" + testKey[4:]}, // no underscore: no key
		{"/recordings/" + testKey + "/x", "/recordings/idc_****" + tail + "/x"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, MaskKeys(tt.in), "MaskKeys(%q)", tt.in)
	}
	assert.Equal(t, "key idc_****", maskKeys("key "+testKey, true), "a key at the end of a cut text may be cut short")
	assert.Equal(t, "idc_****"+tail+" x", maskKeys(testKey+" x", true), "a key before the cut is whole")
}

func TestIsKey(t *testing.T) {
	t.Parallel()
	assert.True(t, IsKey(testKey))
	for _, s := range []string{"", "idc_", testKey[:35], testKey + "a", "IDC_" + testKey[4:], "idc_" + strings.Repeat("-", 32), " " + testKey} {
		assert.False(t, IsKey(s), s)
	}
}

func TestIsSecretName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"api_key", "ApiKey", "x-api-key", "key", "token", "access_token", "id_token", "secret",
		"client_secret", "password", "passwd", "signature", "sig", "Authorization", "Proxy-Authorization", "authorization",
		"X-Auth-Token", "Cookie", "Set-Cookie", "session", "_key_", strings.Repeat("x", 100) + "token"} {
		assert.True(t, IsSecretName(name), name)
	}
	for _, name := range []string{"page", "per_page", "keyboard", "monkey", "external_id", "language", "project_id",
		"Idempotency-Key", "phone_number", strings.Repeat("x", 100) + "key", ""} {
		assert.False(t, IsSecretName(name), name)
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		secrets []string
		cut     bool
		want    string
	}{
		{"plain", "plain", nil, false, "plain"},
		{"line breaks", "line1\nline2\r\n\tend", nil, false, "line1 line2   end"},
		{"controls", "bell\x07 esc\x1b[31m del\x7f", nil, false, "bell\uFFFD esc\uFFFD[31m del\uFFFD"},
		{"invalid utf8", "bad \xff\xfe utf8", nil, false, "bad \uFFFD utf8"},
		{"c1", "c1 \u0085 next line", nil, false, "c1 \uFFFD next line"},
		{"unicode", "ünïcode ✓", nil, false, "ünïcode ✓"},
		{"secret", "user hunter22 denied", []string{"hunter22"}, false, "user REDACTED denied"},
		{"key", "key " + testKey, []string{"unrelated"}, false, "key idc_****" + tail},
		{"secret holding a secret", "pw=abcdefgh", []string{"abcd", "abcdefgh"}, false, "pw=REDACTED"},
		// Secrets go first: a tab in a password became a space, and hid it.
		{"secret with a control character", "pw\tsecret!", []string{"pw\tsecret!"}, false, "REDACTED"},
		{"secret with a space, echoed with a tab", "pw\tsecret!", []string{"pw secret!"}, false, "REDACTED"},
		{"cut secret", "token ya29.opaq", []string{"ya29.opaque-oauth-token"}, true, "token REDACTED"},
		{"cut secret, not cut text", "token ya29.opaq", []string{"ya29.opaque-oauth-token"}, false, "token ya29.opaq"},
		{"short trailing start kept", "end ya2", []string{"ya29.opaque-oauth-token"}, true, "end ya2"},
		{"longest trailing start wins", "x 12345abcd", []string{"abcdefghijklmnop", "12345abcdZZZZZ"}, true, "x REDACTED"},
		{"cut key", "key " + testKey[:30], nil, true, "key idc_****"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Text(tt.in, tt.secrets, tt.cut), tt.name)
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	logged := func(name string) bool { return name == "page" || name == "per_page" || name == "status" }
	tests := []struct {
		in      string
		secrets []string
		want    string
	}{
		{"https://api.identitycall.ai/api/v1/public/recordings?page=2&per_page=25",
			nil, "https://api.identitycall.ai/api/v1/public/recordings?page=2&per_page=25"},
		{"https://user:pa55word@api.identitycall.ai/x", []string{"pa55word"}, "https://api.identitycall.ai/x"},
		{"https://h/x?api_key=abc&page=2", nil, "https://h/x?api_key=REDACTED&page=2"},
		{"https://h/x?q=alice%40example.com&from=%2B15551234567", nil, "https://h/x?q=REDACTED&from=REDACTED"},
		{"https://h/x?status=" + testKey, nil, "https://h/x?status=REDACTED"},
		{"https://h/x?status=idc%5Fabcdefghijklmnopqrst", nil, "https://h/x?status=REDACTED"},
		{"https://h/x?status=hunter22", []string{"hunter22"}, "https://h/x?status=REDACTED"},
		{"https://h/x?status=done&page", nil, "https://h/x?status=done&page"},
		{"https://h/x?status=", nil, "https://h/x?status="},
		{"https://h/recordings/" + testKey + "/x", nil, "https://h/recordings/idc_****" + tail + "/x"},
		{"https://h/keys/%69dc_" + testKey[4:], nil, "https://h/keys/idc_****" + tail},
		{"https://h/keys/" + percentAll(testKey), nil, "https://h/keys/idc_****" + tail},
		{"https://h/users/hunter22/x", []string{"hunter22"}, "https://h/users/REDACTED/x"},
		{"https://h/x#frag-" + testKey, nil, "https://h/x"},
		{"https://h/a%20b?page=%zz", nil, "https://h/a%20b?page=%zz"},
		{"https://h/a%2Fb", nil, "https://h/a%2Fb"},
		{"https://h/x?" + percentAll("api_key") + "=1", nil, "https://h/x?api_key=REDACTED"},
		{"https://h/x?" + testKey + "=1", nil, "https://h/x?idc_****" + tail + "=REDACTED"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		require.NoError(t, err, tt.in)
		before := *u
		assert.Equal(t, tt.want, URL(u, logged, tt.secrets), tt.in)
		assert.Equal(t, before, *u, "URL leaves its argument alone")
	}
	assert.Empty(t, URL(nil, logged, nil))

	opaque := &url.URL{Scheme: "https", Host: "h", Opaque: "//alice:pass@h/x"}
	assert.Equal(t, "https://h/x", URL(opaque, logged, nil))
	opaque.Opaque = "%zz"
	assert.Equal(t, "https://h/REDACTED", URL(opaque, logged, nil))
	assert.Equal(t, "https://h/x?page=REDACTED", URL(&url.URL{Scheme: "https", Host: "h", Path: "/x", RawQuery: "page=1"}, nil, nil),
		"a nil logged keeps no value")
}

// percentAll escapes every byte of s.
func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString("%" + strings.ToUpper(hex2(s[i])))
	}
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}

func TestAppendSecrets(t *testing.T) {
	t.Parallel()
	req, err := http.NewRequest("GET", "https://bob:hunter%2022@h/x?token=tok123&page=2&sig=a&Api-Key=k%2Bey", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer opaque-oauth-token")
	req.Header["x-api-key"] = []string{"k3y-value"} // any spelling
	req.Header.Set("Proxy-Authorization", "Basic Ym9iOnByb3h5cGFzcw==")
	req.Header.Set("Cookie", "session=s3ss10n; theme=dark")
	req.Header.Set("Accept", "application/json")
	got := AppendSecrets(nil, req)
	assert.Subset(t, got, []string{"opaque-oauth-token", "k3y-value", "Ym9iOnByb3h5cGFzcw==", "proxypass", "s3ss10n", "dark",
		"hunter 22", "hunter+22", "hunter%2022", "tok123", "k%2Bey", "k+ey"})
	for _, s := range got {
		assert.GreaterOrEqual(t, len(s), MinSecretLen, "%q", s)
	}
	assert.NotContains(t, got, "application/json")
	assert.NotContains(t, got, "2")

	var stack [4]string
	assert.Empty(t, AppendSecrets(stack[:0], &http.Request{}), "a request without secrets, or URL")
}

// FuzzRedact checks, for any text, that Text and URL leave no key literal
// unmasked, never panic, and that Text is idempotent.
func FuzzRedact(f *testing.F) {
	for _, seed := range []string{
		"", testKey, "idc_", "IDC%5f" + testKey[4:], `idc\u005F` + testKey[4:], "idcidc_abc",
		"https://u:p@h/p/" + testKey + "?api_key=x&q=" + testKey + "#f",
		"\xff\x00idc_abc\x7f", "idc_" + strings.Repeat("a", 100), "x?token=idc_%41%42", "//@//@",
		"https://h/keys/%69dc_" + testKey[4:],
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, cut := range []bool{false, true} {
			out := Text(s, nil, cut)
			assertNoKey(t, out)
			assert.Equal(t, out, Text(out, nil, cut), "Text is idempotent")
		}
		if u, err := url.Parse(s); err == nil {
			r := URL(u, func(string) bool { return true }, nil)
			assertNoKey(t, r)
			if ru, err := url.Parse(r); err == nil {
				// "//@" re-parses with an empty userinfo: it carries nothing.
				assert.True(t, ru.User == nil || ru.User.String() == "", "userinfo is dropped from %q", r)
				assertNoKey(t, ru.Path)
			}
		}
	})
}

// assertNoKey fails when s holds a key literal other than a masked one.
func assertNoKey(t *testing.T, s string) {
	t.Helper()
	if i, start, end := nextKey(s, 0); i >= 0 {
		t.Fatalf("unmasked key %q in %q", s[start:end], s)
	}
}
