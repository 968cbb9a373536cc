package idctest

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
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
}

// languages the simulated API transcribes.
var languages = map[string]bool{"en": true, "es": true, "fr": true, "de": true, "it": true, "pt": true, "nl": true,
	"pl": true, "ru": true, "ja": true, "ko": true, "zh": true}

// losslessTypes and compressedTypes are the documented upload formats.
var (
	losslessTypes   = map[string]bool{".wav": true, ".flac": true}
	compressedTypes = map[string]bool{".mp3": true, ".m4a": true, ".ogg": true, ".webm": true}
)

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

// lookupRecording returns a copy of the recording the path names, by public
// or legacy numeric ID, if k sees it.
func (s *Server) lookupRecording(r *http.Request, k *apiKey) (recording, bool) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.data.recordings[id]
	if !ok {
		if n, err := strconv.Atoi(id); err == nil {
			for _, c := range s.data.recordings {
				if c.ID == n {
					rec, ok = c, true
					break
				}
			}
		}
	}
	if !ok || !k.sees(rec.account, rec.ProjectID) {
		return recording{}, false
	}
	return *rec, true
}

func (s *Server) listRecordings(w http.ResponseWriter, r *http.Request, k *apiKey) {
	status := r.URL.Query().Get("status")
	s.mu.Lock()
	var mine []Recording
	for _, id := range s.data.order {
		if rec := s.data.recordings[id]; k.sees(rec.account, rec.ProjectID) && (status == "" || rec.Status == status) {
			mine = append(mine, rec.Recording)
		}
	}
	s.mu.Unlock()
	if data, meta, ok := paginate(w, r, mine); ok {
		writeJSON(w, http.StatusOK, map[string]any{"data": data, "meta": meta})
	}
}

// upload is what a multipart POST /recordings carries.
type upload struct {
	hasFile    bool
	fileName   string
	size       int64
	tooLarge   bool
	projectID  string
	externalID string
	language   string
	name       string
}

func (s *Server) createRecording(w http.ResponseWriter, r *http.Request, k *apiKey) {
	up, err := s.readUpload(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ext := strings.ToLower(filepath.Ext(up.fileName))
	switch {
	case !up.hasFile:
		writeError(w, http.StatusUnprocessableEntity, "file is required")
		return
	case !losslessTypes[ext] && !compressedTypes[ext]:
		writeError(w, http.StatusUnprocessableEntity, "Invalid file type")
		return
	case up.tooLarge:
		writeError(w, http.StatusUnprocessableEntity, "File too large")
		return
	case up.projectID == "" && k.project == 0:
		writeError(w, http.StatusUnprocessableEntity, "project_id is required")
		return
	}
	projectID, ok := s.projectParam(w, k, up.projectID)
	if !ok {
		return
	}
	if up.language == "" {
		up.language = "en"
	}
	var problems []string
	if utf8.RuneCountInString(up.externalID) > maxFieldLen {
		problems = append(problems, "External id is too long (maximum is 255 characters)")
	}
	if !languages[up.language] {
		problems = append(problems, "Language is not supported")
	}
	if len(problems) > 0 {
		writeErrors(w, problems)
		return
	}

	s.mu.Lock()
	if up.externalID != "" {
		for _, id := range s.data.order {
			if rec := s.data.recordings[id]; rec.account == k.account && rec.ProjectID == projectID && rec.ExternalID == up.externalID {
				existing := rec.Recording
				s.mu.Unlock()
				writeData(w, http.StatusOK, existing) // the same upload, again: documented as idempotent
				return
			}
		}
	}
	rec := &recording{
		Recording: Recording{
			ID:         s.data.id(),
			PublicID:   uuid.Must(uuid.NewV7()).String(),
			ProjectID:  projectID,
			Name:       cmp.Or(up.name, up.fileName),
			Status:     "pending",
			Language:   up.language,
			ExternalID: up.externalID,
			SizeBytes:  up.size,
			CreatedAt:  s.stamp().Format(time.RFC3339),
		},
		account: k.account,
	}
	s.data.recordings[rec.PublicID] = rec
	s.data.order = append(s.data.order, rec.PublicID)
	created := rec.Recording
	s.mu.Unlock()
	writeData(w, http.StatusCreated, created)
}

// readUpload streams a multipart body: the file is counted, never stored,
// and its reading stops past the limit for its type.
func (s *Server) readUpload(r *http.Request) (upload, error) {
	var up upload
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" {
		return up, errors.New("Content-Type must be multipart/form-data")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return up, errors.New("malformed multipart body")
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return up, nil
		}
		if err != nil {
			return up, errors.New("malformed multipart body")
		}
		switch part.FormName() {
		case "file":
			up.hasFile, up.fileName = true, part.FileName()
			limit := s.maxUpload
			if losslessTypes[strings.ToLower(filepath.Ext(up.fileName))] {
				limit = s.maxLossless
			}
			up.size, err = io.Copy(io.Discard, io.LimitReader(part, limit+1))
			up.tooLarge = up.size > limit
		case "project_id", "external_id", "language", "name":
			var b []byte
			b, err = io.ReadAll(io.LimitReader(part, 4*maxFieldLen+1))
			v := strings.TrimSpace(string(b))
			switch part.FormName() {
			case "project_id":
				up.projectID = v
			case "external_id":
				up.externalID = v
			case "language":
				up.language = v
			case "name":
				up.name = v
			}
		}
		part.Close()
		if err != nil {
			return up, errors.New("malformed multipart body")
		}
		if up.tooLarge {
			return up, nil // no need to read the rest
		}
	}
}

func (s *Server) getRecording(w http.ResponseWriter, r *http.Request, k *apiKey) {
	rec, ok := s.lookupRecording(r, k)
	if !ok {
		notFound(w)
		return
	}
	writeData(w, http.StatusOK, rec.Recording)
}

func (s *Server) updateRecording(w http.ResponseWriter, r *http.Request, k *apiKey) {
	rec, ok := s.lookupRecording(r, k)
	if !ok {
		notFound(w)
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
	projectID := rec.ProjectID
	if patch.ProjectID != nil {
		if projectID, ok = s.projectParam(w, k, string(*patch.ProjectID)); !ok {
			return
		}
	}

	s.mu.Lock()
	cur, ok := s.data.recordings[rec.PublicID] // gone if deleted since the lookup
	var updated Recording
	if ok {
		if patch.Name != nil {
			cur.Name = *patch.Name
		}
		if patch.Language != nil {
			cur.Language = *patch.Language
		}
		cur.ProjectID = projectID
		updated = cur.Recording
	}
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	writeData(w, http.StatusOK, updated)
}

func (s *Server) deleteRecording(w http.ResponseWriter, r *http.Request, k *apiKey) {
	rec, ok := s.lookupRecording(r, k)
	if !ok {
		notFound(w)
		return
	}
	s.mu.Lock()
	s.data.deleteRecording(rec.PublicID)
	s.mu.Unlock()
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
	rec, ok := s.lookupRecording(r, k)
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
