package idctrace

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSupportTicket: both error types write the same block; a transport
// error shows its cause where a status would be.
func TestSupportTicket(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 10, 4, 5, 123, time.UTC)
	tests := []struct {
		name string
		err  interface{ SupportTicket(string) string }
		want string
	}{
		{"404", &APIError{StatusCode: 404, Message: "Resource not found", RequestID: "req-1", Method: "GET",
			URL: "https://api.identitycall.ai/api/v1/public/recordings/rec_9?page=2&api_key=REDACTED", Route: "/recordings/{id}", Time: at, Attempt: 1},
			`IdentityCall support request
Account:     ops@example.com
Time:        2026-11-25T10:04:05Z
Request ID:  req-1
Request:     GET https://api.identitycall.ai/api/v1/public/recordings/rec_9
Endpoint:    GET /recordings/{id}
Parameters:  page=2, api_key=REDACTED
Status:      404 Not Found
Error:       Resource not found
`},
		{"422 list", &APIError{StatusCode: 422, Errors: []string{"Language is not supported", "External id is too long"},
			RequestID: "req-2", Method: "POST", URL: "https://h/api/v1/public/recordings", Route: "/recordings", Time: at},
			`IdentityCall support request
Account:     ops@example.com
Time:        2026-11-25T10:04:05Z
Request ID:  req-2
Request:     POST https://h/api/v1/public/recordings
Endpoint:    POST /recordings
Status:      422 Unprocessable Entity
Errors:
  - Language is not supported
  - External id is too long
`},
		{"429 after retries", &APIError{StatusCode: 429, Message: "Rate limit exceeded", RetryAfter: time.Minute,
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
		{"502 page", &APIError{StatusCode: 502, Body: "<html>Bad Gateway</html>", RequestID: "req-4", Method: "GET", URL: "https://h/x", Time: at},
			`IdentityCall support request
Account:     ops@example.com
Time:        2026-11-25T10:04:05Z
Request ID:  req-4
Request:     GET https://h/x
Status:      502 Bad Gateway
Body:        <html>Bad Gateway</html>
`},
		{"401 with a hint", &APIError{StatusCode: 401, Message: "Invalid or expired API key", RequestID: "req-5", Method: "GET",
			URL: "https://h/api/v1/public/projects", Route: "/projects", Time: at, Hint: "Send the API key."},
			`IdentityCall support request
Account:     ops@example.com
Time:        2026-11-25T10:04:05Z
Request ID:  req-5
Request:     GET https://h/api/v1/public/projects
Endpoint:    GET /projects
Status:      401 Unauthorized
Error:       Invalid or expired API key
Hint:        Send the API key.
`},
		{"transport error", &TransportError{RequestID: "req-6", Method: "GET", URL: "https://h/api/v1/public/recordings?page=2",
			Route: "/recordings", Time: at, Duration: 30*time.Second + 400*time.Microsecond, Attempt: 3,
			Hint: "No response within 30s: raise the timeout.", Err: context.DeadlineExceeded},
			`IdentityCall support request
Account:     ops@example.com
Time:        2026-11-25T10:04:05Z
Request ID:  req-6
Request:     GET https://h/api/v1/public/recordings
Endpoint:    GET /recordings
Parameters:  page=2
Cause:       context deadline exceeded
Attempts:    3
Waited:      30s
Hint:        No response within 30s: raise the timeout.
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

// TestSupportTicketAfterRetries: a ticket after retries lists every
// attempt, with its time, status, duration and the wait after it, and the
// time the whole call took, waits included.
func TestSupportTicketAfterRetries(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(503, `{"error":"Service unavailable"}`))
	tr := New(srv.Client().Transport, nil, WithRetry(RetryPolicy{MaxRetries: 2, BaseDelay: 20 * time.Millisecond, MaxDelay: time.Second}))
	tr.jitter = func(d time.Duration) time.Duration { return d }
	resp, err := tr.RoundTrip(newRequest(t, "GET", srv.URL+"/api/v1/public/recordings"))
	require.NoError(t, err)
	readAll(t, resp)
	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	ticket := apiErr.SupportTicket("")

	assert.Regexp(t, `(?m)^Attempts:\n`+
		`  1\. \d\d:\d\d:\d\d\.\d{3}  503 Service Unavailable  took \S+, retried after 20ms\n`+
		`  2\. \d\d:\d\d:\d\d\.\d{3}  503 Service Unavailable  took \S+, retried after 40ms\n`+
		`  3\. \d\d:\d\d:\d\d\.\d{3}  503 Service Unavailable  took \S+\n`+
		`Waited: +(\S+)\n`, ticket)
	waited := regexp.MustCompile(`Waited: +(\S+)`).FindStringSubmatch(ticket)[1]
	d, err := time.ParseDuration(waited)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, d, 60*time.Millisecond, "the waits count")
	assert.NotContains(t, ticket, "Attempts:    ")
	assert.Contains(t, ticket, "Time:        "+apiErr.record.history[0].Time.UTC().Format(time.RFC3339)+"\n", "when the call started")
}

// TestSupportTicketWaitedCountsTheFirstQueue: the time the whole call
// took counts its first wait for a rate-limit slot, as it counts the
// waits before its retries (a newcomer's read found it left out).
func TestSupportTicketWaitedCountsTheFirstQueue(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		lim := NewLimiter(1, time.Second)
		require.NoError(t, lim.Wait(context.Background())) // the next slot is 1.05 s away
		tr := New(stubRT{status: 503, body: stringBody(`{"error":"Service unavailable"}`)}, nil, WithLimiter(lim))
		resp, err := tr.RoundTrip(newRequest(t, "GET", "https://api.identitycall.ai/api/v1/public/recordings"))
		require.NoError(t, err)
		var apiErr *APIError
		require.ErrorAs(t, CheckResponse(resp), &apiErr)
		resp.Body.Close()
		assert.Contains(t, apiErr.SupportTicket(""), "\nWaited:      1.05s\n")
	})
}

// TestSupportTicketsAtOnce: the tickets of one failure, after retries,
// rendered at once (the debug page and SupportTicket, say) share nothing
// they write (a review found both appending into the call's history).
func TestSupportTicketsAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := NewRecorder(0)
		tr := New(stubRT{status: 503, body: stringBody(`{"error":"Service unavailable"}`)}, nil, WithRecorder(rec),
			WithRetry(RetryPolicy{MaxRetries: 3, BaseDelay: time.Millisecond, MaxDelay: time.Second, Budget: NewRetryBudget(1, 100)}))
		resp, err := tr.RoundTrip(newRequest(t, "GET", "https://api.identitycall.ai/api/v1/public/recordings"))
		require.NoError(t, err)
		readAll(t, resp)
		var apiErr *APIError
		require.ErrorAs(t, CheckResponse(resp), &apiErr)
		require.Equal(t, 4, apiErr.Attempt)
		tickets := make([]string, 4)
		var wg sync.WaitGroup
		for i := range tickets {
			wg.Go(func() { tickets[i] = apiErr.SupportTicket("") })
		}
		wg.Go(func() {
			page := httptest.NewRecorder()
			rec.ServeHTTP(page, httptest.NewRequest("GET", "/", nil))
		})
		wg.Wait()
		for _, ticket := range tickets {
			assert.Equal(t, tickets[0], ticket)
			assert.Equal(t, 4, strings.Count(ticket, "503 Service Unavailable  took"))
		}
	})
}

// TestSupportTicketHandBuiltHoldsNoKey: the ticket of a hand-built error
// holds no key, in its Route (the Endpoint line) as in every other field.
func TestSupportTicketHandBuiltHoldsNoKey(t *testing.T) {
	t.Parallel()
	route := "/recordings/" + testKey
	for name, ticket := range map[string]string{
		"APIError":       (&APIError{StatusCode: 404, Method: "GET", Route: route}).SupportTicket(""),
		"TransportError": (&TransportError{Method: "GET", Route: route, ErrorType: "timeout"}).SupportTicket(""),
	} {
		assert.NotContains(t, ticket, testKey[4:len(testKey)-4], "%s: the key is in its ticket:\n%s", name, ticket)
	}
}
