package emulator_test

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// TestConnectionsAndPeak: the emulator counts the connections it accepts
// and the most requests it answers at once.
func TestConnectionsAndPeak(t *testing.T) {
	e, base := start(t)
	get := func(c *http.Client) {
		resp, err := c.Get(base + "/no/such/path")
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	kept := &http.Client{}
	for range 3 {
		get(kept)
	}
	if n := e.Connections(); n != 1 {
		t.Errorf("%d connections for three calls on one kept-alive connection, want 1", n)
	}
	if p := e.PeakInFlight(); p != 1 {
		t.Errorf("peak %d after calls one at a time, want 1", p)
	}
	// Three calls held at once by a delay: three connections, a peak of 3.
	e.InjectFault(emulator.Fault{PathPrefix: "/no/", Delay: 200 * time.Millisecond, Times: 3})
	e.ResetPeak()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			get(&http.Client{Transport: tr})
		})
	}
	wg.Wait()
	if n := e.Connections(); n != 4 {
		t.Errorf("%d connections after three more clients, want 4", n)
	}
	if p := e.PeakInFlight(); p != 3 {
		t.Errorf("peak %d with three calls held at once, want 3", p)
	}
	e.ResetPeak()
	if p := e.PeakInFlight(); p != 0 {
		t.Errorf("peak %d after a reset with nothing in flight, want 0", p)
	}
}
