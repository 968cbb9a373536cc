package idctrace

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace/internal/redact"
)

//go:embed recorder_page.html
var pageHTML string

// accountPlaceholder stands for the account email in the tickets of a page
// asked for without ?email=.
const accountPlaceholder = "you@example.com (fill in)"

// ServeHTTP serves the Recorder's debug page, to mount on an internal mux:
// the failures counted per kind over the last hour, and the failures held,
// newest first, each with its support ticket. ?email= puts an account in
// the tickets; ?request_id= shows the failures of one request ID (404 when
// none is held); ?format=jsonl downloads the bundle [Recorder.WriteBundle]
// writes. Everything on it is what the logs hold, redacted; it loads
// nothing from elsewhere and works without JavaScript. It answers GET and
// HEAD only.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "idctrace: the debug page answers GET and HEAD only", http.StatusMethodNotAllowed)
		return
	}
	q := req.URL.Query()
	account := redact.Text(q.Get("email"), nil, false)
	var body bytes.Buffer
	status := http.StatusOK
	switch format := q.Get("format"); format {
	case "jsonl":
		if err := r.WriteBundle(&body, account); err != nil {
			http.Error(w, "idctrace: writing the bundle: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "application/jsonl; charset=utf-8")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="identitycall-failures-%s.jsonl"`,
			r.now().UTC().Format("20060102T150405Z")))
	case "":
		v := r.page(account, q.Get("request_id"))
		if v.Missing {
			status = http.StatusNotFound
		}
		// A script of our own may run; nothing from elsewhere may load.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+v.Nonce+"'; script-src 'nonce-"+v.Nonce+
			"'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("Content-Type", "text/html; charset=utf-8")
		// Parsed per request, so that importers who never mount the page pay nothing for it.
		tmpl, err := template.New("page").Parse(pageHTML)
		if err == nil {
			err = tmpl.Execute(&body, v)
		}
		if err != nil {
			http.Error(w, "idctrace: rendering the debug page: "+err.Error(), http.StatusInternalServerError)
			return
		}
	default:
		http.Error(w, fmt.Sprintf("idctrace: unknown format %q: the debug page has only format=jsonl", format), http.StatusBadRequest)
		return
	}
	h.Set("Content-Length", fmt.Sprint(body.Len()))
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		w.Write(body.Bytes())
	}
}

// pageView is what the page template shows.
type pageView struct {
	Nonce      string
	Account    string // as given in ?email=, redacted
	Generated  string
	Held, Size int
	Counted    int
	Kinds      []kindView
	Failures   []failureView
	RequestID  string // the ?request_id= asked for
	Missing    bool   // RequestID was asked for and is not held
	BundleURL  string
	AllURL     string
}

type kindView struct {
	Endpoint, Outcome, Class string
	Count                    int
	First, Last              string
	Bars                     []bar
	Peak                     int
}

// bar is one minute of a kind's sparkline, in SVG units.
type bar struct{ X, Y, H int }

type failureView struct {
	N               int // for element IDs: never record data
	Time, Timestamp string
	RequestID       string
	Attempt         int
	Endpoint        string
	Outcome, Class  string
	Message, Hint   string
	Fields          []fieldView
	Ticket          string
	Link            string
}

type fieldView struct{ Key, Value string }

// page builds the page's view from copies taken under the Recorder's lock,
// so that the Transports go on recording while it renders.
func (r *Recorder) page(account, requestID string) pageView {
	held := r.snapshot()
	r.mu.Lock()
	kinds := r.counts.sorted()
	r.mu.Unlock()
	now := r.now()

	ticketAccount := account
	if ticketAccount == "" {
		ticketAccount = accountPlaceholder
	}
	v := pageView{
		Nonce:     rand.Text(),
		Account:   account,
		Generated: now.UTC().Format(time.RFC3339),
		Held:      len(held),
		Size:      len(r.ring),
		RequestID: requestID,
		BundleURL: link(account, "format", "jsonl"),
		AllURL:    link(account),
	}
	for _, k := range kinds {
		v.Counted += k.total
		v.Kinds = append(v.Kinds, viewKind(k, now))
	}
	slices.Reverse(held)
	for i := range held {
		f := &held[i]
		if requestID != "" && f.requestID != requestID {
			continue
		}
		v.Failures = append(v.Failures, viewFailure(f, len(v.Failures), ticketAccount, now))
	}
	v.Missing = requestID != "" && len(v.Failures) == 0
	return v
}

