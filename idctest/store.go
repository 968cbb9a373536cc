package idctest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// store holds every resource. The Server's mutex guards it: store methods
// run with it held, and handlers hold it around them only, never while
// they write a response.
type store struct {
	nextID     int
	recordings map[string]*recording // by public ID
	order      []string              // recording public IDs, oldest first
	projects   map[int]*project
	numbers    map[int]*number
	operators  map[int]*operator

	now        func() time.Time
	processing time.Duration // > 0: a recording completes this long after its upload
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

// A lookup returns the resource the request's path names, if k sees it.
type lookup[T any] func(st *store, r *http.Request, k *apiKey) (T, bool)

// exists answers 404 and reports false when the resource the path names
// is not there for k: the check that comes before the request's body.
func exists[T any](s *Server, w http.ResponseWriter, r *http.Request, k *apiKey, find lookup[T]) bool {
	s.mu.Lock()
	_, ok := find(&s.data, r, k)
	s.mu.Unlock()
	if !ok {
		notFound(w)
	}
	return ok
}

// answer finds the resource the path names for k and makes the answer of
// it with do, both under the lock; then it writes 200 and the answer, or
// 404 when there is no such resource.
func answer[T, V any](s *Server, w http.ResponseWriter, r *http.Request, k *apiKey, find lookup[T], do func(*store, T) V) {
	s.mu.Lock()
	v, ok := find(&s.data, r, k)
	var out V
	if ok {
		out = do(&s.data, v)
	}
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	writeData(w, http.StatusOK, out)
}

// numericID reads a numeric path ID; the zero ID never exists.
func numericID(r *http.Request, name string) int {
	id, err := strconv.Atoi(r.PathValue(name))
	if err != nil || id <= 0 {
		return 0
	}
	return id
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
	ok = ok && p.account == k.account
	s.mu.Unlock()
	if !ok {
		writeErrors(w, []string{"Project must exist"})
		return 0, false
	}
	return id, true
}

// stamp is a resource's time: the server's clock, to the second, UTC.
func (s *Server) stamp() time.Time { return s.now().UTC().Truncate(time.Second) }
