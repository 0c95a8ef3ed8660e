package emulator

import (
	"net"
	"net/http"
)

// Connections is how many connections the server has accepted since
// Start: a client that keeps its connections alive opens few, one that
// drops them after each call opens one per call.
func (e *Emulator) Connections() int64 { return e.conns.Load() }

// PeakInFlight is the most requests the emulator answered at once since
// ResetPeak (or New), admin calls included.
func (e *Emulator) PeakInFlight() int64 { return e.peak.Load() }

// ResetPeak starts PeakInFlight afresh from the requests in flight now.
func (e *Emulator) ResetPeak() { e.peak.Store(e.inFlight.Load()) }

func (e *Emulator) countConn(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		e.conns.Add(1)
	}
}

// countInFlight keeps inFlight and peak.
func (e *Emulator) countInFlight(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.inFlight.Add(1)
		defer e.inFlight.Add(-1)
		for {
			p := e.peak.Load()
			if n <= p || e.peak.CompareAndSwap(p, n) {
				break
			}
		}
		next.ServeHTTP(w, r)
	})
}
