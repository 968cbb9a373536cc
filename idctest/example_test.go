package idctest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
)

// do sends one request with key through client and decodes the data of a
// success into v.
func do(client *http.Client, key, method, url, body string, v any) (*http.Response, error) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := idctrace.CheckResponse(resp); err != nil {
		return resp, err
	}
	if v != nil {
		return resp, json.NewDecoder(resp.Body).Decode(&struct{ Data any }{v})
	}
	return resp, nil
}

func ExampleNewServer() {
	srv := idctest.NewServer()
	defer srv.Close()
	key := srv.NewKey(idctest.Read, idctest.Write) // an account-wide key of the default account
	client := idctrace.WrapClient(srv.Client(), nil)

	var project idctest.Project
	do(client, key, "POST", srv.URL+"/projects", `{"name":"Support","language":"en"}`, &project)
	var number idctest.VirtualNumber
	do(client, key, "POST", srv.URL+"/virtual_numbers/purchase", `{"phone_number":"+15551234567"}`, &number)
	fmt.Println(project.Name, number.PhoneNumber, number.Active)

	_, err := do(client, key, "GET", srv.URL+"/recordings/nope", "", nil)
	fmt.Println(errors.Is(err, idctrace.ErrNotFound))

	// A project-scoped key may not create projects.
	scoped := srv.NewProjectKey(fmt.Sprint(project.ID), idctest.Read, idctest.Write)
	_, err = do(client, scoped, "POST", srv.URL+"/projects", `{"name":"Other","language":"en"}`, nil)
	var apiErr *idctrace.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Message)
	}
	// Output:
	// Support +15551234567 true
	// true
	// 403 Project-scoped API keys cannot create or destroy projects
}

func ExampleServer_Inject() {
	srv := idctest.NewServer()
	defer srv.Close()
	key := srv.NewKey(idctest.Read)
	client := idctrace.WrapClient(srv.Client(), nil,
		idctrace.WithRetry(idctrace.RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond}))

	// A 503 from a load balancer, then a dropped connection: both retried.
	srv.Inject(1, idctest.Fault{Status: http.StatusServiceUnavailable})
	srv.Inject(1, idctest.Fault{Drop: true})
	resp, err := do(client, key, "GET", srv.URL+"/recordings", "", nil)
	if err != nil {
		panic(err)
	}
	ids := srv.RequestIDs()
	fmt.Println(resp.StatusCode, len(ids), ids[0] == ids[2])
	for _, r := range srv.Requests() {
		fmt.Println(r.Method, r.Path, r.Status)
	}
	// Output:
	// 200 3 true
	// GET /api/v1/public/recordings 503
	// GET /api/v1/public/recordings 0
	// GET /api/v1/public/recordings 200
}
