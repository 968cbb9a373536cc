package idctrace

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/identitycall/idctrace/internal/api"
	"github.com/identitycall/idctrace/internal/redact"
)

// findHint returns an instruction for a cause of r the caller can fix
// alone, or "" when none is known for sure: a wrong hint is worse than none.
func (r *record) findHint() string {
	u := cmp.Or(r.sent.URL, &url.URL{}) // &url.URL{}: a response that came without its request
	switch r.status {
	case 0:
		return transportHint(r.errType, r.duration)
	case http.StatusUnauthorized:
		auth, _ := scanHeader(r.sent.Header, "Authorization")
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
		if _, ok := api.Relative(sentPath(u)); !ok && u.Host != "" {
			return "Check the base URL: IdentityCall endpoints are under " +
				"https://api.identitycall.ai/api/v1/public, and this path is not."
		}
	case http.StatusForbidden:
		// Only the documented permission answer: a 403 for a
		// project-scoped key has another cause.
		if strings.HasSuffix(r.message, "permission required") {
			if perm := cmp.Or(r.endpoint.Permission, permissionOf(r.method)); perm != "" {
				return fmt.Sprintf("Use an API key with %s permission: %s needs it. "+
					"Keys and their permissions are set in the dashboard, Settings > API Keys.", perm, r.method)
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

// transportHint returns the hint for a transport error of the class
// errType that took waited.
func transportHint(errType string, waited time.Duration) string {
	switch errType {
	case "name_resolution":
		return "Check the host name of the base URL (" + DefaultBaseURL + "): it did not resolve in DNS."
	case "connection_refused":
		return "Check the base URL and port, and any proxy: nothing accepted the connection."
	case "tls":
		return "Check the base URL and any proxy that intercepts TLS: the server's certificate did not " +
			"verify. Do not turn verification off."
	case "timeout":
		return fmt.Sprintf("No response within %s: raise the timeout (Client.Timeout or the context's "+
			"deadline) or try again later.", waited.Round(time.Millisecond))
	case "local_rate_limit":
		return "Not sent: the client held the request back to stay under the rate limit, and no slot came " +
			"before the request's deadline. The server never saw it. Allow more time, or send less."
	}
	return ""
}

// errorType classifies a transport error's cause, as OpenTelemetry's
// error.type would: one short list for the hints, the storm limit's kinds,
// TransportError.ErrorType and idcotel's metrics.
func errorType(err error) string {
	var timeout interface{ Timeout() bool }
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrLocalRateLimit):
		return "local_rate_limit"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &timeout) && timeout.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case has[*net.DNSError](err):
		return "name_resolution"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case has[*tls.CertificateVerificationError](err), has[x509.UnknownAuthorityError](err),
		has[x509.CertificateInvalidError](err), has[x509.HostnameError](err):
		return "tls"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_reset"
	}
	return "_OTHER"
}

// has reports whether err's tree holds an error of type E, as [errors.As]
// finds it.
func has[E error](err error) bool {
	_, ok := errors.AsType[E](err)
	return ok
}
