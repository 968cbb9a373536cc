package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/idctest"
)

// audioFile writes a fake recording into the test's temporary directory.
func audioFile(t *testing.T) (path, content string) {
	t.Helper()
	content = "RIFF" + strings.Repeat("\x00\x01", 64<<10) + "WAVE" // 128 KiB: more than one pipe write
	path = filepath.Join(t.TempDir(), "call.wav")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path, content
}

func TestUploadAgainstSimulator(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	env := map[string]string{"IDENTITYCALL_API_KEY": srv.NewKey(idctest.Write), "IDENTITYCALL_BASE_URL": srv.URL}
	path, _ := audioFile(t)

	code, out, stderr := runCLI(t, env, `{"name":"Support","language":"en"}`, "POST", "/projects", "-")
	require.Equal(t, 0, code, stderr)
	var project struct{ Data struct{ ID int } }
	require.NoError(t, json.Unmarshal([]byte(out), &project), out)
	projectID := fmt.Sprint(project.Data.ID)

	code, out, stderr = runCLI(t, env, "", "-F", "file=@"+path, "-F", "project_id="+projectID, "-F", "external_id=crm-42", "-F", "language=en", "POST", "/recordings")
	require.Equal(t, 0, code, stderr)
	var created struct {
		Data struct {
			PublicID   string `json:"public_id"`
			Status     string `json:"status"`
			ExternalID string `json:"external_id"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &created), out)
	assert.NotEmpty(t, created.Data.PublicID)
	assert.Equal(t, "pending", created.Data.Status)
	assert.Equal(t, "crm-42", created.Data.ExternalID)

	code, out, stderr = runCLI(t, env, "", "-F", "project_id="+projectID, "POST", "/recordings")
	assert.Equal(t, 1, code)
	assert.JSONEq(t, `{"error":"file is required"}`, out)
	assert.Contains(t, stderr, "422 Unprocessable Entity")
}

func TestUploadReplayedAfter429(t *testing.T) {
	t.Parallel()
	path, content := audioFile(t)
	var mu sync.Mutex
	var files, ids []string
	var lengths []int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lengths = append(lengths, r.ContentLength)
		mu.Unlock()
		file, _, err := r.FormFile("file")
		if err != nil {
			http.Error(w, `{"error":"file is required"}`, http.StatusUnprocessableEntity)
			return
		}
		b, _ := io.ReadAll(file)
		mu.Lock()
		files, ids = append(files, string(b)), append(ids, r.FormValue("external_id"))
		first := len(files) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":"Rate limit exceeded","retry_after":0}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"data":{"public_id":"rec_1","status":"pending"}}`)
	}))
	defer srv.Close()
	env := map[string]string{"IDENTITYCALL_API_KEY": "idc_" + strings.Repeat("c", 32), "IDENTITYCALL_BASE_URL": srv.URL}

	code, out, stderr := runCLI(t, env, "", "-F", "file=@"+path, "-F", "external_id=crm-42", "POST", "/recordings")
	require.Equal(t, 0, code, stderr)
	assert.JSONEq(t, `{"data":{"public_id":"rec_1","status":"pending"}}`, out)
	assert.Contains(t, stderr, `"status": 429`)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, files, 2, "the 429 was retried")
	assert.Equal(t, []string{content, content}, files, "both attempts sent the whole file")
	assert.Equal(t, []string{"crm-42", "crm-42"}, ids)
	require.Len(t, lengths, 2)
	assert.Equal(t, lengths[0], lengths[1])
	assert.Greater(t, lengths[0], int64(len(content)), "a Content-Length, not a chunked body; the form's parts and the file")
}

func TestFormUsageErrors(t *testing.T) {
	t.Parallel()
	path, _ := audioFile(t)
	key := map[string]string{"IDENTITYCALL_API_KEY": "idc_" + strings.Repeat("a", 32)}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no equals sign", []string{"-F", "file", "POST", "/recordings"}, "want name=value or name=@file"},
		{"no name", []string{"-F", "=x", "POST", "/recordings"}, "want name=value or name=@file"},
		{"missing file", []string{"-F", "file=@/nonexistent/call.wav", "POST", "/recordings"}, "no such file"},
		{"directory", []string{"-F", "file=@" + filepath.Dir(path), "POST", "/recordings"}, "is a directory"},
		{"with BODY", []string{"-F", "file=@" + path, "POST", "/recordings", "{}"}, "BODY and -F don't mix"},
		{"with GET", []string{"-F", "file=@" + path, "GET", "/recordings"}, "-F needs POST, PUT or PATCH, not GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCLI(t, key, "", tt.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			assert.Contains(t, stderr, tt.want)
		})
	}
}
