package idctest

import (
	"cmp"
	"errors"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// losslessTypes and compressedTypes are the documented upload formats.
var (
	losslessTypes   = map[string]bool{".wav": true, ".flac": true}
	compressedTypes = map[string]bool{".mp3": true, ".m4a": true, ".ogg": true, ".webm": true}
)

const maxFieldLen = 255

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
	projectID, ok := s.projectParam(w, k, up.projectID)
	if !ok {
		return
	}

	s.mu.Lock()
	rec, created := s.data.addRecording(k, projectID, up)
	s.mu.Unlock()
	status := http.StatusCreated
	if !created {
		status = http.StatusOK // the same upload, again: documented as idempotent
	}
	writeData(w, status, rec)
}

// addRecording adds the recording of up, or returns the one of the same
// project and external_id and reports false.
func (st *store) addRecording(k *apiKey, projectID int, up upload) (Recording, bool) {
	if up.externalID != "" {
		for _, id := range st.order {
			if rec := st.recordings[id]; rec.account == k.account && rec.ProjectID == projectID && rec.ExternalID == up.externalID {
				st.settle(rec)
				return rec.Recording, false
			}
		}
	}
	now := st.now()
	rec := &recording{
		Recording: Recording{
			ID:         st.id(),
			PublicID:   uuid.Must(uuid.NewV7()).String(),
			ProjectID:  projectID,
			Name:       cmp.Or(up.name, up.fileName),
			Status:     "pending",
			Language:   up.language,
			ExternalID: up.externalID,
			SizeBytes:  up.size,
			CreatedAt:  now.UTC().Truncate(time.Second).Format(time.RFC3339),
		},
		account: k.account,
	}
	if st.processing > 0 {
		rec.ready = now.Add(st.processing)
	}
	st.recordings[rec.PublicID] = rec
	st.order = append(st.order, rec.PublicID)
	return rec.Recording, true
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
