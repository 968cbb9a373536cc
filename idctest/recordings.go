package idctest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Recording is the API's recording resource.
type Recording struct {
	ID         int    `json:"id"`        // the legacy numeric ID
	PublicID   string `json:"public_id"` // a UUIDv7, the preferred ID
	ProjectID  int    `json:"project_id"`
	Name       string `json:"name"`
	Status     string `json:"status"` // pending, then completed
	Language   string `json:"language"`
	ExternalID string `json:"external_id,omitempty"`
	SizeBytes  int64  `json:"size_bytes"`
	CreatedAt  string `json:"created_at"` // RFC 3339, UTC
}

// Transcription is the body of a completed recording's transcription.
type Transcription struct {
	RecordingID int    `json:"recording_id"`
	Language    string `json:"language"`
	FullText    string `json:"full_text"`
	Dialogues   []struct {
		Speaker string `json:"speaker"`
		Text    string `json:"text"`
	} `json:"dialogues"`
}

// Summary is the body of a completed recording's summary.
type Summary struct {
	RecordingID     int      `json:"recording_id"`
	Summary         string   `json:"summary"`
	DurationMS      int      `json:"duration_ms"`
	Speakers        []string `json:"speakers"`
	GoalAchievement float64  `json:"goal_achievement"`
}

// Results is the body of a completed recording's analysis results.
type Results struct {
	RecordingID int   `json:"recording_id"`
	Goals       []any `json:"goals"`
	Keywords    []any `json:"keywords"`
	Pauses      []any `json:"pauses"`
}

// recording is a Recording with what the API does not show.
type recording struct {
	Recording
	account    string
	transcript *string
	ready      time.Time // when WithProcessingTime completes it; zero: never
}

// ProcessedText is the text of a transcription that [WithProcessingTime]
// completed.
const ProcessedText = "Hello, thank you for calling. Goodbye."

// languages the simulated API transcribes.
var languages = map[string]bool{"en": true, "es": true, "fr": true, "de": true, "it": true, "pt": true, "nl": true,
	"pl": true, "ru": true, "ja": true, "ko": true, "zh": true}

// CompleteTranscription finishes the transcription of the recording with
// publicID, in any account: its status becomes "completed" and its
// transcription, results and summary endpoints answer instead of 422
// "Transcription not available". It reports whether the recording exists.
func (s *Server) CompleteTranscription(publicID, text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.data.recordings[publicID]
	if ok {
		rec.Status, rec.transcript = "completed", &text
	}
	return ok
}

// settle completes rec once its processing time has passed. The caller
// holds the lock.
func (st *store) settle(rec *recording) {
	if rec.transcript == nil && !rec.ready.IsZero() && !st.now().Before(rec.ready) {
		text := ProcessedText
		rec.Status, rec.transcript = "completed", &text
	}
}

// lookupRecording returns the recording the path names, by public or
// legacy numeric ID, if k sees it. The caller holds the lock.
func (st *store) lookupRecording(r *http.Request, k *apiKey) (*recording, bool) {
	id := r.PathValue("id")
	rec, ok := st.recordings[id]
	if !ok {
		if n, err := strconv.Atoi(id); err == nil {
			for _, c := range st.recordings {
				if c.ID == n {
					rec, ok = c, true
					break
				}
			}
		}
	}
	if !ok || !k.sees(rec.account, rec.ProjectID) {
		return nil, false
	}
	st.settle(rec)
	return rec, true
}

func (s *Server) listRecordings(w http.ResponseWriter, r *http.Request, k *apiKey) {
	status := r.URL.Query().Get("status")
	s.mu.Lock()
	var mine []Recording
	for _, id := range s.data.order {
		rec := s.data.recordings[id]
		if !k.sees(rec.account, rec.ProjectID) {
			continue
		}
		s.data.settle(rec)
		if status == "" || rec.Status == status {
			mine = append(mine, rec.Recording)
		}
	}
	s.mu.Unlock()
	if data, meta, ok := paginate(w, r, mine); ok {
		writeJSON(w, http.StatusOK, map[string]any{"data": data, "meta": meta})
	}
}

