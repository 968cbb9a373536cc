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
//   - backslash-escaped, "\u005f" or "\x5f", with any number of backslashes
//     ("\\u005f", a JSON escape inside JSON text);
//   - as an HTML character reference: "&#95;", "&#x5f;" (';' optional, as
//     browsers read it), the names "&lowbar;" and "&UnderBar;", and the
//     names of the zero-width characters, its '&' escaped again any number
//     of times ("&amp;#95;").
//
// and any byte of these spellings may be percent-escaped, "%5F", its '%'
// escaped again any number of times ("%255F"): net/url prints a URL that
// holds "idc&#95;" as "idc&%2395%3B", and a character beyond ASCII as its
// escaped UTF-8 bytes. Between any two characters, and after the prefix, a
// zero-width character (U+200B, U+200C, U+200D, U+2060, U+FEFF) in any of
// these spellings is skipped. Nothing else is read: not base64, not UTF-16,
// not an HTML or backslash escape of a '%' or of a backslash, not other
// invisible characters.

// unit decodes the character that s starts with, in any of the spellings
// above, and returns it with the length of its spelling. n is 0 when s is
// empty or starts with an escape that is not whole.
func unit(s string) (r rune, n int) {
	c, n := readByte(s)
	switch {
	case n == 0:
		return 0, 0
	case c == '\\':
		return backslashUnit(s, n)
	case c == '&':
		return htmlUnit(s, n)
	case c >= utf8.RuneSelf:
		return utf8Unit(s, c, n)
	}
	return rune(c), n
}

// readByte reads one byte of a spelling: the byte itself, or the byte a
// percent escape stands for.
func readByte(s string) (byte, int) {
	if s == "" {
		return 0, 0
	}
	if s[0] == '%' {
		if b, n := percentByte(s); n > 0 {
			return b, n
		}
	}
	return s[0], 1
}

// percentByte decodes "%XX", its '%' possibly escaped again as "%25".
func percentByte(s string) (byte, int) {
	i := 1
	for strings.HasPrefix(s[i:], "25") {
		i += 2
	}
	if len(s) >= i+2 {
		if v, ok := hexValue(s[i : i+2]); ok {
			return byte(v), i + 2
		}
	}
	if i > 1 {
		return '%', i // the last "25" was the escaped byte
	}
	return 0, 0
}

// readLiteral reads the bytes of lit, each possibly percent-escaped, and
// returns the length of their spelling; ok is false when s does not start
// with lit.
func readLiteral(s, lit string) (n int, ok bool) {
	for k := 0; k < len(lit); k++ {
		c, m := readByte(s[n:])
		if m == 0 || c != lit[k] {
			return 0, false
		}
		n += m
	}
	return n, true
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

// utf8Unit decodes a character beyond ASCII whose first byte, c, takes the
// first n bytes of s.
func utf8Unit(s string, c byte, n int) (rune, int) {
	var buf [utf8.UTFMax]byte
	var ends [utf8.UTFMax + 1]int // ends[k]: the length of the spelling of k bytes
	buf[0], ends[1] = c, n
	k := 1
	for k < len(buf) && !utf8.FullRune(buf[:k]) {
		b, m := readByte(s[n:])
		if m == 0 {
			break
		}
		buf[k], n = b, n+m
		k++
		ends[k] = n
	}
	r, size := utf8.DecodeRune(buf[:k])
	return r, ends[size]
}

// backslashUnit decodes "\uXXXX" or "\xXX" after one or more backslashes,
// the first of which takes the first n bytes of s.
func backslashUnit(s string, n int) (rune, int) {
	c, m := readByte(s[n:])
	for m > 0 && c == '\\' {
		n += m
		c, m = readByte(s[n:])
	}
	digits := 0
	switch {
	case m > 0 && (c == 'u' || c == 'U'):
		digits = 4
	case m > 0 && (c == 'x' || c == 'X'):
		digits = 2
	default:
		return 0, 0
	}
	n += m
	v := 0
	for ; digits > 0; digits-- {
		c, m = readByte(s[n:])
		d := digitValue(c)
		if m == 0 || d < 0 {
			return 0, 0
		}
		v, n = v<<4|d, n+m
	}
	return rune(v), n
}

// htmlUnit decodes an HTML character reference whose '&' takes the first n
// bytes of s; the '&' may be escaped again as "&amp;".
func htmlUnit(s string, n int) (rune, int) {
	for {
		m, ok := readLiteral(s[n:], "amp;")
		if !ok {
			break
		}
		n += m
	}
	if m, ok := readLiteral(s[n:], "#"); ok {
		n += m
		base := 10
		if c, m := readByte(s[n:]); m > 0 && (c == 'x' || c == 'X') {
			base, n = 16, n+m
		}
		digits, v := 0, 0
		for {
			c, m := readByte(s[n:])
			d := digitValue(c)
			if m == 0 || d < 0 || d >= base {
				break
			}
			// Past the last code point, the value only has to stay wrong.
			v, n = min(v*base+d, utf8.MaxRune+1), n+m
			digits++
		}
		if digits == 0 {
			return 0, 0
		}
		if m, ok := readLiteral(s[n:], ";"); ok {
			n += m
		}
		return rune(v), n
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
		if m, ok := readLiteral(s[n:], e.name); ok {
			return e.r, n + m
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
