package redact

import (
	"net/url"
	"strings"
)

// URL renders u for a log line or an error. User info and the fragment are
// dropped; a query value is kept only when logged reports its parameter
// safe to log, its name is not secret, and it holds neither a key nor one
// of secrets, and becomes REDACTED otherwise. Keys are masked and secrets
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
	for p := range strings.SplitSeq(u.RawQuery, "&") {
		if k, v, _ := strings.Cut(p, "="); !safeParam(k, v, logged, secrets) {
			return false
		}
	}
	return true
}

// safeParam reports whether the raw query parameter k=v prints as is.
func safeParam(k, v string, logged func(string) bool, secrets []string) bool {
	if strings.ContainsAny(k, "%+") || HasKey(k) || containsSecret(k, secrets) {
		return false // a name to decode or mask
	}
	return v == "" || logged != nil && logged(k) && !IsSecretName(k) && !hasSecret(QueryUnescape(v), secrets)
}

// hasSecret reports whether a decoded value holds a key or a secret.
func hasSecret(v string, secrets []string) bool {
	return HasKey(v) || containsSecret(v, secrets)
}

// part redacts a decoded URL part.
func part(s string, secrets []string) string {
	return MaskKeys(replaceSecrets(s, secrets))
}

// query redacts a raw query, keeping the order of its parameters and the
// encoding of the values it keeps.
func query(raw string, logged func(string) bool, secrets []string) string {
	if raw == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(raw))
	for p := range strings.SplitSeq(raw, "&") {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		k, v, hasValue := strings.Cut(p, "=")
		if safeParam(k, v, logged, secrets) {
			b.WriteString(p)
			continue
		}
		name := QueryUnescape(k)
		b.WriteString(url.QueryEscape(part(name, secrets)))
		if !hasValue {
			continue
		}
		b.WriteByte('=')
		if v != "" && logged != nil && logged(name) && !IsSecretName(name) && !hasSecret(QueryUnescape(v), secrets) {
			b.WriteString(v)
		} else if v != "" {
			b.WriteString(Redacted)
		}
	}
	return b.String()
}
