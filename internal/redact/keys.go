// Package redact makes text, URLs and requests safe to print: IdentityCall
// keys are masked, secret parameters and the request's own credentials
// become REDACTED, and untrusted text loses its control characters. The
// idctrace Transport, its simulator and its command share it, so that every
// output is redacted the same way.
package redact

import (
	"strings"
	"unicode/utf8"
)

// Redacted replaces a secret value.
const Redacted = "REDACTED"

// keyLen is the length of a key after its "idc_" prefix: 32 letters and
// digits. Only a run of exactly that form is a whole key, whose last
// keyTail characters a mask may show.
const (
	keyLen  = 32
	keyTail = 4
)

// MaskKeys masks every IdentityCall key literal in s: "idc_" in any case
// followed by key characters, any of them escaped or with zero-width
// characters between them (the spellings escape.go lists: "%69dc_",
// "\u0069dc_", "idc&#95;", "idc&lowbar;", "idc\x5f", "idc_\u200b..."),
// becomes "idc_****", plus the last four characters when they end a whole
// key (32 letters and digits). s is returned as is when it holds no key.
func MaskKeys(s string) string { return maskKeys(s, false) }

// maskKeys is MaskKeys for text that may be cut: a key that reaches the end
// of a cut text may be a longer one cut short, and shows none of its
// characters.
func maskKeys(s string, cut bool) string {
	i, m := nextKey(s, 0)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0 // s[last:] is not yet copied to b
	for ; i >= 0; i, m = nextKey(s, m.end) {
		b.WriteString(s[last:i])
		b.WriteString("idc_****")
		if m.whole() && !(cut && mayContinue(s[m.end:])) {
			b.Write(m.tail[:])
		}
		last = m.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// HasKey reports whether s holds an IdentityCall key literal, in any of the
// spellings [MaskKeys] masks.
func HasKey(s string) bool {
	i, _ := nextKey(s, 0)
	return i >= 0
}

// keyMatch is a key literal found in a text.
type keyMatch struct {
	end   int           // the literal ends at end
	n     int           // the number of key characters after its prefix
	tail  [keyTail]byte // the last of them, decoded
	alnum bool          // they are all letters and digits
}

func (m *keyMatch) add(c byte) {
	copy(m.tail[:], m.tail[1:])
	m.tail[keyTail-1] = c
	m.n++
	m.alnum = m.alnum && isAlnum(c)
}

// whole reports whether the characters are those of a whole key.
func (m *keyMatch) whole() bool { return m.n == keyLen && m.alnum }

// nextKey finds the first key literal in s[from:], which starts at i. i is
// -1 when there is none.
func nextKey(s string, from int) (i int, m keyMatch) {
	for j := candidate(s, from); j >= 0; j = candidate(s, j+1) {
		p := prefixLen(s[j:])
		if p == 0 {
			j = lastBackslash(s, j)
			continue
		}
		m = keyMatch{end: j + p, alnum: true}
		for q := m.end; ; {
			q += skipZeroWidth(s[q:])
			r, n := unit(s[q:])
			if n == 0 || r >= utf8.RuneSelf || !isKeyChar(byte(r)) {
				break
			}
			// A key ends where another "idc_" begins: otherwise the tail a
			// mask shows could join the text after it into a new, unmasked
			// key.
			if m.n > 0 && prefixLen(s[q:]) > 0 {
				break
			}
			m.add(byte(r))
			q += n
			m.end = q
		}
		if m.n > 0 {
			return j, m
		}
	}
	return -1, keyMatch{}
}

// candidate returns the index of the first byte of s[from:] that may start
// a key, or -1 when none does: the loop every request ID goes through.
func candidate(s string, from int) int {
	t := s[from:]
	for j := 0; j < len(t); j++ {
		if mayStartKey(t[j]) {
			return from + j
		}
	}
	return -1
}

// mayStartKey reports whether c may start a key's prefix: an 'i', or the
// start of an escape, as no byte of a character beyond ASCII is.
func mayStartKey(c byte) bool {
	return c|0x20 == 'i' || c-'%' <= '&'-'%' || c == '\\'
}

// lastBackslash returns the start of the last backslash of the run that
// starts at s[j], or j when s[j] starts none. Every backslash of a run starts
// the same escape: trying each after the first has failed would take time
// quadratic in the run.
func lastBackslash(s string, j int) int {
	for {
		c, n := readByte(s[j:])
		next, _ := readByte(s[j+n:])
		if c != '\\' || next != '\\' {
			return j
		}
		j += n
	}
}

// prefixLen returns the length of the "idc_" prefix that starts s, in any
// case and spelling, or 0 when s starts with none.
func prefixLen(s string) int {
	if s == "" || !mayStartKey(s[0]) {
		return 0
	}
	n := 0
	for k := 0; k < len("idc_"); k++ {
		if k > 0 {
			n += skipZeroWidth(s[n:])
		}
		r, m := unit(s[n:])
		if m == 0 || r >= utf8.RuneSelf || lower(byte(r)) != "idc_"[k] {
			return 0
		}
		n += m
	}
	return n
}

// mayContinue reports whether rest, the text after a key literal, may go on
// with more of its characters once the text is no longer cut: it is empty
// but for zero-width characters, or it starts with an escape cut short.
func mayContinue(rest string) bool {
	rest = rest[skipZeroWidth(rest):]
	if rest == "" {
		return true
	}
	if !startsSpelling(rest[0]) {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !isAlnum(c) && !startsSpelling(c) && c != '#' && c != ';' {
			return false
		}
	}
	return true
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
