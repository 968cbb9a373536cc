package idctest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
)

// apiClient is a small client of the IdentityCall API, as docs/testing.md shows
// it: every body is an envelope, {"data": ...}, with {"meta": ...} for a
// list; a failure is an *idctrace.APIError.
type apiClient struct {
	client    *http.Client
	base, key string
}

// do sends a request and decodes the data of its envelope into data, and
// the meta of a list into meta, when they are not nil.
func (a apiClient) do(method, path, contentType string, body io.Reader, data, meta any) error {
	req, err := http.NewRequest(method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := idctrace.CheckResponse(resp); err != nil {
		return err
	}
	envelope := struct{ Data, Meta any }{data, meta}
	return json.NewDecoder(resp.Body).Decode(&envelope)
}

// upload sends a recording as a multipart form: the file, the project it
// goes to (required with an account-wide key), and an ID of your own.
func (a apiClient) upload(projectID int, name string, audio []byte, externalID string) (idctest.Recording, error) {
	var form bytes.Buffer
	w := multipart.NewWriter(&form)
	file, _ := w.CreateFormFile("file", name)
	file.Write(audio)
	w.WriteField("project_id", strconv.Itoa(projectID))
	w.WriteField("external_id", externalID)
	w.Close()
	var rec idctest.Recording
	err := a.do("POST", "/recordings", w.FormDataContentType(), &form, &rec, nil)
	return rec, err
}

// Example_client runs the client against the simulator: a project, an
// upload, a page of the list, and a transcription polled until it is ready.
func Example_client() {
	srv := idctest.NewServer(idctest.WithServiceDefaults(), idctest.WithProcessingTime(30*time.Millisecond))
	defer srv.Close()
	a := apiClient{client: idctrace.WrapClient(srv.Client(), zap.NewNop()), base: srv.URL, key: srv.NewKey(idctest.Read, idctest.Write)}

	var project idctest.Project
	if err := a.do("POST", "/projects", "application/json", strings.NewReader(`{"name":"Support EN","language":"en"}`), &project, nil); err != nil {
		panic(err)
	}
	rec, err := a.upload(project.ID, "renewal-call.wav", []byte("RIFF....WAVE"), "crm-42")
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.Name, rec.Status, rec.ExternalID)

	var list []idctest.Recording
	var meta struct {
		CurrentPage int `json:"current_page"`
		TotalPages  int `json:"total_pages"`
		TotalCount  int `json:"total_count"`
		PerPage     int `json:"per_page"`
	}
	if err := a.do("GET", "/recordings?page=1&per_page=20", "", nil, &list, &meta); err != nil {
		panic(err)
	}
	fmt.Printf("page %d of %d, %d recording(s)\n", meta.CurrentPage, meta.TotalPages, meta.TotalCount)

	for {
		var transcription idctest.Transcription
		err := a.do("GET", "/recordings/"+rec.PublicID+"/transcription", "", nil, &transcription, nil)
		if errors.Is(err, idctrace.ErrNotReady) {
			time.Sleep(10 * time.Millisecond) // the service asks for 5 s between polls
			continue
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(transcription.Language, len(transcription.FullText) > 0)
		break
	}
	// Output:
	// renewal-call.wav pending crm-42
	// page 1 of 1, 1 recording(s)
	// en true
}
