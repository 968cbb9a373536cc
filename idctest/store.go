package idctest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// store holds every resource; the Server's mutex guards it.
type store struct {
	nextID     int
	recordings map[string]*recording // by public ID
	order      []string              // recording public IDs, oldest first
	projects   map[int]*project
	numbers    map[int]*number
	operators  map[int]*operator
}

func newStore() store {
	return store{
		recordings: make(map[string]*recording),
		projects:   make(map[int]*project),
		numbers:    make(map[int]*number),
		operators:  make(map[int]*operator),
	}
}

// id returns a new numeric ID, unique across resources.
func (st *store) id() int {
	st.nextID++
	return st.nextID
}

// sees reports whether k may see a resource of account in project (0 when
// it belongs to none).
func (k *apiKey) sees(account string, project int) bool {
	return account == k.account && (k.project == 0 || k.project == project)
}

// projectParam checks a project ID a request names for k: "" means the
// key's own project (none for an account-wide key). A project-scoped key
// naming another project gets 403, a project that does not exist in the
// account 422. It writes the error itself and reports false.
func (s *Server) projectParam(w http.ResponseWriter, k *apiKey, raw string) (int, bool) {
	if raw == "" {
		return k.project, true
	}
	id, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || id <= 0 {
		writeErrors(w, []string{"Project must be a positive integer"})
		return 0, false
	}
	if k.project != 0 && id != k.project {
		writeError(w, http.StatusForbidden, "API key is not authorized for this project")
		return 0, false
	}
	s.mu.Lock()
	p, ok := s.data.projects[id]
	s.mu.Unlock()
	if !ok || p.account != k.account {
		writeErrors(w, []string{"Project must exist"})
		return 0, false
	}
	return id, true
}

// answer looks up, under the server's lock, the resource the request names
// and k sees, and answers 200 with what do makes of it, or 404 when there
// is none.
func answer[T, V any](s *Server, w http.ResponseWriter, r *http.Request, k *apiKey,
	lookup func(*http.Request, *apiKey) (T, bool), do func(T) V) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := lookup(r, k)
	if !ok {
		notFound(w)
		return
	}
	writeData(w, http.StatusOK, do(v))
}

// numericID reads a numeric path ID; the zero ID never exists.
func numericID(r *http.Request, name string) int {
	id, err := strconv.Atoi(r.PathValue(name))
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// paginate returns page of items, and the meta of the documented list shape;
// it writes the 400 itself and reports false on bad parameters.
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T) ([]T, map[string]int, bool) {
	q := r.URL.Query()
	page, ok := positiveParam(q.Get("page"), 1)
	if !ok {
		writeError(w, http.StatusBadRequest, "page must be a positive integer")
		return nil, nil, false
	}
	perPage, ok := positiveParam(q.Get("per_page"), defaultPerPage)
	if !ok || perPage > maxPerPage {
		writeError(w, http.StatusBadRequest, "per_page must be between 1 and 100")
		return nil, nil, false
	}
	from := min((page-1)*perPage, len(items))
	data := slices.Clone(items[from:min(from+perPage, len(items))])
	if data == nil {
		data = []T{}
	}
	return data, map[string]int{
		"current_page": page,
		"total_pages":  (len(items) + perPage - 1) / perPage,
		"total_count":  len(items),
		"per_page":     perPage,
	}, true
}

const (
	defaultPerPage = 20
	maxPerPage     = 100
	maxFieldLen    = 255
)

// positiveParam parses an optional positive integer parameter.
func positiveParam(v string, def int) (int, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n > 0
}

// stamp is a resource's time: the server's clock, to the second, UTC.
func (s *Server) stamp() time.Time { return s.now().UTC().Truncate(time.Second) }
