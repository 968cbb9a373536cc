// Package redact makes text, URLs and requests safe to print: IdentityCall
// keys are masked, secret parameters and the request's own credentials
// become REDACTED, and untrusted text loses its control characters. The
// idctrace Transport, its simulator and its command share it, so that every
// output is redacted the same way.
package redact

import "strings"

// Redacted replaces a secret value.
const Redacted = "REDACTED"

// keyLen is the length of a key after its "idc_" prefix: 32 letters and
// digits. Only a run of exactly that form is a whole key, whose last
// keyTail characters a mask may show.
const (
	keyLen  = 32
	keyTail = 4
)

// MaskKeys masks every IdentityCall key literal in s: "idc_" (in any case,
// or escaped as "idc%5F" or "idc\u005f", once or more) followed by key
// characters becomes "idc_****", plus the last four characters when they
// end a whole key (32 letters and digits). s is returned as is when it
// holds no key.
func MaskKeys(s string) string { return maskKeys(s, false) }

// maskKeys is MaskKeys for text that may be cut: a key that reaches the end
// of a cut text may be a longer one cut short, and shows none of its
// characters.
func maskKeys(s string, cut bool) string {
	i, start, end := nextKey(s, 0)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0 // s[last:] is not yet copied to b
	for ; i >= 0; i, start, end = nextKey(s, end) {
		b.WriteString(s[last:i])
		b.WriteString("idc_****")
		if wholeKey(s[start:end]) && !(cut && end == len(s)) {
			b.WriteString(s[end-keyTail : end])
		}
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

// HasKey reports whether s holds an IdentityCall key literal.
func HasKey(s string) bool {
	i, _, _ := nextKey(s, 0)
	return i >= 0
}

// nextKey finds the first key literal in s[from:]: s[i:start] is its "idc_"
// prefix and s[start:end] the key characters after it. i is -1 when there is
// none.
func nextKey(s string, from int) (i, start, end int) {
	for j := from; j+4 <= len(s); j++ {
		if s[j] != 'i' && s[j] != 'I' {
			continue
		}
		sep := keySeparator(s[j:])
		if sep == 0 {
			continue
		}
		start = j + sep
		end = start
		// A key ends where another "idc_" begins: otherwise the tail a mask
		// shows could join the text after it into a new, unmasked key.
		for end < len(s) && isKeyChar(s[end]) && (end == start || keySeparator(s[end:]) == 0) {
			end++
		}
		if end > start {
			return j, start, end
		}
	}
	return -1, 0, 0
}

// keySeparator returns the length of the "idc_" prefix that starts s, in any
// case and with the underscore possibly escaped: percent-escaped ("%5F"),
// also more than once ("%255F"), or JSON-escaped ("\u005f"), also inside
// JSON text ("\\u005f"). It returns 0 when s starts with no such prefix.
func keySeparator(s string) int {
	if len(s) < 4 || !strings.EqualFold(s[:3], "idc") {
		return 0
	}
	i := 3
	switch s[i] {
	case '_':
		return 4
	case '%':
		for i++; strings.HasPrefix(s[i:], "25"); i += 2 {
		}
		if len(s) >= i+2 && strings.EqualFold(s[i:i+2], "5f") {
			return i + 2
		}
	case '\\':
		for i < len(s) && s[i] == '\\' {
			i++
		}
		if len(s) >= i+5 && strings.EqualFold(s[i:i+5], "u005f") {
			return i + 5
		}
	}
	return 0
}

func isKeyChar(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-'
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// wholeKey reports whether k, the characters after "idc_", are a whole key.
func wholeKey(k string) bool {
	if len(k) != keyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isAlnum(k[i]) {
			return false
		}
	}
	return true
}

// IsKey reports whether s is an IdentityCall key: "idc_" followed by 32
// letters and digits.
func IsKey(s string) bool {
	k, ok := strings.CutPrefix(s, "idc_")
	return ok && wholeKey(k)
}
