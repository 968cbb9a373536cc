package redact

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// testKey is a whole IdentityCall key: only its last four characters may
// ever be printed.
const testKey = "idc_Q7mK2xV9pL4sT8wB3nR6yH1cF5jD0gZa"

var tail = testKey[len(testKey)-4:]

// FuzzRedact checks, for any text, that Text and URL leave no key literal
// unmasked, never panic, and that Text is idempotent.
func FuzzRedact(f *testing.F) {
	for _, seed := range []string{
		"", testKey, "idc_", "IDC%5f" + testKey[4:], `idc\u005F` + testKey[4:], "idcidc_abc",
		"https://u:p@h/p/" + testKey + "?api_key=x&q=" + testKey + "#f",
		"\xff\x00idc_abc\x7f", "idc_" + strings.Repeat("a", 100), "x?token=idc_%41%42", "//@//@",
		"https://h/keys/%69dc_" + testKey[4:],
		`\u0069dc_` + testKey[4:], "idc&#95;" + testKey[4:], "idc&amp;#x5F" + testKey[4:], "idc&lowbar;x",
		`idc\x5f` + testKey[4:], "i\u200bdc_\u2060" + testKey[4:], "idc_%E2%80%8B" + testKey[4:], percentAll(testKey),
		"https://h/x?page=1;api_key=" + testKey + ";q=%2569dc_abc",
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
	if i, m := nextKey(s, 0); i >= 0 {
		t.Fatalf("unmasked key %q in %q", s[i:m.end], s)
	}
}
