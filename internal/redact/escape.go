package redact

import (
	"strings"
	"unicode/utf8"
)

// The spellings of one character that the key finder reads, wherever a key
// may be echoed: in a URL, a JSON string, an HTML page, a program's quoted
// string. Each character of a key may be written
//
//   - as itself;
//   - percent-escaped, "%5F", its '%' escaped again any number of times
//     ("%255F"); a character beyond ASCII as its escaped UTF-8 bytes;
//   - backslash-escaped, "\u005f" or "\x5f", with any number of backslashes
//     ("\\u005f", a JSON escape inside JSON text);
//   - as an HTML character reference: "&#95;", "&#x5f;" (';' optional, as
//     browsers read it), the names "&lowbar;" and "&UnderBar;", and the
//     names of the zero-width characters, its '&' escaped again any number
//     of times ("&amp;#95;").
//
// Between any two characters, and after the prefix, a zero-width character
// (U+200B, U+200C, U+200D, U+2060, U+FEFF) in any of these spellings is
// skipped. Nothing else is read: not base64, not UTF-16, not an escape of
// an escape of another kind ("%5Cu005f"), not other invisible characters.

// unit decodes the character that s starts with, in any of the spellings
// above, and returns it with the length of its spelling. n is 0 when s is
// empty or starts with an escape that is not whole.
func unit(s string) (r rune, n int) {
	if s == "" {
		return 0, 0
	}
	switch c := s[0]; {
	case c == '%':
		return percentUnit(s)
	case c == '\\':
		return backslashUnit(s)
	case c == '&':
		return htmlUnit(s)
	case c >= utf8.RuneSelf:
		return utf8.DecodeRuneInString(s)
	default:
		return rune(c), 1
	}
}

// startsSpelling reports whether c may start a spelling other than the
// character itself.
func startsSpelling(c byte) bool {
	return c == '%' || c == '\\' || c == '&' || c >= utf8.RuneSelf
}

// zeroWidth reports whether r is one of the invisible characters a key
// finder skips.
func zeroWidth(r rune) bool {
	switch r {
	case '\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF':
		return true
	}
	return false
}

// skipZeroWidth returns the length of the zero-width characters s starts
// with.
func skipZeroWidth(s string) int {
	n := 0
	for n < len(s) && startsSpelling(s[n]) {
		r, m := unit(s[n:])
		if m == 0 || !zeroWidth(r) {
			break
		}
		n += m
	}
	return n
}

// percentUnit decodes a percent-escaped character: one byte, or the bytes
// of a character beyond ASCII, each escaped.
func percentUnit(s string) (rune, int) {
	b, n := percentByte(s)
	if n == 0 || b < utf8.RuneSelf {
		return rune(b), n
	}
	var buf [utf8.UTFMax]byte
	buf[0] = b
	k := 1
	for k < len(buf) && !utf8.FullRune(buf[:k]) {
		c, m := percentByte(s[n:])
		if m == 0 {
			break
		}
		buf[k] = c
		k, n = k+1, n+m
	}
	r, _ := utf8.DecodeRune(buf[:k])
	return r, n
}

// percentByte decodes "%XX", its '%' possibly escaped again as "%25".
func percentByte(s string) (byte, int) {
	if s == "" || s[0] != '%' {
		return 0, 0
	}
	i := 1
	for strings.HasPrefix(s[i:], "25") {
		i += 2
	}
	if len(s) < i+2 {
		return 0, 0
	}
	v, ok := hexValue(s[i : i+2])
	if !ok {
		return 0, 0
	}
	return byte(v), i + 2
}

// backslashUnit decodes "\uXXXX" or "\xXX" after one or more backslashes.
func backslashUnit(s string) (rune, int) {
	i := 1
	for i < len(s) && s[i] == '\\' {
		i++
	}
	if i == len(s) {
		return 0, 0
	}
	digits := 0
	switch s[i] {
	case 'u', 'U':
		digits = 4
	case 'x', 'X':
		digits = 2
	default:
		return 0, 0
	}
	i++
	if len(s) < i+digits {
		return 0, 0
	}
	v, ok := hexValue(s[i : i+digits])
	if !ok {
		return 0, 0
	}
	return rune(v), i + digits
}

// htmlUnit decodes an HTML character reference, its '&' possibly escaped
// again as "&amp;".
func htmlUnit(s string) (rune, int) {
	i := 1
	for strings.HasPrefix(s[i:], "amp;") {
		i += 4
	}
	if i < len(s) && s[i] == '#' {
		i++
		base := 10
		if i < len(s) && (s[i] == 'x' || s[i] == 'X') {
			base, i = 16, i+1
		}
		start, v := i, 0
		for ; i < len(s); i++ {
			d := digitValue(s[i])
			if d < 0 || d >= base {
				break
			}
			// Past the last code point, the value only has to stay wrong.
			v = min(v*base+d, utf8.MaxRune+1)
		}
		if i == start {
			return 0, 0
		}
		if i < len(s) && s[i] == ';' {
			i++
		}
		return rune(v), i
	}
	// The named references of the characters read beyond letters and digits.
	names := [...]struct {
		name string
		r    rune
	}{
		{"lowbar;", '_'}, {"UnderBar;", '_'},
		{"ZeroWidthSpace;", '\u200B'}, {"NegativeVeryThinSpace;", '\u200B'}, {"NegativeThinSpace;", '\u200B'},
		{"NegativeMediumSpace;", '\u200B'}, {"NegativeThickSpace;", '\u200B'},
		{"zwnj;", '\u200C'}, {"zwj;", '\u200D'}, {"NoBreak;", '\u2060'},
	}
	for _, e := range names {
		if strings.HasPrefix(s[i:], e.name) {
			return e.r, i + len(e.name)
		}
	}
	return 0, 0
}

// hexValue decodes hexadecimal digits.
func hexValue(s string) (int, bool) {
	v := 0
	for i := 0; i < len(s); i++ {
		d := digitValue(s[i])
		if d < 0 || d >= 16 {
			return 0, false
		}
		v = v<<4 | d
	}
	return v, true
}

// digitValue returns the value of c as a hexadecimal digit, or -1.
func digitValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
