package idctrace

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey is a well-formed IdentityCall key; tests check that only its last
// four characters ever reach a log line.
const testKey = "idc_Q7mK2xV9pL4sT8wB3nR6yH1cF5jD0gZa"

func TestMaskKeys(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"no key here", "no key here"},
		{testKey, "idc_****" + testKey[len(testKey)-4:]},
		{"Invalid key " + testKey + ".", "Invalid key idc_****" + testKey[len(testKey)-4:] + "."},
		{"IDC_ABCDEFGHIJKLMNOP", "idc_****MNOP"},
		{"idc%5Fabcdefghijklmnop", "idc_****mnop"},
		{`"idc\u005fabcdefghijklmnop"`, `"idc_****mnop"`},
		{"idc_short", "idc_****"},
		{"idc_", "idc_"},
		{"idc_ x", "idc_ x"},
		{"idc", "idc"},
		{"idcidc_abcdefghijklmnop", "idcidc_****mnop"},
		{"idc_abcdefghijklmnopidc_qrstuvwxyz012345", "idc_****mnopidc_****2345"},
		{"IDC%5f000000000IDC%5f0", "idc_****idc_****"}, // found by FuzzRedact
		{"a idc_abcdefghijkl-mnop_qrst b idc_x", "a idc_****qrst b idc_****"},
		{"/recordings/idc_abcdefghijklmnop/x", "/recordings/idc_****mnop/x"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, maskKeys(tt.in), "maskKeys(%q)", tt.in)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://api.identitycall.ai/api/v1/public/recordings?page=2&per_page=25",
			"https://api.identitycall.ai/api/v1/public/recordings?page=2&per_page=25"},
		{"https://user:pa55word@api.identitycall.ai/x", "https://api.identitycall.ai/x"},
		{"https://api.identitycall.ai/x?api_key=abc&page=2", "https://api.identitycall.ai/x?api_key=REDACTED&page=2"},
		{"https://h/x?API-KEY=abc&apikey=d&key=e&token=f&access_token=g&secret=h&password=i&signature=j",
			"https://h/x?API-KEY=REDACTED&apikey=REDACTED&key=REDACTED&token=REDACTED&access_token=REDACTED&secret=REDACTED&password=REDACTED&signature=REDACTED"},
		{"https://h/x?client_secret=a&refresh_token=b&X-Amz-Signature=c", "https://h/x?client_secret=REDACTED&refresh_token=REDACTED&X-Amz-Signature=REDACTED"},
		{"https://h/x?q=" + testKey, "https://h/x?q=REDACTED"},
		{"https://h/x?q=idc%5Fabcdefghijklmnopqrst", "https://h/x?q=REDACTED"},
		{"https://h/recordings/" + testKey + "/x", "https://h/recordings/idc_****" + testKey[len(testKey)-4:] + "/x"},
		{"https://h/x?monkey=1&keyboard=2&external_id=3", "https://h/x?monkey=1&keyboard=2&external_id=3"},
		{"https://h/x?flag&token", "https://h/x?flag&token=REDACTED"},
		{"https://h/x#frag-" + testKey, "https://h/x"},
		{"https://h/a%20b?x=%zz", "https://h/a%20b?x=%zz"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		require.NoError(t, err, tt.in)
		before := *u
		assert.Equal(t, tt.want, redactURL(u), tt.in)
		assert.Equal(t, before, *u, "redactURL leaves its argument alone")
	}
	assert.Empty(t, redactURL(nil))
}

func TestIsSecretName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"api_key", "ApiKey", "x-api-key", "key", "token", "access_token", "id_token", "secret",
		"client_secret", "password", "passwd", "signature", "sig", "Authorization", "Proxy-Authorization", "X-Auth-Token"} {
		assert.True(t, isSecretName(name), name)
	}
	for _, name := range []string{"page", "per_page", "keyboard", "monkey", "external_id", "language", "project_id", "Idempotency-Key", ""} {
		assert.False(t, isSecretName(name), name)
	}
	assert.True(t, isSecretName(strings.Repeat("x", 100)+"token"), "long names still match")
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		secrets []string
		want    string
	}{
		{"plain", nil, "plain"},
		{"line1\nline2\r\n\tend", nil, "line1 line2   end"},
		{"bell\x07 esc\x1b[31m del\x7f", nil, "bell\uFFFD esc\uFFFD[31m del\uFFFD"},
		{"bad \xff\xfe utf8", nil, "bad \uFFFD utf8"},
		{"c1 \u0085 next line", nil, "c1 \uFFFD next line"},
		{"user hunter22 denied", []string{"hunter22"}, "user REDACTED denied"},
		{"key " + testKey, []string{"Bearer " + testKey, testKey}, "key idc_****" + testKey[len(testKey)-4:]},
		{"ünïcode ✓", nil, "ünïcode ✓"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, sanitize(tt.in, tt.secrets), "sanitize(%q)", tt.in)
	}
}

func TestRequestSecrets(t *testing.T) {
	t.Parallel()
	req, err := http.NewRequest("GET", "https://bob:hunter22@h/x?token=tok123&page=2&sig=a", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer opaque-oauth-token")
	req.Header.Set("X-Api-Key", "k3y-value")
	req.Header.Set("Accept", "application/json")
	got := requestSecrets(req, nil)
	assert.Subset(t, got, []string{"opaque-oauth-token", "k3y-value", "hunter22", "tok123"})
	assert.NotContains(t, got, "application/json")
	assert.NotContains(t, got, "2")
	assert.NotContains(t, got, "a", "secrets shorter than minSecretLen are not searched for")
}

// FuzzRedact checks, for any text, that sanitize and redactURL leave no key
// literal unmasked, never panic, and are idempotent.
func FuzzRedact(f *testing.F) {
	for _, seed := range []string{
		"", testKey, "idc_", "IDC%5f" + testKey[4:], `idc\u005F` + testKey[4:], "idcidc_abc",
		"https://u:p@h/p/" + testKey + "?api_key=x&q=" + testKey + "#f",
		"\xff\x00idc_abc\x7f", "idc_" + strings.Repeat("a", 100), "x?token=idc_%41%42", "//@//@",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := sanitize(s, nil)
		assertNoKey(t, out)
		assert.Equal(t, out, sanitize(out, nil), "sanitize is idempotent")

		if u, err := url.Parse(s); err == nil {
			r := redactURL(u)
			assertNoKey(t, r)
			if ru, err := url.Parse(r); err == nil {
				// "//@" re-parses with an empty userinfo: it carries nothing.
				assert.True(t, ru.User == nil || ru.User.String() == "", "userinfo is dropped from %q", r)
			}
		}
	})
}

// assertNoKey fails when s holds a key literal other than a masked one.
func assertNoKey(t *testing.T, s string) {
	t.Helper()
	for i := 0; ; {
		i, start, end := nextKey(s, i)
		if i < 0 {
			return
		}
		t.Fatalf("unmasked key %q in %q", s[start:end], s)
	}
}
