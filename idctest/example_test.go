package idctest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"sync"
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
	scoped := srv.NewProjectKey(project.ID, idctest.Read, idctest.Write)
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

func ExampleFault_route() {
	srv := idctest.NewServer()
	defer srv.Close()
	key := srv.NewKey(idctest.Read, idctest.Write)
	client := idctrace.WrapClient(srv.Client(), nil)

	// A 502 for the next upload only, whatever comes before it.
	srv.Inject(1, idctest.Fault{Status: http.StatusBadGateway, Route: "POST /recordings"})
	_, err := do(client, key, "GET", srv.URL+"/projects", "", nil)
	fmt.Println(err)
	_, err = do(client, key, "POST", srv.URL+"/recordings", "", nil)
	fmt.Println(errors.Is(err, idctrace.ErrServer))
	for _, r := range srv.Requests() {
		fmt.Println(r.Method, r.Path, r.Status)
	}
	// Output:
	// <nil>
	// true
	// GET /api/v1/public/projects 200
	// POST /api/v1/public/recordings 502
}

// clock is a clock for examples: it moves only when told to.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func ExampleWithRateLimit() {
	c := &clock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	srv := idctest.NewServer(idctest.WithRateLimit(2, 100*time.Millisecond), idctest.WithClock(c.Now))
	defer srv.Close()
	key := srv.NewKey(idctest.Read)
	client := srv.Client()

	get := func() {
		resp, _ := do(client, key, "GET", srv.URL+"/recordings", "", nil)
		fmt.Println(resp.StatusCode, resp.Header.Values("Retry-After"))
	}
	get()
	c.Advance(30 * time.Millisecond)
	get()
	get() // asks for the 70 ms left in the window
	c.Advance(70 * time.Millisecond)
	get()
	// Output:
	// 200 []
	// 200 []
	// 429 [0.07]
	// 200 []
}

func ExampleWithProcessingTime() {
	c := &clock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	srv := idctest.NewServer(idctest.WithProcessingTime(30*time.Second), idctest.WithClock(c.Now))
	defer srv.Close()
	key := srv.NewKey(idctest.Read, idctest.Write)
	client := idctrace.WrapClient(srv.Client(), nil)

	var project idctest.Project
	do(client, key, "POST", srv.URL+"/projects", `{"name":"Support","language":"en"}`, &project)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("project_id", fmt.Sprint(project.ID))
	fw, _ := mw.CreateFormFile("file", "call.mp3")
	fw.Write([]byte("audio"))
	mw.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/recordings", &form)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	var rec idctest.Recording
	json.NewDecoder(resp.Body).Decode(&struct{ Data any }{&rec})
	resp.Body.Close()

	var transcription idctest.Transcription
	_, err = do(client, key, "GET", srv.URL+"/recordings/"+rec.PublicID+"/transcription", "", &transcription)
	var apiErr *idctrace.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(rec.Status, apiErr.StatusCode, apiErr.Message)
	}
	c.Advance(30 * time.Second)
	_, err = do(client, key, "GET", srv.URL+"/recordings/"+rec.PublicID+"/transcription", "", &transcription)
	fmt.Println(err, transcription.FullText)
	// Output:
	// pending 422 Transcription not available
	// <nil> Hello, thank you for calling. Goodbye.
}

func ExampleNewUnstartedServer() {
	srv := idctest.NewUnstartedServer()
	l, err := net.Listen("tcp", "127.0.0.1:0") // or the address a command was given
	if err != nil {
		panic(err)
	}
	srv.Listener = l // Start closes the one it replaces
	srv.Start()
	defer srv.Close()

	fmt.Println(srv.URL == "http://"+l.Addr().String()+idctest.BasePath)
	resp, err := srv.Client().Get(srv.URL + "/recordings")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// true
	// 401
}
