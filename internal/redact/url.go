package redact

import (
	"net/url"
	"strings"
)

// URL renders u for a log line or an error. User info and the fragment are
// dropped; the query is cut into parameters at '&' and ';', and a value is
// kept only when logged reports its parameter safe to log, its name is not
// secret, and it holds neither a key nor one of secrets, and becomes
// REDACTED otherwise. Keys are masked and secrets
// replaced in the decoded form of every part, so no escaping hides them.
// A nil logged keeps no value.
func URL(u *url.URL, logged func(name string) bool, secrets []string) string {
	if u == nil {
		return ""
	}
	if clean(u, logged, secrets) {
		return u.String() // the common case: one allocation, all an observer may add to a success
	}
	c := url.URL{Scheme: u.Scheme, Host: part(u.Host, secrets)}
	path, rawPath := u.Path, u.RawPath
	if u.Opaque != "" {
		// An opaque URL is sent as is; it may hold user info ("//u:p@h/x").
		path, rawPath = "/"+Redacted, ""
		if o, err := url.Parse(u.Opaque); err == nil && o.Scheme == "" && o.Opaque == "" {
			path = "/" + strings.TrimPrefix(o.Path, "/")
		}
	}
	if c.Path = part(path, secrets); c.Path == path {
		c.RawPath = rawPath // unchanged: keep its escaping
	}
	if c.Host == "" && strings.HasPrefix(c.Path, "//") {
		// Without a host, "//x@y" would read back as user info and a host.
		c.Path, c.RawPath = "/"+strings.TrimLeft(c.Path, "/"), ""
	}
	c.RawQuery = query(u.RawQuery, logged, secrets)
	// A masked key keeps its stars readable, not "%2A%2A%2A%2A".
	return strings.ReplaceAll(c.String(), "%2A", "*")
}

// clean reports whether u prints as is: nothing in it to drop, mask or
// replace.
func clean(u *url.URL, logged func(string) bool, secrets []string) bool {
	if u.User != nil || u.Fragment != "" || u.RawFragment != "" || u.Opaque != "" || u.RawPath != "" ||
		HasKey(u.Host) || HasKey(u.Path) || containsSecret(u.Host, secrets) || containsSecret(u.Path, secrets) {
		return false
	}
	for rest, more := u.RawQuery, true; more; {
		var p string
		p, _, rest, more = cutParam(rest)
		if k, v, _ := strings.Cut(p, "="); !plainName(k, secrets) || !keptValue(k, v, logged, secrets) {
			return false
		}
	}
	return true
}

// cutParam cuts the first parameter off a raw query. The separator is '&'
// or ';': Go's servers refuse ';', but others (Rack, PHP configured so)
// read "page=1;api_key=..." as two parameters, so a secret may follow
// either. sep is the separator found, and more reports that there was one.
func cutParam(raw string) (param string, sep byte, rest string, more bool) {
	i := strings.IndexAny(raw, "&;")
	if i < 0 {
		return raw, 0, "", false
	}
	return raw[:i], raw[i], raw[i+1:], true
}

// plainName reports whether the raw parameter name k prints as is: nothing
// in it to decode, mask or replace.
func plainName(k string, secrets []string) bool {
	return !strings.ContainsAny(k, "%+") && !HasKey(k) && !containsSecret(k, secrets)
}

// keptValue is the one rule for query values: the raw value v of the
// parameter name is printed as is when it is empty, or when logged reports
// the parameter safe to log, its name is not secret, and its decoded value
// holds neither a key nor one of secrets. Any other value is REDACTED.
func keptValue(name, v string, logged func(string) bool, secrets []string) bool {
	return v == "" || logged != nil && logged(name) && !IsSecretName(name) && !hasSecret(QueryUnescape(v), secrets)
}

// hasSecret reports whether a decoded value holds a key or a secret.
func hasSecret(v string, secrets []string) bool {
	return HasKey(v) || containsSecret(v, secrets)
}

// part redacts a decoded URL part.
func part(s string, secrets []string) string {
	return secretsAndKeys(s, secrets, false)
}

// query redacts a raw query, keeping the order of its parameters and the
// encoding of the values it keeps.
func query(raw string, logged func(string) bool, secrets []string) string {
	if raw == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(raw))
	for rest, more := raw, true; more; {
		var p string
		var sep byte
		p, sep, rest, more = cutParam(rest)
		k, v, hasValue := strings.Cut(p, "=")
		name := k
		if !plainName(k, secrets) {
			name = QueryUnescape(k)
			k = url.QueryEscape(part(name, secrets))
		}
		b.WriteString(k)
		if hasValue {
			b.WriteByte('=')
			if keptValue(name, v, logged, secrets) {
				b.WriteString(v)
			} else {
				b.WriteString(Redacted)
			}
		}
		if more {
			b.WriteByte(sep)
		}
	}
	return b.String()
}
