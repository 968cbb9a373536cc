package idcredis

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestReviewFailOpenWarningHoldsNoRedisPassword: a common mistake, a
// Redis URL given as Addr, makes go-redis's dial error quote the address,
// password included; idcredis wraps it ("idcredis: Redis: ..."), and the
// Transport writes it in its fail-open warning through redact.Text, which
// does not know URL passwords. The password is then in the service's logs
// once a minute for as long as the store is "down".
func TestReviewFailOpenWarningHoldsNoRedisPassword(t *testing.T) {
	t.Parallel()
	const password = "Sup3rS3cretRedisPass"
	rdb := redis.NewClient(&redis.Options{Addr: "redis://default:" + password + "@127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	core, logs := observer.New(zap.DebugLevel)
	tr := idctrace.New(srv.Client().Transport, zap.New(core), idctrace.WithLimiter(NewLimiter(rdb, "quota", 60, time.Minute)))
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest("GET", srv.URL+"/api/v1/public/recordings", nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err, "sent anyway: the limiter fails open")
	resp.Body.Close()
	warnings := logs.FilterMessage(idctrace.LimiterMessage).All()
	require.Len(t, warnings, 1)
	t.Logf("warning: %v", warnings[0].ContextMap()[idctrace.FieldError])
	assert.NotContains(t, warnings[0].ContextMap()[idctrace.FieldError], password)
}
