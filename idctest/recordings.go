package idctest

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	defaultPerPage = 25
	maxPerPage     = 100
	maxFieldLen    = 255
)

// languages the simulated API transcribes.
var languages = map[string]bool{"en": true, "es": true, "fr": true, "de": true, "it": true, "pt": true, "nl": true, "ja": true}

// recording is the API's recording resource.
type recording struct {
	PublicID   string    `json:"public_id"`
	Status     string    `json:"status"` // pending, then completed
	Name       string    `json:"name"`
	Language   string    `json:"language"`
	ProjectID  int       `json:"project_id,omitempty"`
	ExternalID string    `json:"external_id,omitempty"`
	SizeBytes  int64     `json:"size_bytes"`
	CreatedAt  time.Time `json:"created_at"`

	account    string
	transcript *string
}

// CompleteTranscription finishes the transcription of the recording with
// publicID, in any account: its status becomes "completed" and its
// transcription endpoint returns text instead of 422. It reports whether
// the recording exists.
func (s *Server) CompleteTranscription(publicID, text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recordings[publicID]
	if ok {
		rec.Status, rec.transcript = "completed", &text
	}
	return ok
}

// lookup returns a copy of the recording with id if account owns it.
func (s *Server) lookup(account, id string) (recording, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recordings[id]
	if !ok || rec.account != account {
		return recording{}, false
	}
	return *rec, true
}

func (s *Server) listRecordings(w http.ResponseWriter, r *http.Request, account string) {
	q := r.URL.Query()
	page, ok := positiveParam(q.Get("page"), 1)
	if !ok {
		writeError(w, http.StatusBadRequest, "page must be a positive integer")
		return
	}
	perPage, ok := positiveParam(q.Get("per_page"), defaultPerPage)
	if !ok || perPage > maxPerPage {
		writeError(w, http.StatusBadRequest, "per_page must be between 1 and 100")
		return
	}

	s.mu.Lock()
	var mine []recording
	for _, id := range s.order {
		if rec := s.recordings[id]; rec.account == account {
			mine = append(mine, *rec)
		}
	}
	s.mu.Unlock()

	from := min((page-1)*perPage, len(mine))
	data := mine[from:min(from+perPage, len(mine))]
	if data == nil {
		data = []recording{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"data": data,
		"meta": map[string]int{
			"current_page": page,
			"total_pages":  (len(mine) + perPage - 1) / perPage,
			"total_count":  len(mine),
			"per_page":     perPage,
		},
	})
}

// positiveParam parses an optional positive integer parameter.
func positiveParam(v string, def int) (int, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n > 0
}

// upload is what a multipart POST /recordings carries.
type upload struct {
	hasFile    bool
	fileName   string
	size       int64
	projectID  string
	externalID string
	language   string
}

func (s *Server) createRecording(w http.ResponseWriter, r *http.Request, account string) {
	up, err := readUpload(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !up.hasFile {
		writeError(w, http.StatusUnprocessableEntity, "file is required")
		return
	}
	if up.language == "" {
		up.language = "en"
	}
	var problems []string
	projectID, err := strconv.Atoi(up.projectID)
	if up.projectID != "" && (err != nil || projectID <= 0) {
		problems = append(problems, "Project must be a positive integer")
	}
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
		for _, id := range s.order {
			if rec := s.recordings[id]; rec.account == account && rec.ExternalID == up.externalID {
				existing := *rec
				s.mu.Unlock()
				writeJSON(w, http.StatusOK, map[string]any{"data": existing}) // the same upload, again
				return
			}
		}
	}
	rec := &recording{
		PublicID:   "rec_" + strings.ToLower(newKey()[4:16]),
		Status:     "pending",
		Name:       up.fileName,
		Language:   up.language,
		ProjectID:  projectID,
		ExternalID: up.externalID,
		SizeBytes:  up.size,
		CreatedAt:  s.now().UTC().Truncate(time.Second),
		account:    account,
	}
	s.recordings[rec.PublicID] = rec
	s.order = append(s.order, rec.PublicID)
	created := *rec
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"data": created})
}

// readUpload streams a multipart body: the file is counted, never stored.
func readUpload(r *http.Request) (upload, error) {
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
			up.size, err = io.Copy(io.Discard, part)
		case "project_id", "external_id", "language":
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
			}
		}
		part.Close()
		if err != nil {
			return up, errors.New("malformed multipart body")
		}
	}
}

func (s *Server) getRecording(w http.ResponseWriter, account, id string) {
	rec, ok := s.lookup(account, id)
	if !ok {
		writeError(w, http.StatusNotFound, "Resource not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": rec})
}

func (s *Server) updateRecording(w http.ResponseWriter, r *http.Request, account, id string) {
	if _, ok := s.lookup(account, id); !ok {
		writeError(w, http.StatusNotFound, "Resource not found")
		return
	}
	var patch struct {
		Name     *string `json:"name"`
		Language *string `json:"language"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&patch); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid JSON body")
		return
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

	s.mu.Lock()
	rec, ok := s.recordings[id] // gone if deleted since the lookup
	var updated recording
	if ok {
		if patch.Name != nil {
			rec.Name = *patch.Name
		}
		if patch.Language != nil {
			rec.Language = *patch.Language
		}
		updated = *rec
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Resource not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": updated})
}

func (s *Server) deleteRecording(w http.ResponseWriter, account, id string) {
	s.mu.Lock()
	rec, ok := s.recordings[id]
	ok = ok && rec.account == account
	if ok {
		delete(s.recordings, id)
		for i, pid := range s.order {
			if pid == id {
				s.order = append(s.order[:i], s.order[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Resource not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getTranscription(w http.ResponseWriter, account, id string) {
	rec, ok := s.lookup(account, id)
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "Resource not found")
	case rec.transcript == nil:
		writeError(w, http.StatusUnprocessableEntity, "Transcription not available")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]string{
			"recording_id": rec.PublicID,
			"status":       "completed",
			"language":     rec.Language,
			"text":         *rec.transcript,
		}})
	}
}
