package redact

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
		// Servers that read ';' as '&' (Rack, PHP's arg_separator) see api_key.
		{"https://h/x?page=1;api_key=abc", nil, "https://h/x?page=1;api_key=REDACTED"},
		{"https://h/x?api_key=abc;page=2&status=done", nil, "https://h/x?api_key=REDACTED;page=2&status=done"},
		{"https://h/x?page=2;status=" + testKey, nil, "https://h/x?page=2;status=REDACTED"},
		{"https://h/x?;;page=2;&", nil, "https://h/x?;;page=2;&"},
		{"https://h/x?page=2;" + testKey, nil, "https://h/x?page=2;idc_****" + tail},
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

// BenchmarkURL measures what an observer adds to a success: the secrets of
// a request with a key, and its clean URL.
func BenchmarkURL(b *testing.B) {
	req, err := http.NewRequest("GET", "https://api.identitycall.ai/api/v1/public/recordings/rec_1?page=2&status=done", nil)
	require.NoError(b, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Accept", "application/json")
	logged := func(name string) bool { return name == "page" || name == "status" }
	b.Run("AppendSecrets", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var arr [4]string
			_ = AppendSecrets(arr[:0], req)
		}
	})
	secrets := AppendSecrets(nil, req)
	b.Run("URL", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = URL(req.URL, logged, secrets)
		}
	})
}
