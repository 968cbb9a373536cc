package idctrace

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// redacted replaces the value of a secret query parameter or a known secret.
const redacted = "REDACTED"

// minSecretLen is the shortest per-request secret (a URL password, a secret
// query value, a credential header) that is searched for in logged text.
// Shorter strings would mask innocent words and reveal next to nothing.
const minSecretLen = 4

// keyTail is the number of trailing key characters a masked key keeps, and
// minTailedKey the length a key needs before any of them is shown.
const (
	keyTail      = 4
	minTailedKey = 12
)

// maskKeys masks every IdentityCall key literal in s: "idc_" (in any case,
// or escaped as "idc%5F" or "idc\u005f") followed by key characters becomes
// "idc_****" plus the key's last four characters, or nothing of the key when
// it is shorter than 12 characters. s is returned as is when it holds no key.
func maskKeys(s string) string {
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
		if end-start >= minTailedKey {
			b.WriteString(s[end-keyTail : end])
		}
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

// hasKey reports whether s holds an IdentityCall key literal.
func hasKey(s string) bool {
	i, _, _ := nextKey(s, 0)
	return i >= 0
}

// nextKey finds the first key literal in s[from:]: s[i:start] is its "idc_"
// prefix and s[start:end] the key characters after it. i is -1 when there is
// none. It looks for the rare separator first and then back for "idc",
// which is faster on URLs and messages full of i's.
func nextKey(s string, from int) (i, start, end int) {
	for j := from + 3; j < len(s); j++ {
		k := strings.IndexAny(s[j:], `_%\`)
		if k < 0 {
			break
		}
		j += k
		sep := keySeparator(s[j-3:])
		if sep == 0 {
			continue
		}
		start = j - 3 + sep
		end = start
		// A key ends where another "idc_" begins: otherwise the tail a mask
		// shows could join the text after it into a new, unmasked key.
		for end < len(s) && isKeyChar(s[end]) && (end == start || keySeparator(s[end:]) == 0) {
			end++
		}
		if end > start {
			return j - 3, start, end
		}
	}
	return -1, 0, 0
}

// keySeparator returns the length of the "idc_" prefix that starts s, in any
// case and with the underscore possibly percent- or JSON-escaped, or 0.
func keySeparator(s string) int {
	if len(s) < 4 || !strings.EqualFold(s[:3], "idc") {
		return 0
	}
	rest := s[3:]
	switch {
	case rest[0] == '_':
		return 4
	case len(rest) >= 3 && strings.EqualFold(rest[:3], "%5f"):
		return 6
	case len(rest) >= 6 && strings.EqualFold(rest[:6], `\u005f`):
		return 9
	}
	return 0
}

func isKeyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// isSecretName reports whether a query parameter or header of that name
// holds a secret. Names compare case-insensitively with '-' and '_' ignored,
// so api_key, API-Key and apikey are one name.
func isSecretName(name string) bool {
	// Normalize the name's tail into a stack buffer, from the end: suffixes
	// need no more, and no exact name is longer.
	var buf [24]byte
	n, i := len(buf), len(name)
	for ; i > 0 && n > 0; i-- {
		if c := name[i-1]; c != '-' && c != '_' {
			n--
			buf[n] = lower(c)
		}
	}
	tail := string(buf[n:]) // does not escape: no allocation
	if tail == "" {
		return false
	}
	exact := onlySeparators(name[:i])
	// Dispatch on the last letter: at most three comparisons per name.
	switch tail[len(tail)-1] {
	case 'y':
		return strings.HasSuffix(tail, "apikey") || exact && tail == "key"
	case 'n':
		return strings.HasSuffix(tail, "token") || strings.HasSuffix(tail, "authorization") || exact && tail == "session"
	case 't':
		return strings.HasSuffix(tail, "secret")
	case 'd':
		return strings.HasSuffix(tail, "password") || strings.HasSuffix(tail, "passwd") || exact && tail == "sessionid"
	case 'e':
		return strings.HasSuffix(tail, "signature")
	case 'g':
		return exact && tail == "sig"
	case 'h':
		return exact && tail == "auth"
	case 'l', 's':
		return exact && (tail == "credential" || tail == "credentials")
	}
	return false
}

func onlySeparators(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// redactURL renders u for a log line or an error: without userinfo or
// fragment, with the values of secret query parameters replaced by REDACTED,
// and with every key literal masked.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	if u.User == nil && u.Fragment == "" && u.Opaque == "" && querySafe(u.RawQuery) {
		// The common case: only a key in the path could need masking, and
		// maskKeys finds it in the string, escaped or not.
		return maskKeys(u.String())
	}
	c := *u
	c.User = nil
	c.Fragment, c.RawFragment = "", ""
	c.Opaque = maskKeys(c.Opaque)
	if p := maskKeys(c.Path); p != c.Path {
		// Masking the escaped form too keeps "****" readable, not "%2A%2A%2A%2A".
		c.Path, c.RawPath = p, maskKeys(u.EscapedPath())
	}
	c.RawQuery = redactQuery(c.RawQuery)
	return maskKeys(c.String())
}

// isSecretParam reports whether the raw query parameter k=v is secret: its
// name is, or its decoded value holds a key.
func isSecretParam(k, v string) bool {
	return isSecretName(unescapeQuery(k)) || hasKey(unescapeQuery(v))
}

// querySafe reports whether a raw query holds no secret parameter.
func querySafe(raw string) bool {
	for part := range strings.SplitSeq(raw, "&") {
		if k, v, _ := strings.Cut(part, "="); isSecretParam(k, v) {
			return false
		}
	}
	return true
}

// redactQuery replaces the value of every secret parameter in a raw query,
// keeping the order and encoding of the others.
func redactQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(raw))
	for part := range strings.SplitSeq(raw, "&") {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		k, v, hasEq := strings.Cut(part, "=")
		if isSecretParam(k, v) {
			b.WriteString(maskKeys(k))
			b.WriteString("=" + redacted)
			continue
		}
		b.WriteString(maskKeys(k))
		if hasEq {
			b.WriteByte('=')
			b.WriteString(v)
		}
	}
	return b.String()
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// requestSecrets appends to out the strings of req that must not appear in
// a log line: credentials from the usual credential headers, the URL
// password and the values of secret query parameters.
func requestSecrets(req *http.Request, out []string) []string {
	add := func(s string) {
		if len(s) >= minSecretLen {
			out = append(out, s)
		}
	}
	// A fixed list of canonical names, looked up directly: iterating the
	// header map through isSecretName cost more than all the rest here.
	for _, name := range [...]string{"Authorization", "Proxy-Authorization", "X-Api-Key", "Api-Key", "X-Auth-Token", "X-Access-Token"} {
		for _, v := range req.Header[name] {
			// "Bearer idc_..." or "Basic dXNlcjpwYXNz": the credential is
			// the secret; masking it masks the whole value too.
			if _, cred, ok := strings.Cut(v, " "); ok {
				v = strings.TrimSpace(cred)
			}
			add(v)
		}
	}
	if u := req.URL; u != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
			add(url.QueryEscape(p))
		}
		for part := range strings.SplitSeq(u.RawQuery, "&") {
			k, v, _ := strings.Cut(part, "=")
			if isSecretName(unescapeQuery(k)) {
				add(v)
				add(unescapeQuery(v))
			}
		}
	}
	return out
}

// sanitize makes untrusted text safe to log: invalid UTF-8 becomes U+FFFD,
// line breaks and tabs become spaces, other control characters become
// U+FFFD, key literals are masked and the given secrets become REDACTED.
func sanitize(s string, secrets []string) string {
	if needsCleaning(s) {
		s = strings.Map(func(r rune) rune {
			switch {
			case r == '\n' || r == '\r' || r == '\t':
				return ' '
			case r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0:
				return utf8.RuneError
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
	}
	s = maskKeys(s)
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

func needsCleaning(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return true
		}
	}
	return false
}
