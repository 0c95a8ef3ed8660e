package provider

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// calls is a CallRecorder that keeps "operation outcome" per attempt.
type calls struct {
	mu  sync.Mutex
	got []string
}

func (c *calls) UpstreamCall(op, outcome string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d < 0 {
		outcome += " (negative duration)"
	}
	c.got = append(c.got, op+" "+outcome)
}

func (c *calls) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.got
	c.got = nil
	return g
}

// Every operation an upstream call names has a metrics name: the
// operations that name a URL field (opURLField), and every Op string the
// provider files pass to withOperation, call, send or tokenError.
func TestEveryOperationIsNamed(t *testing.T) {
	for op := range opURLField {
		if _, ok := operations[op]; !ok {
			t.Errorf("operation %q has no metrics name", op)
		}
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	// The string literal naming the operation of a call.
	re := regexp.MustCompile(`(?:withOperation\(ctx, |codeContext\(ctx, |c\.call\(ctx, |tokenError\(|apiCall\(ctx, c\.http\.\w+, |const op = )"([^"]+)"`)
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(src, -1) {
			found++
			if _, ok := operations[string(m[1])]; !ok {
				t.Errorf("%s: operation %q has no metrics name", f, m[1])
			}
		}
	}
	if found < 10 {
		t.Errorf("found only %d operation names in the sources; has the pattern gone stale?", found)
	}
	names := map[string]bool{}
	for _, n := range operations {
		names[n] = true
	}
	for _, n := range []string{OpToken, OpCodeExchange, OpRefresh, OpRevoke, OpAccountCheck, OpKeyCreate, OpKeyList,
		OpKeyRead, OpKeyDelete, OpClientCheck, OpRetrieve, OpExtend, OpDelete, OpDeleteAll, OpLogin, OpLogout} {
		if !names[n] {
			t.Errorf("no operation maps to %s", n)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestOutcomeOf(t *testing.T) {
	resp := func(s int) *http.Response { return &http.Response{StatusCode: s} }
	for _, c := range []struct {
		resp *http.Response
		err  error
		want string
	}{
		{resp(200), nil, "ok"},
		{resp(204), nil, "ok"},
		{resp(400), nil, "400"},
		{resp(401), nil, "401"},
		{resp(429), nil, "429"},
		{resp(500), nil, "5xx"},
		{resp(503), nil, "5xx"},
		{resp(302), nil, "redirect_refused"},
		{nil, &RedirectError{Status: 301}, "redirect_refused"},
		{nil, context.DeadlineExceeded, "timeout"},
		{nil, &net.OpError{Op: "dial", Err: timeoutErr{}}, "timeout"},
		{nil, context.Canceled, "canceled"},
		{nil, errors.New("connection reset by peer"), "network_error"},
		{nil, io.ErrUnexpectedEOF, "network_error"},
	} {
		if got := outcomeOf(c.resp, c.err); got != c.want {
			t.Errorf("outcomeOf(%v, %v) = %q, want %q", c.resp, c.err, got, c.want)
		}
	}
}

// net/http sends a GET again on a new connection when a reused one is
// reset before the answer; the upstream saw both, and so must the count.
func TestTransportRetryCountsEachConnection(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 2 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
		_, _ = io.WriteString(w, "{}")
	}))
	defer srv.Close()
	rec := &calls{}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: &metricsTransport{next: tr, rec: rec}}
	for range 2 {
		req, _ := http.NewRequestWithContext(withOperation(context.Background(), "token retrieve"), http.MethodGet, srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("net/http did not send the GET again: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	got := rec.take()
	want := []string{"retrieve ok", "retrieve network_error", "retrieve ok"}
	if !slices.Equal(got, want) || int(n.Load()) != len(got) {
		t.Errorf("recorded %q for %d requests received, want %q", got, n.Load(), want)
	}
}
