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

// Names are compared in a normalized form: lower case, without '-' and
// '_', so that api_key, API-Key and apikey are one name.
var (
	secretNames    = []string{"key", "auth", "sig", "session", "sessionid", "credential", "credentials", "cookie", "setcookie"}
	secretSuffixes = []string{"apikey", "token", "secret", "password", "passwd", "signature", "authorization"}
)

// IsSecretName reports whether a query parameter or header of that name
// holds a secret: api_key, token, password, Authorization, Cookie and the
// like, in any case and with '-' and '_' ignored.
func IsSecretName(name string) bool {
	// The normalized tail of the name, in a fixed buffer: every listed
	// suffix fits, and a name that does not fit is no exact name.
	var buf [32]byte
	n, i := len(buf), len(name)
	for ; i > 0 && n > 0; i-- {
		if c := name[i-1]; c != '-' && c != '_' {
			n--
			buf[n] = lower(c)
		}
	}
	tail := buf[n:]
	for _, suffix := range secretSuffixes {
		if bytes.HasSuffix(tail, []byte(suffix)) {
			return true
		}
	}
	if strings.Trim(name[:i], "-_") != "" {
		return false // longer than any exact name
	}
	for _, exact := range secretNames {
		if string(tail) == exact {
			return true
		}
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
// headers (under any spelling of their names), its cookies' values, its URL
// password and the values of its secret query parameters, each in the forms
// a server may echo. Strings shorter than [MinSecretLen] are left out.
func AppendSecrets(dst []string, req *http.Request) []string {
	add := func(s string) {
		if len(s) >= MinSecretLen {
			dst = append(dst, s)
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
			// "Bearer idc_..." or "Basic dXNlcjpwYXNz": the credential is
			// the secret; replacing it replaces the whole value too.
			scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
			if !ok {
				add(v)
				continue
			}
			cred = strings.TrimSpace(cred)
			add(cred)
			if strings.EqualFold(scheme, "Basic") {
				if userpass, err := base64.StdEncoding.DecodeString(cred); err == nil {
					_, pass, _ := strings.Cut(string(userpass), ":")
					add(pass)
				}
			}
		}
	}
	if u := req.URL; u != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
			add(url.QueryEscape(p))
			add(url.PathEscape(p))
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
