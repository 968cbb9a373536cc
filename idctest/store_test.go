package idctest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/internal/api"
)

// pausingWriter stops at every WriteHeader and Write until the test lets
// it go on, so that the test can look at the server's lock meanwhile.
type pausingWriter struct {
	*httptest.ResponseRecorder
	paused, resume chan struct{}
}

func (w *pausingWriter) pause() { w.paused <- struct{}{}; <-w.resume }

func (w *pausingWriter) WriteHeader(status int) { w.pause(); w.ResponseRecorder.WriteHeader(status) }

func (w *pausingWriter) Write(p []byte) (int, error) { w.pause(); return w.ResponseRecorder.Write(p) }

// TestNoResponseIsWrittenUnderTheLock serves a request of every endpoint,
// one that succeeds and one whose resource does not exist, and checks at
// every write that the server's lock is free: a client slow to read holds
// up no one else.
func TestNoResponseIsWrittenUnderTheLock(t *testing.T) {
	t.Parallel()
	s := NewServer()
	defer s.Close()
	key := s.NewKey(Read, Write, Delete)
	s.mu.Lock()
	st, k := &s.data, s.keys[key]
	p := &project{Project: Project{ID: st.id(), Name: "P"}, account: DefaultAccount}
	st.projects[p.ID] = p
	o := st.newOperator(k, "Ann Lee", "+15550000001", nil)
	n := &number{VirtualNumber: VirtualNumber{ID: st.id()}, account: DefaultAccount, operators: []int{o.ID}}
	st.numbers[n.ID] = n
	rec, _ := st.addRecording(k, p.ID, upload{fileName: "call.mp3", language: "en"})
	s.mu.Unlock()
	s.CompleteTranscription(rec.PublicID, "Hi.")

	op := fmt.Sprintf(`{"operator_id":%d}`, o.ID)
	bodies := map[string]string{
		"POST /recordings": "not a form", "POST /projects": `{"name":"N","language":"en"}`, "PATCH /projects/{id}": `{"name":"M"}`,
		"POST /operators": `{"name":"Bo","phone_number":"+1555"}`, "POST /virtual_numbers/purchase": `{"phone_number":"+1555"}`,
		"POST /virtual_numbers": `{"phone_number":"+1555"}`, "POST /virtual_numbers/{id}/add_operator": op,
		"POST /virtual_numbers/{id}/operators": op, "DELETE /virtual_numbers/{id}/remove_operator": op,
	}
	ids := map[string]int{"projects": p.ID, "virtual_numbers": n.ID, "operators": o.ID}
	for _, e := range api.Endpoints {
		resource, _, _ := strings.Cut(strings.TrimPrefix(e.Path, "/"), "/")
		id := rec.PublicID
		if resource != "recordings" {
			id = strconv.Itoa(ids[resource])
		}
		paths := []string{strings.Replace(strings.Replace(e.Path, "{id}", id, 1), "{id}", strconv.Itoa(o.ID), 1)}
		if strings.Contains(e.Path, "{id}") {
			paths = append(paths, strings.ReplaceAll(e.Path, "{id}", "999"))
		}
		for _, path := range paths {
			req := httptest.NewRequest(e.Method, BasePath+path, strings.NewReader(bodies[e.Method+" "+e.Path]))
			req.Header.Set("Authorization", "Bearer "+key)
			w := &pausingWriter{httptest.NewRecorder(), make(chan struct{}), make(chan struct{})}
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.route(w, req) // not serve: its loggedWriter would wait for the lock forever
			}()
			writes := 0
			for served := false; !served; {
				select {
				case <-w.paused:
					writes++
					if assert.True(t, s.mu.TryLock(), "%s %s: a write under the lock", e.Method, path) {
						s.mu.Unlock()
					}
					w.resume <- struct{}{}
				case <-done:
					served = true
				}
			}
			require.NotZero(t, writes, "%s %s", e.Method, path)
			assert.NotEqual(t, http.StatusInternalServerError, w.Code, "%s %s", e.Method, path)
		}
	}
}
