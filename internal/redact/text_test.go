package redact

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

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
		// The request's own key, echoed without its prefix.
		{"key body", "denied for " + testKey[4:] + ".", []string{testKey, testKey[4:]}, false, "denied for REDACTED."},
		{"key with its body a secret", "denied for " + testKey, []string{testKey, testKey[4:]}, false, "denied for idc_****" + tail},
		{"key body cut", "denied for " + testKey[4:20], []string{testKey, testKey[4:]}, true, "denied for REDACTED"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Text(tt.in, tt.secrets, tt.cut), tt.name)
	}
}

func TestTextDropsURLUserInfo(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"dial redis://default:Sup3rS3cret@cache:6379: refused": "dial redis://REDACTED@cache:6379: refused",
		"proxy http://u:p@h/x and https://a@b":                 "proxy http://REDACTED@h/x and https://REDACTED@b",
		"mail me@example.com, see https://h/x?a=b@c":           "mail me@example.com, see https://h/x?a=b@c",
		"no url at all: a@b":                                   "no url at all: a@b",
		`"https://user:pa@ss@h/p"`:                             `"https://REDACTED@h/p"`,
		"://@":                                                 "://REDACTED@",
	} {
		assert.Equal(t, want, Text(in, nil, false), in)
	}
}
