package idctest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// VirtualNumber is the API's virtual number resource: a phone number
// rented through IdentityCall, with the operators its calls go to.
type VirtualNumber struct {
	ID                    int           `json:"id"`
	PhoneNumber           string        `json:"phone_number"`
	Name                  string        `json:"name"`
	CountryCode           string        `json:"country_code"`
	Active                bool          `json:"active"`
	Recording             bool          `json:"recording"`
	AIReceptionistEnabled bool          `json:"ai_receptionist_enabled"`
	ProjectID             *int          `json:"project_id"`
	Operators             []OperatorRef `json:"operators"`
	OperatorsCount        int           `json:"operators_count"`
}

// OperatorRef is an operator as a virtual number lists it.
type OperatorRef struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Initials string `json:"initials"`
}

// number is a virtual number with what the API does not show.
type number struct {
	VirtualNumber
	account   string
	project   int   // 0: none
	operators []int // attached operator IDs, by priority
}

// viewNumber returns n with its operators. The caller holds the lock.
func (st *store) viewNumber(n *number) VirtualNumber {
	out := n.VirtualNumber
	if n.project != 0 {
		p := n.project
		out.ProjectID = &p
	}
	out.Operators = []OperatorRef{}
	for _, id := range n.operators {
		if o, ok := st.operators[id]; ok {
			out.Operators = append(out.Operators, OperatorRef{o.ID, o.Name, o.Initials})
		}
	}
	out.OperatorsCount = len(out.Operators)
	return out
}

// lookupNumber returns the virtual number the path names, if k sees it.
// The caller holds the lock.
func (st *store) lookupNumber(r *http.Request, k *apiKey) (*number, bool) {
	n, ok := st.numbers[numericID(r, "id")]
	return n, ok && k.sees(n.account, n.project)
}

func (s *Server) listNumbers(w http.ResponseWriter, r *http.Request, k *apiKey) {
	s.mu.Lock()
	out := []VirtualNumber{}
	for _, n := range s.data.numbers {
		if k.sees(n.account, n.project) {
			out = append(out, s.data.viewNumber(n))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b VirtualNumber) int { return cmp.Compare(a.ID, b.ID) })
	writeData(w, http.StatusOK, out)
}

// availableNumbers answers the inventory search with a few numbers of the
// country and type asked for.
func (s *Server) availableNumbers(w http.ResponseWriter, r *http.Request, k *apiKey) {
	q := r.URL.Query()
	country := strings.ToUpper(cmp.Or(q.Get("country"), "US"))
	numberType := cmp.Or(q.Get("number_type"), "mobile")
	switch numberType {
	case "mobile", "local", "toll-free", "national":
	default:
		writeError(w, http.StatusBadRequest, "number_type must be mobile, local, toll-free or national")
		return
	}
	out := []map[string]any{}
	for i := range 3 {
		out = append(out, map[string]any{
			"phone_number": fmt.Sprintf("+1555010%04d", i), "country_code": country, "number_type": numberType,
			"upfront_cost": "1.00", "monthly_cost": "1.00", "features": []string{"voice"},
		})
	}
	writeData(w, http.StatusOK, out)
}

// purchaseNumber serves both documented paths of a purchase.
func (s *Server) purchaseNumber(w http.ResponseWriter, r *http.Request, k *apiKey) {
	var body struct {
		PhoneNumber string `json:"phone_number"`
		CountryCode string `json:"country_code"`
		Name        string `json:"name"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	if strings.TrimSpace(body.PhoneNumber) == "" {
		writeError(w, http.StatusUnprocessableEntity, "phone_number is required")
		return
	}
	s.mu.Lock()
	n := &number{VirtualNumber: VirtualNumber{ID: s.data.id(), PhoneNumber: body.PhoneNumber, Name: body.Name,
		CountryCode: cmp.Or(body.CountryCode, "US"), Active: true, Recording: true}, account: k.account, project: k.project}
	s.data.numbers[n.ID] = n
	out := s.data.viewNumber(n)
	s.mu.Unlock()
	writeData(w, http.StatusCreated, out)
}

func (s *Server) getNumber(w http.ResponseWriter, r *http.Request, k *apiKey) {
	answer(s, w, r, k, (*store).lookupNumber, (*store).viewNumber)
}

func (s *Server) updateNumber(w http.ResponseWriter, r *http.Request, k *apiKey) {
	if !exists(s, w, r, k, (*store).lookupNumber) {
		return
	}
	var body struct {
		Name      *string `json:"name"`
		Active    *bool   `json:"active"`
		Recording *bool   `json:"recording"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	answer(s, w, r, k, (*store).lookupNumber, func(st *store, n *number) VirtualNumber {
		if body.Name != nil {
			n.Name = *body.Name
		}
		if body.Active != nil {
			n.Active = *body.Active
		}
		if body.Recording != nil {
			n.Recording = *body.Recording
		}
		return st.viewNumber(n)
	})
}

// addOperator attaches an operator by its ID, or creates one from a phone
// number; attaching one already attached changes nothing.
func (s *Server) addOperator(w http.ResponseWriter, r *http.Request, k *apiKey) {
	if !exists(s, w, r, k, (*store).lookupNumber) {
		return
	}
	var body struct {
		OperatorID  json.Number `json:"operator_id"`
		PhoneNumber string      `json:"phone_number"`
		Name        string      `json:"name"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	if body.OperatorID == "" && strings.TrimSpace(body.PhoneNumber) == "" {
		writeError(w, http.StatusUnprocessableEntity, "operator_id or phone_number is required")
		return
	}
	s.mu.Lock()
	n, ok := s.data.lookupNumber(r, k)
	var o *operator
	switch {
	case !ok:
	case body.OperatorID != "": // documented: operator_id wins
		id, _ := strconv.Atoi(string(body.OperatorID))
		o, ok = s.data.operators[id]
		ok = ok && o.seenBy(k)
	default:
		o = s.data.newOperator(k, cmp.Or(body.Name, "Operator"), body.PhoneNumber, nil)
	}
	var out VirtualNumber
	if ok {
		if !slices.Contains(n.operators, o.ID) {
			n.operators = append(n.operators, o.ID)
		}
		out = s.data.viewNumber(n)
	}
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	writeData(w, http.StatusOK, out)
}

// removeOperator detaches an operator, named by the path or by operator_id
// in the query or a JSON body.
func (s *Server) removeOperator(w http.ResponseWriter, r *http.Request, k *apiKey) {
	if !exists(s, w, r, k, (*store).lookupNumber) {
		return
	}
	raw := r.PathValue("id2")
	if raw == "" {
		raw = r.URL.Query().Get("operator_id")
	}
	if raw == "" {
		var body struct {
			OperatorID json.Number `json:"operator_id"`
		}
		if !decodeJSON(w, r, &body) {
			return
		}
		raw = string(body.OperatorID)
	}
	id, _ := strconv.Atoi(raw)
	s.mu.Lock()
	n, ok := s.data.lookupNumber(r, k)
	ok = ok && slices.Contains(n.operators, id) // documented: 404 also when the operator is not attached
	var out VirtualNumber
	if ok {
		n.operators = slices.DeleteFunc(n.operators, func(o int) bool { return o == id })
		out = s.data.viewNumber(n)
	}
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	writeData(w, http.StatusOK, out)
}
