package idctrace

// The README's quick start, run as a user would.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestQuickStartAsWritten runs the README's quick start as a user would:
// the production logger (sampling off, to a file), Client.Timeout, a real
// loopback server over HTTP/1.1 and HTTP/2, `defer resp.Body.Close()` and
// CheckResponse; and the same call by a caller who never reads nor closes
// the body. Each failure gives one JSON line, without caller or stack,
// before Close returns: with its decoded message, or, for the body left
// alone, at the bound with what was read (nothing). The caller reads every
// byte.
func TestQuickStartAsWritten(t *testing.T) {
	t.Parallel()
	const body = `{"error":"Resource not found"}`
	for _, proto := range protocols {
		for _, closes := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/closes=%v", proto, closes), func(t *testing.T) {
				t.Parallel()
				srv := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(404)
					io.WriteString(w, body)
				}))
				path := t.TempDir() + "/app.log"
				cfg := zap.NewProductionConfig()
				cfg.Sampling = nil
				cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
				cfg.EncoderConfig.EncodeDuration = zapcore.StringDurationEncoder
				cfg.OutputPaths = []string{path}
				logger := zap.Must(cfg.Build())
				tr := New(srv.Client().Transport, logger,
					WithLimiter(NewLimiter(60, time.Minute)),
					WithRetry(DefaultRetryPolicy()), WithBodyReadTimeout(100*time.Millisecond))
				client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

				req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+"/api/v1/public/recordings/7", nil)
				req.Header.Set("Authorization", "Bearer "+testKey)
				resp, err := client.Do(req)
				require.NoError(t, err)
				lines := func() []string {
					b, err := os.ReadFile(path)
					require.NoError(t, err)
					return strings.Split(strings.TrimSpace(string(b)), "\n")
				}
				if closes {
					var apiErr *APIError
					require.ErrorAs(t, CheckResponse(resp), &apiErr)
					assert.Equal(t, "Resource not found", apiErr.Message)
					got, err := io.ReadAll(resp.Body)
					require.NoError(t, err)
					assert.Equal(t, body, string(got), "every byte")
					require.NoError(t, resp.Body.Close())
					require.NoError(t, logger.Sync())
				} else {
					t.Cleanup(func() { resp.Body.Close() })
					require.Eventually(t, func() bool { logger.Sync(); return strings.Contains(lines()[0], schema.Failed) },
						10*time.Second, 10*time.Millisecond, "the entry of a body left alone")
				}
				tr.Flush()
				require.NoError(t, logger.Sync())
				l := lines()
				require.Len(t, l, 1)
				var entry map[string]any
				require.NoError(t, json.Unmarshal([]byte(l[0]), &entry))
				assert.Equal(t, schema.Failed, entry["msg"])
				if closes {
					assert.Equal(t, "Resource not found", entry[schema.Error])
				} else {
					assert.NotContains(t, entry, schema.Error, "a body nobody touched has no text in its entry")
					assert.EqualValues(t, 404, entry[schema.Status])
				}
				assert.Equal(t, resp.Request.Header.Get("X-Request-Id"), entry[schema.RequestID])
				assert.NotContains(t, entry, "caller")
				assert.NotContains(t, entry, "stacktrace")
				_, err = time.Parse(time.RFC3339Nano, entry[schema.StartedAt].(string))
				assert.NoError(t, err, "readable times")
				_, err = time.ParseDuration(entry[schema.Duration].(string))
				assert.NoError(t, err, "readable durations")
				assert.NotContains(t, l[0], testKey[4:])
			})
		}
	}
}

// TestQuickStartErrorHoldsNoRawURL: the README's error path, unwrapping the
// *url.Error that client.Do returns, gives an error without the URL as it
// was given (here with an email in the query), with the request ID: after
// a refused connection, and after Client.Timeout, which keeps only the
// text of idctrace's error.
func TestQuickStartErrorHoldsNoRawURL(t *testing.T) {
	t.Parallel()
	refused := "http://" + refusedAddr(t)
	slow := newServer(t, "HTTP/1.1", http.HandlerFunc(hang))
	for _, tt := range []struct {
		name, base string
		timeout    time.Duration
	}{{"refused", refused, 30 * time.Second}, {"Client.Timeout", slow.URL, 50 * time.Millisecond}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := &http.Client{Transport: New(nil, nil), Timeout: tt.timeout}
			req, err := http.NewRequestWithContext(context.Background(), "GET", tt.base+"/api/v1/public/recordings?q=alice@example.com", nil)
			require.NoError(t, err)
			_, err = client.Do(req)
			require.Error(t, err)
			require.Contains(t, err.Error(), "alice@example.com", "client.Do's own error holds the raw URL")
			var urlErr *url.Error
			if errors.As(err, &urlErr) {
				err = urlErr.Err // as the README does
			}
			assert.NotContains(t, err.Error(), "alice@example.com")
			assert.NotEmpty(t, RequestIDFromError(err))
		})
	}
}
