package idctrace

import (
	"bytes"
	"cmp"
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

var _ http.Handler = (*Recorder)(nil)

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
	var err error
	status := http.StatusOK
	switch format := q.Get("format"); format {
	case "jsonl":
		err = r.WriteBundle(&body, account)
		h.Set("Content-Type", "application/jsonl; charset=utf-8")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="identitycall-failures-%s.jsonl"`,
			r.now().UTC().Format("20060102T150405Z")))
	case "":
		v := r.page(account, q.Get("request_id"))
		if v.Missing() {
			status = http.StatusNotFound
		}
		// A script of our own may run; nothing from elsewhere may load.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+v.Nonce+"'; script-src 'nonce-"+v.Nonce+
			"'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("Content-Type", "text/html; charset=utf-8")
		// Parsed per request, so that importers who never mount the page pay
		// nothing for it; it is embedded, so the tests parse what ships.
		err = template.Must(template.New("page").Parse(pageHTML)).Execute(&body, v)
	default:
		http.Error(w, fmt.Sprintf("idctrace: unknown format %q: the debug page has only format=jsonl",
			redact.Text(format, nil, false)), http.StatusBadRequest)
		return
	}
	if err != nil {
		h.Del("Content-Disposition")
		http.Error(w, "idctrace: the debug page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h.Set("Content-Length", fmt.Sprint(body.Len()))
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		w.Write(body.Bytes())
	}
}

// pageView is what the page template shows; the Account and RequestID
// asked for, and every string from a record, are escaped by html/template.
type pageView struct {
	Nonce, Account, Generated, RequestID, BundleURL, AllURL string
	Held, Size, Counted                                     int
	Kinds                                                   []kindView
	Failures                                                []failureView
}

// Missing reports that RequestID was asked for and is not held. RequestID
// is "" only when none was asked for: redacting keeps a text non-empty.
func (v pageView) Missing() bool { return v.RequestID != "" && len(v.Failures) == 0 }

type kindView struct {
	Endpoint, Outcome, Class, First, Last string
	Count, Peak                           int
	Bars                                  []bar
}

// bar is one minute of a kind's sparkline, in SVG units.
type bar struct{ X, Y, H int }

type failureView struct {
	Attempt                                     int
	Time, RequestID, Endpoint                   string
	Outcome, Class, Message, Hint, Ticket, Link string
	Fields                                      []fieldView
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

	v := pageView{
		Nonce:     rand.Text(),
		Account:   account,
		Generated: now.UTC().Format(time.RFC3339),
		Held:      len(held),
		Size:      r.size,
		RequestID: redact.Text(requestID, nil, false), // typed by whoever opened the page
		BundleURL: link(url.Values{"format": {"jsonl"}}, account),
		AllURL:    link(url.Values{}, account),
	}
	for _, k := range kinds {
		v.Counted += k.total
		v.Kinds = append(v.Kinds, viewKind(k, now))
	}
	for _, f := range slices.Backward(held) {
		if requestID != "" && f.requestID != requestID {
			continue
		}
		v.Failures = append(v.Failures, viewFailure(&f, account, now))
	}
	return v
}

func viewKind(k kindCount, now time.Time) kindView {
	// A bar every sparkStep units for each minute: the template's SVG is
	// countedMinutes*sparkStep wide and sparkHeight high.
	const sparkHeight, sparkStep = 20, 3
	v := kindView{
		Endpoint: endpointText(k.method, k.route, ""),
		Count:    k.total,
		First:    clock(k.first, now, time.TimeOnly),
		Last:     clock(k.last, now, time.TimeOnly),
	}
	v.Outcome, v.Class = outcome(k.status, k.cause)
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

func viewFailure(f *record, account string, now time.Time) failureView {
	v := failureView{
		Time:      clock(f.started, now, "15:04:05.000"),
		RequestID: f.requestID,
		Attempt:   f.attempt,
		Endpoint:  endpointText(f.method, f.route, f.url),
		Message:   cmp.Or(f.message, strings.Join(f.errs, "; "), f.body),
		Hint:      f.hint,
		Fields:    fieldValues(f.fields()),
		Ticket:    f.ticket(cmp.Or(account, accountPlaceholder)).String(),
		Link:      link(url.Values{"request_id": {f.requestID}}, account),
	}
	v.Outcome, v.Class = outcome(f.status, f.errType)
	return v
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
	return strings.TrimSpace(method + " " + cmp.Or(route, url, "(undocumented path)"))
}

// outcome is the status or cause, and the page's color for it.
func outcome(status int, cause string) (text, class string) {
	switch {
	case status == 0:
		return cmp.Or(cause, "several"), "bad" // several: the kinds counted together past maxKinds
	case status >= 500:
		return statusText(status), "bad"
	case status == http.StatusTooManyRequests:
		return statusText(status), "limit"
	}
	return statusText(status), "warn"
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

// link is a relative link to the page with q and account as its query.
func link(q url.Values, account string) string {
	if account != "" {
		q.Set("email", account)
	}
	return "?" + q.Encode()
}