func (s *Server) getRecording(w http.ResponseWriter, r *http.Request, k *apiKey) {
	answer(s, w, r, k, (*store).lookupRecording, func(_ *store, rec *recording) Recording { return rec.Recording })
}

func (s *Server) updateRecording(w http.ResponseWriter, r *http.Request, k *apiKey) {
	if !exists(s, w, r, k, (*store).lookupRecording) {
		return
	}
	var patch struct {
		Name        *string      `json:"name"`
		DisplayName *string      `json:"display_name"`
		Language    *string      `json:"language"`
		ProjectID   *json.Number `json:"project_id"`
	}
	if !decodeJSON(w, r, &patch) {
		return
	}
	if patch.Name == nil {
		patch.Name = patch.DisplayName
	}
	var problems []string
	if patch.Name != nil && strings.TrimSpace(*patch.Name) == "" {
		problems = append(problems, "Name can't be blank")
	}
	if patch.Name != nil && utf8.RuneCountInString(*patch.Name) > maxFieldLen {
		problems = append(problems, "Name is too long (maximum is 255 characters)")
	}
	if patch.Language != nil && !languages[*patch.Language] {
		problems = append(problems, "Language is not supported")
	}
	if len(problems) > 0 {
		writeErrors(w, problems)
		return
	}
	projectID := 0 // none named: the recording keeps its own
	if patch.ProjectID != nil {
		var ok bool
		if projectID, ok = s.projectParam(w, k, string(*patch.ProjectID)); !ok {
			return
		}
	}
	answer(s, w, r, k, (*store).lookupRecording, func(_ *store, rec *recording) Recording {
		if patch.Name != nil {
			rec.Name = *patch.Name
		}
		if patch.Language != nil {
			rec.Language = *patch.Language
		}
		if patch.ProjectID != nil {
			rec.ProjectID = projectID
		}
		return rec.Recording
	})
}

func (s *Server) deleteRecording(w http.ResponseWriter, r *http.Request, k *apiKey) {
	s.mu.Lock()
	rec, ok := s.data.lookupRecording(r, k)
	if ok {
		s.data.deleteRecording(rec.PublicID)
	}
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteRecording forgets a recording. The caller holds the lock.
func (st *store) deleteRecording(publicID string) {
	delete(st.recordings, publicID)
	for i, id := range st.order {
		if id == publicID {
			st.order = append(st.order[:i], st.order[i+1:]...)
			break
		}
	}
}

// completed answers with the body of a completed recording, or 422 until
// the transcription is done.
func (s *Server) completed(w http.ResponseWriter, r *http.Request, k *apiKey, body func(recording) any) {
	s.mu.Lock()
	var rec recording
	found, ok := s.data.lookupRecording(r, k)
	if ok {
		rec = *found
	}
	s.mu.Unlock()
	switch {
	case !ok:
		notFound(w)
	case rec.transcript == nil:
		writeError(w, http.StatusUnprocessableEntity, "Transcription not available")
	default:
		writeData(w, http.StatusOK, body(rec))
	}
}

func (s *Server) getTranscription(w http.ResponseWriter, r *http.Request, k *apiKey) {
	s.completed(w, r, k, func(rec recording) any {
		t := Transcription{RecordingID: rec.ID, Language: rec.Language, FullText: *rec.transcript}
		t.Dialogues = append(t.Dialogues, struct {
			Speaker string `json:"speaker"`
			Text    string `json:"text"`
		}{"Speaker 1", *rec.transcript})
		return t
	})
}

func (s *Server) getResults(w http.ResponseWriter, r *http.Request, k *apiKey) {
	s.completed(w, r, k, func(rec recording) any {
		return Results{RecordingID: rec.ID, Goals: []any{}, Keywords: []any{}, Pauses: []any{}}
	})
}

func (s *Server) getSummary(w http.ResponseWriter, r *http.Request, k *apiKey) {
	s.completed(w, r, k, func(rec recording) any {
		summary, _, _ := strings.Cut(*rec.transcript, ".")
		return Summary{RecordingID: rec.ID, Summary: summary, Speakers: []string{"Speaker 1"}}
	})
}
