package redact

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// MinSecretLen is the length of the shortest secret searched for in text.
// Shorter strings would mask innocent words and reveal next to nothing.
const MinSecretLen = 4

// IsSecretName reports whether a query parameter or header of that name
// holds a secret: a name ending in apikey, token, secret, password, passwd,
// signature or authorization, in any case and with '-' and '_' ignored
// (access_token, ClientSecret), and a name one of whose words is key(s),
// token(s), secret(s), auth, authentication, sig, session, sessionid,
// credential(s) or cookie (X-IdentityCall-Key, Set-Cookie). Words are split
// at anything but a letter or digit and where a lower-case letter meets an
// upper-case one; "keyboard" and "monkey" are one word, and no secret.
// Idempotency-Key is no secret either: it names a request, as a request ID
// does, grants nothing, and a server's "key already used" must show it.
func IsSecretName(name string) bool {
	// The normalized tail of the name (lower case, without '-' and '_'),
	// in a fixed buffer: every suffix below fits.
	var buf [32]byte
	n := len(buf)
	for i := len(name); i > 0 && n > 0; i-- {
		if c := name[i-1]; c != '-' && c != '_' {
			n--
			buf[n] = lower(c)
		}
	}
	tail := buf[n:]
	for _, suffix := range [...]string{"apikey", "token", "secret", "password", "passwd", "signature", "authorization"} {
		if bytes.HasSuffix(tail, []byte(suffix)) {
			return true
		}
	}
	if bytes.HasSuffix(tail, []byte("idempotencykey")) {
		return false
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		var sep, camel bool
		if i < len(name) {
			sep = !isAlnum(name[i])
			camel = i > 0 && 'A' <= name[i] && name[i] <= 'Z' && 'a' <= name[i-1] && name[i-1] <= 'z'
		}
		if i == len(name) || sep || camel {
			if secretWord(name[start:i]) {
				return true
			}
			start = i
			if sep {
				start++
			}
		}
	}
	return false
}

// secretWord reports whether w, a word of a name, says that the name holds
// a secret.
func secretWord(w string) bool {
	var buf [len("authentication")]byte
	if len(w) < 3 || len(w) > len(buf) {
		return false
	}
	for i := 0; i < len(w); i++ {
		buf[i] = lower(w[i])
	}
	switch string(buf[:len(w)]) {
	case "key", "keys", "token", "tokens", "secret", "secrets", "auth", "authentication",
		"sig", "session", "sessionid", "credential", "credentials", "cookie", "setcookie":
		return true
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// AppendSecrets appends to dst the strings of req that must appear in no
// output, and returns the extended slice: the credentials in its secret
// headers (under any spelling of their names; for Basic, the user name and
// the password too), its cookies' values, its URL's user name and password
// and the values of its secret query parameters, each in the forms a server
// may echo, and the 32 characters after "idc_" of any key among them.
// Strings shorter than [MinSecretLen] are left out.
func AppendSecrets(dst []string, req *http.Request) []string {
	add := func(s string) {
		if len(s) >= MinSecretLen {
			dst = append(dst, s)
		}
		if len(s) == len("idc_")+keyLen && strings.EqualFold(s[:4], "idc_") && wholeKey(s[4:]) {
			dst = append(dst, s[4:]) // the key echoed without its prefix
		}
	}
	addEscaped := func(s string) {
		add(s)
		if q := url.QueryEscape(s); q != s {
			add(q)
		}
		if p := url.PathEscape(s); p != s && p != url.QueryEscape(s) {
			add(p)
		}
	}
	for name, values := range req.Header {
		if !IsSecretName(name) {
			continue
		}
		cookie := strings.EqualFold(name, "Cookie")
		for _, v := range values {
			if cookie {
				for part := range strings.SplitSeq(v, ";") {
					_, value, _ := strings.Cut(part, "=")
					add(strings.TrimSpace(value))
				}
				continue
			}
			// "Bearer idc_..." or "Basic dXNlcjpwYXNz", with any run of
			// blanks between: the credential is the secret; replacing it
			// replaces the whole value too.
			v = strings.Trim(v, blanks)
			i := strings.IndexAny(v, blanks)
			if i < 0 {
				add(v)
				continue
			}
			scheme, cred := v[:i], strings.TrimLeft(v[i:], blanks)
			add(cred)
			if strings.EqualFold(scheme, "Basic") {
				userpass, err := base64.StdEncoding.DecodeString(cred)
				if err != nil {
					userpass, err = base64.RawStdEncoding.DecodeString(cred)
				}
				if err == nil {
					user, pass, _ := strings.Cut(string(userpass), ":")
					add(user) // some APIs take the token as the user name
					add(pass)
				}
			}
		}
	}
	if u := req.URL; u != nil {
		if u.User != nil {
			addEscaped(u.User.Username())
		}
		if p, ok := u.User.Password(); ok {
			addEscaped(p)
		}
		for rest, more := u.RawQuery, true; more; {
			var p string
			p, _, rest, more = cutParam(rest)
			k, v, _ := strings.Cut(p, "=")
			if IsSecretName(QueryUnescape(k)) {
				add(v)
				add(QueryUnescape(v))
			}
		}
	}
	return dst
}

// blanks separate an authorization scheme from its credential.
const blanks = " \t"

// QueryUnescape decodes a query component, or returns it as is when it is
// not validly escaped.
func QueryUnescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// containsSecret reports whether s holds one of secrets.
func containsSecret(s string, secrets []string) bool {
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			return true
		}
	}
	return false
}
