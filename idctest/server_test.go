package idctest_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/idctest"
)

func TestNewServer(t *testing.T) {
	t.Parallel()
	srv := idctest.NewServer()
	defer srv.Close()
	assert.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	assert.Equal(t, "http://"+srv.Listener.Addr().String()+idctest.BasePath, srv.URL)
	assert.Equal(t, 401, call(t, srv, "", "GET", "/recordings", nil).status)
	assert.PanicsWithValue(t, "idctest: Server already started", srv.Start)
}

func TestNewUnstartedServer(t *testing.T) {
	t.Parallel()
	srv := idctest.NewUnstartedServer(idctest.WithRateLimit(1, time.Hour))
	assert.Empty(t, srv.URL, "Start sets it")
	assert.Nil(t, srv.Client(), "Start makes it")
	made := srv.Listener
	require.NotNil(t, made)
	assert.Equal(t, "127.0.0.1", made.Addr().(*net.TCPAddr).IP.String())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	assert.Equal(t, "http://"+l.Addr().String()+idctest.BasePath, srv.URL)
	_, err = made.Accept()
	assert.ErrorIs(t, err, net.ErrClosed, "Start closed the listener it replaced")

	key := srv.NewKey(idctest.Read)
	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status, "served on the caller's listener")
	assert.Equal(t, 429, call(t, srv, key, "GET", "/recordings", nil).status, "with the options given")
}

func TestCloseAnUnstartedServer(t *testing.T) {
	t.Parallel()
	srv := idctest.NewUnstartedServer()
	made := srv.Listener
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv.Listener = l
	srv.Close()
	for _, l := range []net.Listener{made, l} {
		_, err := l.Accept()
		assert.True(t, errors.Is(err, net.ErrClosed), "%v", err)
	}

	srv = idctest.NewUnstartedServer()
	srv.Listener.Close()
	srv.Listener = nil
	assert.PanicsWithValue(t, "idctest: Start: nil Listener", srv.Start)
}

func TestClockStampsResources(t *testing.T) {
	t.Parallel()
	var clock fakeClock
	clock.advance(90 * time.Minute)
	srv := idctest.Start(t, idctest.WithClock(clock.now))
	key := srv.NewKey(idctest.Write)
	project := newProject(t, srv, key, "P")
	rec := upload(t, srv, key, "project_id", project)
	assert.Equal(t, "2026-11-25T10:30:00Z", rec["created_at"])
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t, idctest.WithRateLimit(1000, time.Minute))
	key := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	project := newProject(t, srv, key, "P")
	var wg sync.WaitGroup
	for i := range 40 {
		body := form(t, "call.mp3", "audio", "project_id", project, "external_id", fmt.Sprint("x", i%8))
		wg.Go(func() {
			var err error
			switch i % 4 {
			case 0:
				var r result
				r, err = send(srv, key, "POST", "/recordings", strings.NewReader(string(body.body)), body.contentType)
				assert.Contains(t, []int{200, 201}, r.status)
			case 1:
				_, err = send(srv, key, "GET", "/recordings", nil, "")
			case 2:
				srv.NewKey(idctest.Read)
				srv.Inject(1, idctest.Fault{Header: http.Header{"X-Fault": {"1"}}})
			case 3:
				srv.RequestIDs()
				_, err = send(srv, key, "DELETE", "/recordings/none", nil, "")
			}
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	r := call(t, srv, key, "GET", "/recordings", nil)
	assert.EqualValues(t, 2, r.json(t)["meta"].(map[string]any)["total_count"], "x0 and x4: idempotent uploads")
}
