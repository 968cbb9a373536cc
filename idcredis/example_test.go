package idcredis_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idcredis"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Every process of a fleet builds its Redis client as usual and a limiter
// on the account's key at the account's quota: together they send 20
// requests a second at most. The logger shows warnings only, so a Redis
// that cannot be reached would show here ("pacing locally").
func ExampleNewLimiter() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[]}`)
	})) // stands in for IdentityCall
	defer api.Close()

	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR")})
	defer rdb.Close()
	limiter := idcredis.NewLimiter(rdb, "identitycall:quota:acct-1", 20, time.Second)
	logger := zap.NewExample(zap.IncreaseLevel(zap.WarnLevel))
	client := &http.Client{
		Transport: idctrace.New(http.DefaultTransport, logger, idctrace.WithLimiter(limiter)),
		Timeout:   10 * time.Second,
	}

	for range 3 {
		resp, err := client.Get(api.URL + "/api/v1/public/recordings")
		if err != nil {
			fmt.Println(err)
			continue
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	// Output:
	// 200 OK
	// 200 OK
	// 200 OK
}
