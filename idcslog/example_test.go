package idcslog_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idcslog"
)

func ExampleNewLogger() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"Resource not found"}`)
	}))
	defer srv.Close()

	// What changes from run to run is left out of this example's output.
	unstable := map[string]bool{slog.TimeKey: true, "url": true, "duration": true, "started_at": true}
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if unstable[a.Key] {
			return slog.Attr{}
		}
		return a
	}})
	client := idctrace.WrapClient(srv.Client(), idcslog.NewLogger(h),
		idctrace.WithIDGenerator(func() string { return "req-1" }))

	resp, err := client.Get(srv.URL + "/api/v1/public/recordings/42")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	// Output:
	// level=WARN msg="identitycall request failed" request_id=req-1 method=GET route=/recordings/{id} status=404 attempt=1 error="Resource not found"
}
