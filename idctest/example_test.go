package idctest_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
)

func ExampleNewServer() {
	srv := idctest.NewServer()
	defer srv.Close()
	key := srv.NewKey(idctest.Read) // a read-only key of the default account

	client := idctrace.WrapClient(srv.Client(), nil)
	for _, path := range []string{"/recordings", "/recordings/rec_missing"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		err = idctrace.CheckResponse(resp)
		fmt.Println(resp.StatusCode, errors.Is(err, idctrace.ErrNotFound))
	}
	// Output:
	// 200 false
	// 404 true
}

func ExampleServer_FailNext() {
	srv := idctest.NewServer()
	defer srv.Close()
	key := srv.NewKey(idctest.Read)
	client := idctrace.WrapClient(srv.Client(), nil,
		idctrace.WithRetry(idctrace.RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond}))

	srv.FailNext(2) // two 500s, then the real answer
	req, _ := http.NewRequest("GET", srv.URL+"/recordings", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	ids := srv.RequestIDs()
	fmt.Println(resp.StatusCode, len(ids), ids[0] == ids[2])
	// Output: 200 3 true
}
