package idctrace

// The debug page in a real browser: headless Chromium, run as a program so
// that the root module needs no browser library. Run it alone with
// `go test -run Browser .`; set IDCTRACE_SCREENSHOT_DIR to keep a
// screenshot.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath returns the Chromium binary, or skips the test without one
// (fails it when IDCTRACE_CI=1, since CI installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("IDCTRACE_CI") == "1" {
			t.Fatalf("chromium not found and IDCTRACE_CI=1: .ci/run installs it: %v", err)
		}
		t.Skip("chromium not installed (apt-get install chromium): the browser test needs it")
	}
	return path
}

// browse loads pageURL in headless Chromium and returns the rendered DOM
// and Chromium's log, which holds the page's console messages. With
// IDCTRACE_SCREENSHOT_DIR set, it keeps a screenshot of the page there as
// name.png (taking one doubles the browser's time).
func browse(t *testing.T, chromium, pageURL, name string) (dom, log string) {
	t.Helper()
	// Far past a normal load (seconds), so that a loaded machine slows the
	// test rather than failing it; a hung browser still ends.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		// Without these, Chromium dials out, and this machine's closed network refuses it.
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--window-size=1280,2000", "--dump-dom", pageURL}
	dir := os.Getenv("IDCTRACE_SCREENSHOT_DIR")
	if dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		png := filepath.Join(dir, name+".png")
		args = append(args[:len(args)-1], "--screenshot="+png, pageURL)
		t.Cleanup(func() { t.Logf("screenshot: %s", png) })
	}
	cmd := exec.CommandContext(ctx, chromium, args...)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())
	return string(out), stderr.String()
}

var copyButtonRE = regexp.MustCompile(`<button type="button" data-copy="ticket-\d+"( hidden="")?>Copy ticket</button>`)

func TestBrowserRecorderPage(t *testing.T) {
	t.Parallel()
	chromium := chromiumPath(t)
	rec := NewRecorder(0)
	// An hour of earlier 503s, counted and no longer held, oldest first, as
	// a storm 20 minutes ago would leave them: the sparkline then has a shape.
	now := time.Now()
	rec.mu.Lock()
	for m := countedMinutes - 1; m > 0; m-- {
		n := 1 + m%4
		if 18 <= m && m <= 24 {
			n += 12
		}
		for range n {
			rec.counts.add(kind{method: "GET", route: "/recordings", status: 503}, now.Add(-time.Duration(m)*time.Minute))
		}
	}
	rec.mu.Unlock()
	calls := append(hostileFailures(t, rec), standardFailures(t, rec)...)
	unavailable := calls[len(calls)-3] // the 503, retried twice
	mux := http.NewServeMux()
	mux.Handle("/debug/identitycall", rec)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	const account = "ops@example.com"

	// One page: what the browser adds (the script, the style, the policy)
	// is the same on every page; TestRecorderPageRequestID covers the
	// filter without a browser.
	tests := []struct {
		name, query string
		ids         []string // the request IDs shown, in order
	}{
		{name: "debug-page", query: "?email=" + url.QueryEscape(account)},
	}
	for i := len(calls) - 1; i >= 0; i-- {
		for range calls[i].attempts {
			tests[0].ids = append(tests[0].ids, calls[i].id)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dom, log := browse(t, chromium, srv.URL+"/debug/identitycall"+tt.query, tt.name)

			assert.Equal(t, tt.ids, shownIDs(dom))
			assert.Equal(t, 1, strings.Count(dom, "<script"), "only the page's own script")
			assert.NotContains(t, dom, "<img", "no element from a body")
			assertNoKey(t, dom)
			assertNoRun(t, dom, testKey[4:len(testKey)-4], 5)
			assert.NotContains(t, log, "Content Security Policy", "the page's own style and script are allowed")
			buttons := copyButtonRE.FindAllStringSubmatch(dom, -1)
			assert.Len(t, buttons, len(tt.ids))
			for _, b := range buttons {
				assert.Empty(t, b[1], "the script ran and showed the copy button")
			}
			assert.Greater(t, strings.Count(dom, `<rect class="bad"`), countedMinutes, "the sparklines drawn")
			tickets := shownTickets(dom)
			require.Len(t, tickets, len(tt.ids))
			newest := slices.Index(tt.ids, unavailable.id)
			assert.Equal(t, unavailable.ticket(account), tickets[newest], "the ticket the error gives, as rendered")
		})
	}
}