// A kind's sparkline is sparkHeight high, with a bar every sparkStep for
// each minute (the template's SVG is countedMinutes*sparkStep wide).
const (
	sparkHeight = 20
	sparkStep   = 3
)

func viewKind(k kindCount, now time.Time) kindView {
	v := kindView{
		Endpoint: endpointText(k.method, k.route, ""),
		Outcome:  outcomeText(k.status, k.cause),
		Class:    outcomeClass(k.status),
		Count:    k.total,
		First:    clock(k.first, now, time.TimeOnly),
		Last:     clock(k.last, now, time.TimeOnly),
	}
	perMinute := k.perMinute(now)
	v.Peak = slices.Max(perMinute)
	for i, n := range perMinute {
		if n > 0 {
			h := max(1, n*sparkHeight/v.Peak)
			v.Bars = append(v.Bars, bar{X: sparkStep * i, Y: sparkHeight - h, H: h})
		}
	}
	return v
}

func viewFailure(f *record, n int, account string, now time.Time) failureView {
	message := f.message
	if message == "" {
		message = strings.Join(f.errs, "; ")
	}
	if message == "" {
		message = f.body
	}
	return failureView{
		N:         n,
		Time:      clock(f.started, now, "15:04:05.000"),
		Timestamp: f.started.UTC().Format(time.RFC3339Nano),
		RequestID: f.requestID,
		Attempt:   f.attempt,
		Endpoint:  endpointText(f.method, f.route, f.url),
		Outcome:   outcomeText(f.status, f.errType),
		Class:     outcomeClass(f.status),
		Message:   message,
		Hint:      f.hint,
		Fields:    fieldValues(f.fields()),
		Ticket:    f.ticket(account).String(),
		Link:      link(account, "request_id", f.requestID),
	}
}

// fieldValues renders the log entry's fields as the page shows them, in
// the entry's order, through zap's own encoding of each field.
func fieldValues(fields []zap.Field) []fieldView {
	enc := zapcore.NewMapObjectEncoder()
	out := make([]fieldView, 0, len(fields))
	for _, f := range fields {
		f.AddTo(enc)
		var value string
		switch x := enc.Fields[f.Key].(type) {
		case time.Time:
			value = x.UTC().Format(time.RFC3339Nano)
		case []any:
			lines := make([]string, len(x))
			for i, e := range x {
				lines[i] = fmt.Sprint(e)
			}
			value = strings.Join(lines, "\n")
		default:
			value = fmt.Sprint(x)
		}
		out = append(out, fieldView{Key: f.Key, Value: value})
	}
	return out
}

// endpointText is the documented endpoint, or the redacted URL of an
// undocumented one.
func endpointText(method, route, url string) string {
	switch {
	case route != "":
		url = route
	case url == "":
		url = "(undocumented path)"
	}
	return strings.TrimSpace(method + " " + url)
}

func outcomeText(status int, cause string) string {
	switch {
	case status != 0:
		return statusText(status)
	case cause == "":
		return "several" // the kinds counted together past maxKinds
	}
	return cause
}

// outcomeClass names the page's color of an outcome.
func outcomeClass(status int) string {
	switch {
	case status == 0 || status >= 500:
		return "bad"
	case status == http.StatusTooManyRequests:
		return "limit"
	}
	return "warn"
}

// clock is t in UTC in layout, or with its date instead of the fraction of
// a second when it is not today's.
func clock(t, now time.Time, layout string) string {
	t, now = t.UTC(), now.UTC()
	if t.Format(time.DateOnly) == now.Format(time.DateOnly) {
		return t.Format(layout)
	}
	return t.Format("01-02 15:04:05")
}

// link is a relative link to the page with account and the given name,
// value pairs as its query.
func link(account string, pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		q.Set(pairs[i], pairs[i+1])
	}
	if account != "" {
		q.Set("email", account)
	}
	return "?" + q.Encode()
}
