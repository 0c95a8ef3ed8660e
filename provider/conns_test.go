package provider

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConnectionsPerHostBounded: many calls of one config at once, as
// Vault's revoke workers make them in a mass revoke, share at most
// maxConnsPerHost connections to the upstream, and the next burst reuses
// them rather than opening new ones.
func TestConnectionsPerHostBounded(t *testing.T) {
	var opened, inFlight, peak atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond) // a distant upstream
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	cl, err := New(Config{Provider: "cdp", BaseURL: srv.URL, Username: "u", Password: "p"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	burst := func() {
		var wg sync.WaitGroup
		for range 10 * maxConnsPerHost {
			wg.Go(func() {
				if err := cl.(Revoker).Revoke(context.Background(), "tok"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	burst()
	if p := peak.Load(); p > maxConnsPerHost || p < 2 {
		t.Errorf("%d calls at once upstream, want 2 to %d", p, maxConnsPerHost)
	}
	if n := opened.Load(); n > maxConnsPerHost {
		t.Errorf("%d connections opened for %d calls, want at most %d", n, 10*maxConnsPerHost, maxConnsPerHost)
	}
	first := opened.Load()
	burst()
	if n := opened.Load() - first; n != 0 {
		t.Errorf("the second burst opened %d connections, want 0: the first burst's were not kept", n)
	}
}
