package ticket

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var at = time.Date(2026, 3, 1, 14, 0, 1, 234_567_891, time.UTC)

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ticket Ticket
		want   string
	}{
		{"empty", Ticket{}, "IdentityCall support request\n"},
		{"every field, attempts as a block", Ticket{
			Account: "ops@example.com", Time: at, RequestID: "req-1", Method: "GET",
			URL:   "https://api.identitycall.ai/api/v1/public/recordings/rec_1?page=2&per_page=5",
			Route: "/recordings/{id}", Status: "404 Not Found", Message: "Resource not found",
			Errors: []string{"one", "two"}, RetryAfter: "30s",
			Attempts: []Attempt{
				{Time: at, Outcome: "503 Service Unavailable", Duration: 1500 * time.Microsecond, RetryIn: 20 * time.Millisecond},
				{Time: at.Add(25 * time.Millisecond), Outcome: "connection_reset", Duration: 850 * time.Microsecond, Queued: 3 * time.Millisecond, RetryIn: 40 * time.Millisecond},
				{Time: at.Add(70 * time.Millisecond), Outcome: "404 Not Found", Duration: 2 * time.Second},
			},
			Count: 3, Waited: 2070*time.Millisecond + 400*time.Microsecond,
			Body: "<html>", Hint: "Check the ID.",
		}, `IdentityCall support request
Account:     ops@example.com
Time:        2026-03-01T14:00:01Z
Request ID:  req-1
Request:     GET https://api.identitycall.ai/api/v1/public/recordings/rec_1
Endpoint:    GET /recordings/{id}
Parameters:  page=2, per_page=5
Status:      404 Not Found
Error:       Resource not found
Errors:
  - one
  - two
Retry after: 30s
Attempts:
  1. 14:00:01.234  503 Service Unavailable  took 2ms, retried after 20ms
  2. 14:00:01.259  connection_reset  took 850µs, queued 3ms, retried after 40ms
  3. 14:00:01.304  404 Not Found  took 2s
Waited:      2.07s
Body:        <html>
Hint:        Check the ID.
`},
		{"attempts numbered as given, the missing ones left out; waits that round to nothing too", Ticket{RequestID: "req-2", Attempts: []Attempt{
			{N: 2, Time: at, Outcome: "500 Internal Server Error", Duration: time.Millisecond, RetryIn: time.Second},
			{N: 3, Time: at.Add(time.Second), Outcome: "500 Internal Server Error", Duration: time.Millisecond, Queued: 300 * time.Nanosecond},
		}, Count: 3, Waited: 400 * time.Nanosecond}, `IdentityCall support request
Request ID:  req-2
Attempts:
  2. 14:00:01.234  500 Internal Server Error  took 1ms, retried after 1s
  3. 14:00:02.234  500 Internal Server Error  took 1ms
`},
		{"one attempt known: the count", Ticket{RequestID: "req-3", Cause: "not sent: the wait before attempt 3 ended: context canceled",
			Attempts: []Attempt{{N: 3, Time: at, Outcome: "canceled"}}, Count: 3, Waited: 40 * time.Microsecond}, `IdentityCall support request
Request ID:  req-3
Cause:       not sent: the wait before attempt 3 ended: context canceled
Attempts:    3
Waited:      40µs
`},
		{"one attempt: neither", Ticket{RequestID: "req-4", Attempts: []Attempt{{Time: at, Outcome: "401 Unauthorized"}}, Count: 1},
			"IdentityCall support request\nRequest ID:  req-4\n"},
		{"a storm summary, no URL", Ticket{Time: at, RequestID: "req-5", Method: "GET", Route: "/recordings/{id}", Cause: "connection_refused",
			Summary: &Summary{Count: 1234, FirstAt: at, LastAt: at.Add(700 * time.Millisecond), FirstID: "req-5", LastID: "req-9"}}, `IdentityCall support request
Time:        2026-03-01T14:00:01Z
Request ID:  req-5
Endpoint:    GET /recordings/{id}
Cause:       connection_refused
Summarized:  one of 1234 failures of this kind counted from 14:00:01.234 to 14:00:01.934Z, not logged one by one (first req-5, last req-9)
`},
		{"a method without a URL or a route", Ticket{Method: "GET", Status: "500 Internal Server Error"},
			"IdentityCall support request\nRequest:     GET\nStatus:      500 Internal Server Error\n"},
		{"decoded parameters have their keys masked", Ticket{Method: "GET",
			URL: "https://h/x?q=%69dc_abcdefghijklmnopqrstuvwxyzABWXYZ&n%61me=a+b%2Cc&flag"}, `IdentityCall support request
Request:     GET https://h/x
Parameters:  q=idc_****WXYZ, name=a b,c, flag=
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.ticket.String())
		})
	}
}

// TestStringKeepsValuesOnTheirLines: whatever a value holds, it cannot add
// a line to the ticket or carry a control character into it.
func TestStringKeepsValuesOnTheirLines(t *testing.T) {
	t.Parallel()
	tests := []struct{ value, want string }{
		{"a\nInjected: line", "a Injected: line"},
		{"a\r\nb", "a  b"},
		{"tab\there", "tab here"},
		{"nul\x00", "nul\uFFFD"},
		{"esc\x1b[31mred", "esc\uFFFD[31mred"},
		{"del\x7f", "del\uFFFD"},
		{"next line\u0085", "next line\uFFFD"},
		{"bad utf8 \xff\xfe", "bad utf8 \uFFFD"},
		{"line sep\u2028ok", "line sep ok"},
		{"para sep\u2029ok", "para sep ok"},
		{"accents é ok", "accents é ok"},
	}
	for _, tt := range tests {
		v := tt.value
		tk := Ticket{
			Account: v, Time: at, RequestID: v, Method: v, URL: "https://h/" + v + "?p=" + v, Route: v,
			Status: v, Cause: v, Message: v, Errors: []string{v, v}, RetryAfter: v,
			Attempts: []Attempt{{Time: at, Outcome: v}, {Time: at, Outcome: v}},
			Waited:   time.Second, Body: v, Hint: v,
			Summary: &Summary{Count: 2, FirstAt: at, LastAt: at, FirstID: v, LastID: v},
		}
		got := tk.String()
		// The header, 14 labelled lines, "Errors:" and 2 items, "Attempts:" and 2 items.
		assert.Equal(t, 1+14+3+3, strings.Count(got, "\n"), "%q:\n%s", v, got)
		assert.Contains(t, got, "\nHint:        "+tt.want+"\n", "%q", v)
		assert.Contains(t, got, "\n  - "+tt.want+"\n", "%q", v)
		assert.Contains(t, got, "\n  2. 14:00:01.234  "+tt.want+"  took 0s\n", "%q", v)
		for _, r := range strings.TrimSuffix(got, "\n") {
			assert.False(t, r < 0x20 && r != '\n' || r == 0x7f || 0x80 <= r && r < 0xa0 || r == '\u2028' || r == '\u2029',
				"%q: control character or line break %U", v, r)
		}
		assert.True(t, strings.ToValidUTF8(got, "") == got, "%q: invalid UTF-8", v)
	}
}
