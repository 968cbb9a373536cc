package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReviewTicketRedactsTheLogsURL: `idctrace ticket` says "Everything
// printed is redacted", but it passes the logged URL through clean
// (redact.Text: keys and control characters) only. A log written before
// this round's fixes (the value after ';' was logged in clear: issue 17),
// or by another tool with the same message, puts a secret query value
// into the ticket the user pastes into a support request; redact.URL
// would have removed it.
func TestReviewTicketRedactsTheLogsURL(t *testing.T) {
	t.Parallel()
	const secret = "PlainSecretValue1234"
	line := `{"level":"warn","ts":1764463430.5,"msg":"identitycall request failed","request_id":"rid-review-1",` +
		`"method":"GET","url":"https://api.identitycall.ai/api/v1/public/recordings?page=1;api_key=` + secret +
		`&access_token=` + secret + `","route":"/recordings","status":404,"duration":0.01,` +
		`"started_at":1764463430.49,"attempt":1,"error":"Resource not found"}` + "\n"
	code, out, stderr := runCLI(t, nil, line, "ticket", "-email", "ops@example.com", "rid-review-1")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "rid-review-1")
	assert.NotContains(t, out, secret)
}
