package idctest

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Operator is the API's operator resource: a person inbound calls are
// routed to.
type Operator struct {
	ID                  int     `json:"id"`
	Name                string  `json:"name"`
	PhoneNumber         string  `json:"phone_number"`
	Email               *string `json:"email"`
	Active              bool    `json:"active"`
	Initials            string  `json:"initials"`
	VirtualNumbersCount int     `json:"virtual_numbers_count"`
}

// operator is an Operator with its account and the projects it is linked
// to.
type operator struct {
	Operator
	account  string
	projects map[int]bool
}

// seenBy reports whether k sees o: an account-wide key every operator of
// its account, a project-scoped one those linked to its project.
func (o *operator) seenBy(k *apiKey) bool {
	return o.account == k.account && (k.project == 0 || o.projects[k.project])
}

// newOperator adds an operator; a project-scoped key links it to its
// project, as documented. The caller holds the lock.
func (st *store) newOperator(k *apiKey, name, phone string, email *string) *operator {
	o := &operator{Operator: Operator{ID: st.id(), Name: name, PhoneNumber: phone, Email: email, Active: true,
		Initials: initials(name)}, account: k.account, projects: map[int]bool{}}
	if k.project != 0 {
		o.projects[k.project] = true
	}
	st.operators[o.ID] = o
	return o
}

// initials are the first letters of the first two words of name.
func initials(name string) string {
	var out []rune
	for _, word := range strings.Fields(name) {
		if len(out) < 2 {
			r, _ := utf8.DecodeRuneInString(word)
			out = append(out, unicode.ToUpper(r))
		}
	}
	return string(out)
}

// viewOperator returns o with its count of virtual numbers. The caller
// holds the lock.
func (st *store) viewOperator(o *operator) Operator {
	out := o.Operator
	for _, n := range st.numbers {
		if slices.Contains(n.operators, o.ID) {
			out.VirtualNumbersCount++
		}
	}
	return out
}

// lookupOperator returns the operator the path names, if k sees it. The
// caller holds the lock.
func (st *store) lookupOperator(r *http.Request, k *apiKey) (*operator, bool) {
	o, ok := st.operators[numericID(r, "id")]
	return o, ok && o.seenBy(k)
}

func (s *Server) listOperators(w http.ResponseWriter, r *http.Request, k *apiKey) {
	s.mu.Lock()
	out := []Operator{}
	for _, o := range s.data.operators {
		if o.seenBy(k) {
			out = append(out, s.data.viewOperator(o))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Operator) int { return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	writeData(w, http.StatusOK, out)
}

// operatorBody is what a create or an update sends.
type operatorBody struct {
	Name        *string `json:"name"`
	PhoneNumber *string `json:"phone_number"`
	Email       *string `json:"email"`
	Active      *bool   `json:"active"`
}

func (s *Server) createOperator(w http.ResponseWriter, r *http.Request, k *apiKey) {
	var body operatorBody
	if !decodeJSON(w, r, &body) {
		return
	}
	var problems []string
	if body.Name == nil || strings.TrimSpace(*body.Name) == "" {
		problems = append(problems, "Name can't be blank")
	}
	if body.PhoneNumber == nil || strings.TrimSpace(*body.PhoneNumber) == "" {
		problems = append(problems, "Phone number can't be blank")
	}
	if len(problems) > 0 {
		writeErrors(w, problems)
		return
	}
	s.mu.Lock()
	o := s.data.newOperator(k, *body.Name, *body.PhoneNumber, body.Email)
	if body.Active != nil {
		o.Active = *body.Active
	}
	out := s.data.viewOperator(o)
	s.mu.Unlock()
	writeData(w, http.StatusCreated, out)
}

func (s *Server) getOperator(w http.ResponseWriter, r *http.Request, k *apiKey) {
	answer(s, w, r, k, (*store).lookupOperator, (*store).viewOperator)
}

func (s *Server) updateOperator(w http.ResponseWriter, r *http.Request, k *apiKey) {
	if !exists(s, w, r, k, (*store).lookupOperator) {
		return
	}
	var body operatorBody
	if !decodeJSON(w, r, &body) {
		return
	}
	if body.Name != nil && strings.TrimSpace(*body.Name) == "" {
		writeErrors(w, []string{"Name can't be blank"})
		return
	}
	answer(s, w, r, k, (*store).lookupOperator, func(st *store, o *operator) Operator {
		if body.Name != nil {
			o.Name, o.Initials = *body.Name, initials(*body.Name)
		}
		if body.PhoneNumber != nil {
			o.PhoneNumber = *body.PhoneNumber
		}
		if body.Email != nil {
			o.Email = body.Email
		}
		if body.Active != nil {
			o.Active = *body.Active
		}
		return st.viewOperator(o)
	})
}

// deleteOperator deletes an operator and, as documented, its attachments
// to virtual numbers; the numbers stay.
func (s *Server) deleteOperator(w http.ResponseWriter, r *http.Request, k *apiKey) {
	s.mu.Lock()
	o, ok := s.data.lookupOperator(r, k)
	if ok {
		s.data.deleteOperator(o)
	}
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// deleteOperator forgets o and its attachments. The caller holds the lock.
func (st *store) deleteOperator(o *operator) {
	delete(st.operators, o.ID)
	for _, n := range st.numbers {
		n.operators = slices.DeleteFunc(n.operators, func(id int) bool { return id == o.ID })
	}
}
