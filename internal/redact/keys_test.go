package redact

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

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
	for _, end := range []string{"%", "%4", "\\", `\u00`, "&", "&#x4", "\xe2\x80"} {
		assert.Equal(t, "key idc_****"+end, maskKeys("key "+testKey+end, true), "an escape cut short may be a key character")
	}
	assert.Equal(t, "idc_****"+tail+" x", maskKeys(testKey+" x", true), "a key before the cut is whole")
}

func TestIsKey(t *testing.T) {
	t.Parallel()
	assert.True(t, IsKey(testKey))
	for _, s := range []string{"", "idc_", testKey[:35], testKey + "a", "IDC_" + testKey[4:], "idc_" + strings.Repeat("-", 32), " " + testKey} {
		assert.False(t, IsKey(s), s)
	}
}

// BenchmarkHasKey measures the check every request ID goes through.
func BenchmarkHasKey(b *testing.B) {
	const id = "5f0c2a7e-8d4b-4c1e-9a3f-6b2d8e1c7a90" // a typical UUID
	b.ReportAllocs()
	for b.Loop() {
		if HasKey(id) {
			b.Fatal("a UUID holds no key")
		}
	}
}

// body is testKey without its prefix.
var body = testKey[4:]

// TestMaskKeysEscaped covers every spelling of a key the README lists, and
// a few just past where that list ends.
func TestMaskKeysEscaped(t *testing.T) {
	t.Parallel()
	masked := "idc_****" + tail
	tests := []struct{ name, in, want string }{
		{"JSON escape of i", `\u0069dc_` + body, masked},
		{"JSON escape of c", `id\u0063_` + body, masked},
		{"JSON escape of each letter", `\u0069\u0064\u0063\u005f` + body, masked},
		{"JSON escape, upper case", `\u0049DC\u005F` + body, "idc_****" + tail},
		{"JSON escape inside JSON text", `\\u0069dc_` + body, masked},
		{"JSON-escaped key body", `idc_\u0051\u0037` + body[2:], masked},
		{"\\x escape", `idc\x5f` + body, masked},
		{"\\x escape of i", `\x69dc_` + body, masked},
		{"percent escape of i", "%69dc_" + body, masked},
		{"percent escape, twice", "%2569dc%255F" + body, masked},
		{"every character percent-escaped", percentAll(testKey), masked},
		{"every character percent-escaped twice", strings.ReplaceAll(percentAll(testKey), "%", "%25"), masked},
		{"HTML decimal reference", "idc&#95;" + body, masked},
		{"HTML decimal reference, leading zeros", "idc&#00095;" + body, masked},
		{"HTML decimal reference without ;", "idc&#95" + body, masked},
		{"HTML hex reference", "idc&#x5f;" + body, masked},
		{"HTML hex reference, upper case", "idc&#X5F;" + body, masked},
		{"HTML references for every letter", "&#105;&#x64;&#99;&#95;" + body, masked},
		{"HTML escaped twice", "idc&amp;#95;" + body, masked},
		{"HTML named underscore", "idc&lowbar;" + body, masked},
		{"HTML named underscore, other name", "idc&UnderBar;" + body, masked},
		{"HTML reference in a URL, as net/url prints it", "idc&%2395%3B" + body, masked},
		{"JSON escape in a URL", "idc%5Cu005f" + body, masked},
		{"zero-width space after the prefix", "idc_\u200b" + body, masked},
		{"zero-width non-joiner inside the prefix", "i\u200cdc_" + body, masked},
		{"zero-width joiner before _", "idc\u200d_" + body, masked},
		{"word joiner", "idc_\u2060" + body, masked},
		{"byte order mark", "idc_\ufeff" + body, masked},
		{"zero-width characters everywhere", "i\u200bd\u200bc\u200b_\u200b" + strings.Join(strings.Split(body, ""), "\u200b"), masked},
		{"zero-width space, JSON-escaped", `idc_\u200b` + body, masked},
		{"zero-width space, percent-escaped", "idc_%E2%80%8B" + body, masked},
		{"zero-width space, HTML reference", "idc_&#8203;" + body, masked},
		{"zero-width space, HTML name", "idc_&ZeroWidthSpace;" + body, masked},
		{"after the key, text stays", "x " + percentAll(testKey) + "%20y", "x " + masked + "%20y"},
		{"zero-width after the key stays", testKey + "\u200b.", masked + "\u200b."},
		// Where the list ends.
		{"a blank is no escape", "idc _" + body, "idc _" + body},
		{"an escaped blank neither", "idc%20_" + body, "idc%20_" + body},
		{"named reference needs its ;", "idc&lowbar" + body, "idc&lowbar" + body},
		{"no other named reference", "idc&underscore;" + body, "idc&underscore;" + body},
		{"other invisible characters are out", "idc_\u00ad" + body, "idc_\u00ad" + body},
		{"base64 is out", base64.StdEncoding.EncodeToString([]byte(testKey)), base64.StdEncoding.EncodeToString([]byte(testKey))},
		{"UTF-16 is out", utf16LE(testKey), utf16LE(testKey)},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, MaskKeys(tt.in), tt.name)
		assert.Equal(t, tt.want != tt.in, HasKey(tt.in), tt.name)
		assert.Equal(t, Text(tt.want, nil, false), Text(tt.in, nil, false), tt.name)
	}
}

// utf16LE encodes an ASCII s in UTF-16, little-endian.
func utf16LE(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		b.WriteByte(0)
	}
	return b.String()
}

// BenchmarkMaskKeysHostile measures what a hostile body of the default cap
// (16 KiB) costs: runs that start an escape at every byte once took time
// quadratic in their length.
func BenchmarkMaskKeysHostile(b *testing.B) {
	for name, unit := range map[string]string{
		"backslashes": `\`, "percent": "%25", "zero-width": "i\u200b", "keys": "idc_a", "entities": "&amp;",
	} {
		s := strings.Repeat(unit, 16<<10/len(unit))
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_ = MaskKeys(s)
			}
		})
	}
}
