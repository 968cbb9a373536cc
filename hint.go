package idctrace

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/identitycall/idctrace/internal/api"
	"github.com/identitycall/idctrace/internal/redact"
)

// findHint returns an instruction for a cause of f the caller can fix
// alone, or "" when none is known for sure: a wrong hint is worse than none.
func (f *failure) findHint(e api.Endpoint, documented bool) string {
	u := f.sent.URL
	if u == nil {
		u = &url.URL{} // a response that came without its request
	}
	switch f.status {
	case 0:
		return transportHint(f.err, f.duration)
	case http.StatusUnauthorized:
		auth, _, _ := scanHeader(f.sent.Header, "Authorization")
		switch {
		case len(auth) > 0 && strings.TrimSpace(auth[0]) != "":
			if !validAuthorization(auth[0]) {
				return "Check the Authorization header: it must be \"Bearer \" followed by the API key, " +
					"idc_ and 32 letters and digits, with nothing around them."
			}
		case u.User != nil:
			return "Check the Authorization header: it must be \"Bearer \" followed by the API key; " +
				"user info in the URL sends Basic credentials instead."
		default:
			return "Send the API key: the request had no Authorization header. Set it to \"Bearer idc_...\" " +
				"on every request; http.Client drops it when a redirect leads to another host."
		}
	case http.StatusNotFound:
		if _, ok := api.Relative(u.Path); !ok && u.Host != "" {
			return "Check the base URL: IdentityCall endpoints are under " +
				"https://api.identitycall.ai/api/v1/public, and this path is not."
		}
	case http.StatusForbidden:
		// Only the documented permission answer: a 403 for a
		// project-scoped key has another cause.
		if strings.HasSuffix(f.message, "permission required") {
			perm := e.Permission
			if !documented {
				perm = permissionOf(f.method)
			}
			if perm != "" {
				return fmt.Sprintf("Use an API key with %s permission: %s needs it. "+
					"Keys and their permissions are set in the dashboard, Settings > API Keys.", perm, f.method)
			}
		}
	}
	return ""
}

// validAuthorization reports whether v is "Bearer idc_" and 32 letters and
// digits.
func validAuthorization(v string) bool {
	scheme, key, ok := strings.Cut(v, " ")
	return ok && strings.EqualFold(scheme, "Bearer") && redact.IsKey(key)
}

// permissionOf is the permission the API asks of a method.
func permissionOf(method string) api.Permission {
	switch method {
	case http.MethodGet, http.MethodHead:
		return api.Read
	case http.MethodPost, http.MethodPatch, http.MethodPut:
		return api.Write
	case http.MethodDelete:
		return api.Delete
	}
	return ""
}

// transportHint returns the hint for a transport error that took waited.
func transportHint(err error, waited time.Duration) string {
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
	)
	switch {
	case errors.As(err, &dnsErr):
		return "Check the host name of the base URL (https://api.identitycall.ai/api/v1/public): " +
			"it did not resolve in DNS."
	case errors.Is(err, syscall.ECONNREFUSED):
		return "Check the base URL and port, and any proxy: nothing accepted the connection."
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &host):
		return "Check the base URL and any proxy that intercepts TLS: the server's certificate did not " +
			"verify. Do not turn verification off."
	case isTimeout(err):
		return fmt.Sprintf("No response within %s: raise the timeout (Client.Timeout or the context's "+
			"deadline) or try again later.", waited.Round(time.Millisecond))
	}
	return ""
}
