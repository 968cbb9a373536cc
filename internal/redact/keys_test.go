package redact

import (
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
