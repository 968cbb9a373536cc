package idctest

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// Project is the API's project resource: a container for recordings,
// virtual numbers and operators.
type Project struct {
	ID                  int     `json:"id"`
	Name                string  `json:"name"`
	Language            string  `json:"language"`
	Industry            *string `json:"industry"`
	Description         string  `json:"description,omitempty"`
	CreatedAt           string  `json:"created_at"`
	UpdatedAt           string  `json:"updated_at"`
	RecordingsCount     int     `json:"recordings_count"`
	VirtualNumbersCount int     `json:"virtual_numbers_count"`
}

// project is a Project with its account.
type project struct {
	Project
	account string
}

// projectBody is what a create or an update sends.
type projectBody struct {
	Name        *string `json:"name"`
	Language    *string `json:"language"`
	Industry    *string `json:"industry"`
	Description *string `json:"description"`
}

// errScopedProjects is the documented 403 of a project-scoped key that
// creates or deletes a project.
const errScopedProjects = "Project-scoped API keys cannot create or destroy projects"

// view returns p with its counts. The caller holds the lock.
func (st *store) view(p *project) Project {
	out := p.Project
	for _, rec := range st.recordings {
		if rec.account == p.account && rec.ProjectID == p.ID {
			out.RecordingsCount++
		}
	}
	for _, n := range st.numbers {
		if n.account == p.account && n.project == p.ID {
			out.VirtualNumbersCount++
		}
	}
	return out
}

// lookupProject returns the project the path names, if k sees it. The
// caller holds the lock.
func (st *store) lookupProject(r *http.Request, k *apiKey) (*project, bool) {
	p, ok := st.projects[numericID(r, "id")]
	return p, ok && k.sees(p.account, p.ID)
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, k *apiKey) {
	s.mu.Lock()
	out := []Project{}
	for _, p := range s.data.projects {
		if k.sees(p.account, p.ID) {
			out = append(out, s.data.view(p))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Project) int { return strings.Compare(a.Name, b.Name) }) // documented: by name
	writeData(w, http.StatusOK, out)
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, k *apiKey) {
	if k.project != 0 {
		writeError(w, http.StatusForbidden, errScopedProjects)
		return
	}
	var body projectBody
	if !decodeJSON(w, r, &body) {
		return
	}
	var problems []string
	if body.Name == nil || strings.TrimSpace(*body.Name) == "" {
		problems = append(problems, "Name can't be blank")
	}
	if body.Language == nil || strings.TrimSpace(*body.Language) == "" {
		problems = append(problems, "Language can't be blank")
	}
	if len(problems) > 0 {
		writeErrors(w, problems)
		return
	}
	now := s.stamp().Format(time.RFC3339)
	s.mu.Lock()
	p := &project{Project: Project{ID: s.data.id(), Name: *body.Name, Language: *body.Language, Industry: body.Industry,
		CreatedAt: now, UpdatedAt: now}, account: k.account}
	if body.Description != nil {
		p.Description = *body.Description
	}
	s.data.projects[p.ID] = p
	created := s.data.view(p)
	s.mu.Unlock()
	writeData(w, http.StatusCreated, created)
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, k *apiKey) {
	answer(s, w, r, k, (*store).lookupProject, (*store).view)
}

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request, k *apiKey) {
	if !exists(s, w, r, k, (*store).lookupProject) {
		return
	}
	var body projectBody
	if !decodeJSON(w, r, &body) {
		return
	}
	if body.Name != nil && strings.TrimSpace(*body.Name) == "" {
		writeErrors(w, []string{"Name can't be blank"})
		return
	}
	now := s.stamp().Format(time.RFC3339)
	answer(s, w, r, k, (*store).lookupProject, func(st *store, p *project) Project {
		if body.Name != nil {
			p.Name = *body.Name
		}
		if body.Language != nil {
			p.Language = *body.Language
		}
		if body.Industry != nil {
			p.Industry = body.Industry
		}
		if body.Description != nil {
			p.Description = *body.Description
		}
		p.UpdatedAt = now
		return st.view(p)
	})
}

// deleteProject deletes a project and, as documented, its recordings and
// virtual numbers, and its operators' links to it.
func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request, k *apiKey) {
	if k.project != 0 {
		writeError(w, http.StatusForbidden, errScopedProjects)
		return
	}
	s.mu.Lock()
	p, ok := s.data.lookupProject(r, k)
	if ok {
		s.data.deleteProject(p)
	}
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteProject forgets p, its recordings and virtual numbers, and its
// operators' links to it. The caller holds the lock.
func (st *store) deleteProject(p *project) {
	delete(st.projects, p.ID)
	for id, rec := range st.recordings {
		if rec.account == p.account && rec.ProjectID == p.ID {
			st.deleteRecording(id)
		}
	}
	for id, n := range st.numbers {
		if n.account == p.account && n.project == p.ID {
			delete(st.numbers, id)
		}
	}
	for _, o := range st.operators {
		delete(o.projects, p.ID)
	}
}
