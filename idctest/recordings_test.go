package idctest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/idctest"
)

func TestRecordingLifecycle(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	project := newProject(t, srv, key, "Support")

	rec := upload(t, srv, key, "language", "es", "project_id", project, "external_id", "crm-42", "name", "Renewal")
	id := rec["public_id"].(string)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id, "a UUIDv7, as documented")
	assert.Equal(t, "pending", rec["status"])
	assert.Equal(t, "es", rec["language"])
	assert.Equal(t, "Renewal", rec["name"])
	assert.Equal(t, project, jsonNumber(rec["project_id"]))
	assert.EqualValues(t, len("audio bytes"), rec["size_bytes"])

	again := call(t, srv, key, "POST", "/recordings", form(t, "call.mp3", "audio bytes", "project_id", project, "external_id", "crm-42"))
	assert.Equal(t, 200, again.status, "documented: the same (project_id, external_id) returns the recording with 200")
	assert.Equal(t, id, again.data(t)["public_id"])

	legacy := jsonNumber(rec["id"])
	assert.Equal(t, id, call(t, srv, key, "GET", "/recordings/"+legacy, nil).data(t)["public_id"], "the legacy numeric ID works too")

	r := call(t, srv, key, "PATCH", "/recordings/"+id, `{"display_name":"Renewal call"}`)
	require.Equal(t, 200, r.status)
	assert.Equal(t, "Renewal call", r.data(t)["name"])

	for _, sub := range []string{"transcription", "results", "summary"} {
		r := call(t, srv, key, "GET", "/recordings/"+id+"/"+sub, nil)
		assert.Equal(t, 422, r.status, sub)
		assert.JSONEq(t, `{"error":"Transcription not available"}`, r.body, sub)
	}
	require.True(t, srv.CompleteTranscription(id, "Hello, thanks for calling. Bye."))
	assert.False(t, srv.CompleteTranscription("none", ""))

	var tr idctest.Transcription
	decodeData(t, call(t, srv, key, "GET", "/recordings/"+id+"/transcription", nil), &tr)
	assert.Equal(t, "Hello, thanks for calling. Bye.", tr.FullText)
	var sum idctest.Summary
	decodeData(t, call(t, srv, key, "GET", "/recordings/"+id+"/summary", nil), &sum)
	assert.Equal(t, "Hello, thanks for calling", sum.Summary)
	var res idctest.Results
	decodeData(t, call(t, srv, key, "GET", "/recordings/"+id+"/results", nil), &res)
	assert.Equal(t, tr.RecordingID, res.RecordingID)
	var got idctest.Recording
	decodeData(t, call(t, srv, key, "GET", "/recordings/"+id, nil), &got)
	assert.Equal(t, "completed", got.Status)

	r = call(t, srv, key, "DELETE", "/recordings/"+id, nil)
	assert.Equal(t, 204, r.status)
	assert.Empty(t, r.body)
	assert.Equal(t, 404, call(t, srv, key, "GET", "/recordings/"+id, nil).status)
}

func decodeData(t *testing.T, r result, v any) {
	t.Helper()
	require.Contains(t, []int{200, 201}, r.status, r.body)
	var body struct{ Data json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(r.body), &body))
	dec := json.NewDecoder(strings.NewReader(string(body.Data)))
	dec.DisallowUnknownFields() // the exported type holds every field sent
	require.NoError(t, dec.Decode(v), string(body.Data))
}

// TestProcessingTime: with WithProcessingTime(d), a recording completes d
// after its upload by the server's clock, and not a nanosecond earlier.
func TestProcessingTime(t *testing.T) {
	t.Parallel()
	var clock fakeClock
	srv := idctest.Start(t, idctest.WithProcessingTime(5*time.Second), idctest.WithClock(clock.now))
	key := srv.NewKey(idctest.Read, idctest.Write)
	project := newProject(t, srv, key, "P")
	id := upload(t, srv, key, "project_id", project)["public_id"].(string)
	clock.advance(2 * time.Second)
	early := upload(t, srv, key, "project_id", project)["public_id"].(string)
	require.True(t, srv.CompleteTranscription(early, "Done by hand."))

	clock.advance(3*time.Second - time.Nanosecond)
	assert.Equal(t, "pending", call(t, srv, key, "GET", "/recordings/"+id, nil).data(t)["status"])
	for _, sub := range []string{"transcription", "results", "summary"} {
		assert.Equal(t, 422, call(t, srv, key, "GET", "/recordings/"+id+"/"+sub, nil).status, sub)
	}
	assert.EqualValues(t, 1, call(t, srv, key, "GET", "/recordings?status=completed", nil).json(t)["meta"].(map[string]any)["total_count"])

	clock.advance(time.Nanosecond)
	var rec idctest.Recording
	decodeData(t, call(t, srv, key, "GET", "/recordings/"+id, nil), &rec)
	assert.Equal(t, "completed", rec.Status)
	var tr idctest.Transcription
	decodeData(t, call(t, srv, key, "GET", "/recordings/"+id+"/transcription", nil), &tr)
	assert.Equal(t, idctest.ProcessedText, tr.FullText)
	for _, sub := range []string{"results", "summary"} {
		assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings/"+id+"/"+sub, nil).status, sub)
	}
	assert.EqualValues(t, 2, call(t, srv, key, "GET", "/recordings?status=completed", nil).json(t)["meta"].(map[string]any)["total_count"])

	clock.advance(time.Hour)
	decodeData(t, call(t, srv, key, "GET", "/recordings/"+early+"/transcription", nil), &tr)
	assert.Equal(t, "Done by hand.", tr.FullText, "CompleteTranscription's text stays")
}

// TestNoProcessingTimeByDefault: only CompleteTranscription completes a
// recording.
func TestNoProcessingTimeByDefault(t *testing.T) {
	t.Parallel()
	var clock fakeClock
	srv := idctest.Start(t, idctest.WithClock(clock.now), idctest.WithProcessingTime(-time.Second))
	key := srv.NewKey(idctest.Read, idctest.Write)
	id := upload(t, srv, key, "project_id", newProject(t, srv, key, "P"))["public_id"].(string)
	clock.advance(1000 * time.Hour)
	assert.Equal(t, "pending", call(t, srv, key, "GET", "/recordings/"+id, nil).data(t)["status"])
	assert.Equal(t, 422, call(t, srv, key, "GET", "/recordings/"+id+"/transcription", nil).status)
}

// TestServiceDefaults: WithServiceDefaults behaves as the service for a new
// account: 60 requests a minute per key, and a transcription ready 3 s
// after its upload.
func TestServiceDefaults(t *testing.T) {
	t.Parallel()
	var clock fakeClock
	srv := idctest.Start(t, idctest.WithServiceDefaults(), idctest.WithClock(clock.now))
	key := srv.NewKey(idctest.Read, idctest.Write)
	project := newProject(t, srv, key, "P")
	id := upload(t, srv, key, "project_id", project)["public_id"].(string)
	assert.Equal(t, 422, call(t, srv, key, "GET", "/recordings/"+id+"/transcription", nil).status, "processing")
	clock.advance(3 * time.Second)
	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings/"+id+"/transcription", nil).status, "ready")
	for range 60 - 4 { // the minute's quota, less the four requests above
		require.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status)
	}
	assert.Equal(t, 429, call(t, srv, key, "GET", "/recordings", nil).status, "the 61st request of the minute")
	clock.advance(time.Minute)
	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status, "a new minute")
}
