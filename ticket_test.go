package idctrace

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSupportTicket(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 10, 4, 5, 123, time.UTC)
	tests := []struct {
		name string
		err  APIError
		want string
	}{
		{"404", APIError{StatusCode: 404, Message: "Resource not found", RequestID: "req-1", Method: "GET",
			URL: "https://api.identitycall.ai/api/v1/public/recordings/rec_9?page=2&api_key=REDACTED", Time: at, Attempt: 1},
			`IdentityCall support request
Account:     ops@example.com
Time:        2026-11-25T10:04:05Z
Request ID:  req-1
Request:     GET https://api.identitycall.ai/api/v1/public/recordings/rec_9
Parameters:  page=2, api_key=REDACTED
Status:      404 Not Found
Error:       Resource not found
`},
		{"422 list", APIError{StatusCode: 422, Errors: []string{"Language is not supported", "External id is too long"},
			RequestID: "req-2", Method: "POST", URL: "https://h/api/v1/public/recordings", Time: at},
			`IdentityCall support request
Account:     ops@example.com
Time:        2026-11-25T10:04:05Z
Request ID:  req-2
Request:     POST https://h/api/v1/public/recordings
Status:      422 Unprocessable Entity
Errors:
  - Language is not supported
  - External id is too long
`},
		{"429 after retries", APIError{StatusCode: 429, Message: "Rate limit exceeded", RetryAfter: time.Minute,
			RequestID: "req-3", Method: "GET", URL: "https://h/x", Time: at, Attempt: 4},
			`IdentityCall support request
Account:     ops@example.com
Time:        2026-11-25T10:04:05Z
Request ID:  req-3
Request:     GET https://h/x
Status:      429 Too Many Requests
Error:       Rate limit exceeded
Retry after: 1m0s
Attempts:    4
`},
		{"502 page", APIError{StatusCode: 502, Body: "<html>Bad Gateway</html>", RequestID: "req-4", Method: "GET", URL: "https://h/x", Time: at},
			`IdentityCall support request
Account:     ops@example.com
Time:        2026-11-25T10:04:05Z
Request ID:  req-4
Request:     GET https://h/x
Status:      502 Bad Gateway
Body:        <html>Bad Gateway</html>
`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.err.SupportTicket("ops@example.com"), tt.name)
	}
}

func TestSupportTicketRedacts(t *testing.T) {
	t.Parallel()
	// A ticket from a real failure, whose URL, message and body all held keys.
	srv := newScripted(t, reply(401, `{"error":"Key `+testKey+` was revoked"}`))
	client := WrapClient(srv.Client(), nil)
	resp, err := client.Get(srv.URL + "/api/v1/public/recordings/" + testKey + "?token=" + testKey + "&page=3")
	require.NoError(t, err)
	readAll(t, resp)
	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)

	ticket := apiErr.SupportTicket("ops@example.com\nInjected: line")
	assert.NotContains(t, ticket, testKey[4:len(testKey)-4])
	assert.Contains(t, ticket, "idc_****"+testKey[len(testKey)-4:])
	assert.Contains(t, ticket, "Parameters:  token=REDACTED, page=3")
	assert.Contains(t, ticket, "Account:     ops@example.com Injected: line\n", "no field can add a line")
	assert.Contains(t, ticket, "Request ID:  "+srv.seenIDs()[0])

	// A hand-built error gets the same treatment.
	hand := (&APIError{StatusCode: 500, Message: "boom " + testKey}).SupportTicket("")
	assert.NotContains(t, hand, testKey[4:len(testKey)-4])
	assert.NotContains(t, hand, "Account:")
	assert.Equal(t, 1, strings.Count(hand, "Error:"))
	assert.NotContains(t, hand, http.StatusText(200))
}
