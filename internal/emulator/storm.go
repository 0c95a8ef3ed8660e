package emulator

import (
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A storm makes a share of all requests fail at random, drawing from the
// fault kinds below, so a load test meets every kind of failure in one run.
// Queued faults (InjectFault) still come first; the admin API is exempt.
//
// Each fault but one answers in place of the service: nothing is created,
// revoked or extended upstream by a faulted request, as with a proxy or
// load balancer failing in front of the real service. The exception is
// StormLate: the service acts at once and its answer arrives after the
// client gave up (Storm.Slow), so a token may exist that no client can
// name; the plugin finds it (cdp) or counts it as lost.

// Storm fault kinds.
const (
	Storm500          = "500"
	Storm502          = "502"
	Storm503          = "503"
	Storm429Seconds   = "429-retry-after-seconds"
	Storm429Date      = "429-retry-after-date"
	StormReset        = "connection-reset"
	StormSlow         = "slow"
	StormTruncated    = "truncated-json"
	StormMalformed    = "malformed-json"
	StormOversized    = "oversized-body"
	StormRedirect     = "redirect"
	StormLate         = "late-answer"
	stormOversizeSize = 2 << 20
)

// StormKinds lists every storm fault kind.
var StormKinds = []string{Storm500, Storm502, Storm503, Storm429Seconds, Storm429Date, StormReset, StormSlow,
	StormTruncated, StormMalformed, StormOversized, StormRedirect, StormLate}

// Storm configures random faults.
type Storm struct {
	// Rate is the share of requests that fail, 0 to 1; 0 ends the storm.
	Rate float64
	// Kinds to draw from, equally likely; every kind when empty.
	Kinds []string
	// Slow is how long a slow answer waits before it is given up on by the
	// client (a client that stays gets no answer either: the request is
	// dropped). Set it beyond the client's timeout. Default 30s.
	Slow time.Duration
	// RetryAfter is the wait a 429 asks for, in whole seconds. Default 1.
	RetryAfter int
	// Seed makes the draws repeatable.
	Seed uint64
}

type stormState struct {
	Storm
	rnd    *rand.Rand
	counts map[string]int
}

// SetStorm starts, changes or (with Rate 0) ends the storm. The counts of
// faults drawn so far are kept.
func (e *Emulator) SetStorm(s Storm) {
	if len(s.Kinds) == 0 {
		s.Kinds = StormKinds
	}
	if s.Slow <= 0 {
		s.Slow = 30 * time.Second
	}
	if s.RetryAfter <= 0 {
		s.RetryAfter = 1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	counts := map[string]int{}
	if e.storm != nil {
		counts = e.storm.counts
	}
	e.storm = &stormState{Storm: s, rnd: rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15)), counts: counts}
}

// StormCounts is how many faults of each kind the storm has drawn.
func (e *Emulator) StormCounts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	if e.storm != nil {
		for k, v := range e.storm.counts {
			out[k] = v
		}
	}
	return out
}

// stormLocked draws the storm's fault for r, if it gets one.
func (e *Emulator) stormLocked(r *http.Request) (Fault, bool) {
	s := e.storm
	if s == nil || s.Rate <= 0 || s.rnd.Float64() >= s.Rate {
		return Fault{}, false
	}
	kind := s.Kinds[s.rnd.IntN(len(s.Kinds))]
	s.counts[kind]++
	return stormFault(kind, r, s), true
}

func stormFault(kind string, r *http.Request, s *stormState) Fault {
	// A body fault on a request that would get a token is a 200 the
	// client must not take for one; elsewhere it is what a failing proxy
	// sends, an error page that is not the service's JSON.
	bodyStatus := http.StatusBadGateway
	if issuesToken(r) {
		bodyStatus = http.StatusOK
	}
	switch kind {
	case Storm500:
		return Fault{Status: http.StatusInternalServerError}
	case Storm502:
		return Fault{Status: http.StatusBadGateway, Body: "<html><body><h1>502 Bad Gateway</h1></body></html>"}
	case Storm503:
		return Fault{Status: http.StatusServiceUnavailable}
	case Storm429Seconds:
		return Fault{Status: http.StatusTooManyRequests, RetryAfter: strconv.Itoa(s.RetryAfter)}
	case Storm429Date:
		// An HTTP date has whole seconds: one more, so the wait is never
		// shorter than asked.
		at := time.Now().Add(time.Duration(s.RetryAfter+1) * time.Second)
		return Fault{Status: http.StatusTooManyRequests, RetryAfter: at.UTC().Format(http.TimeFormat)}
	case StormReset:
		return Fault{Reset: true}
	case StormSlow:
		return Fault{Delay: s.Slow, Reset: true}
	case StormTruncated:
		return Fault{Status: bodyStatus, Body: `{"access_token":"trunc`}
	case StormMalformed:
		return Fault{Status: bodyStatus, Body: `{"access_token": ["not", "a", "token"], "expires_in": "soon"`}
	case StormOversized:
		// Valid JSON, but past any sane reading cap: a client that reads it
		// whole has no cap; one that caps it sees truncated JSON.
		return Fault{Status: bodyStatus, Body: `{"error":"x","padding":"` + strings.Repeat("A", stormOversizeSize) + `"}`}
	case StormRedirect:
		return Fault{Status: http.StatusTemporaryRedirect, Location: "https://elsewhere.example.com" + r.URL.Path}
	case StormLate:
		return Fault{Late: s.Slow}
	}
	return Fault{Status: http.StatusInternalServerError}
}

// issuesToken reports whether r would be answered with a token: a POST to
// a token endpoint (OAuth's .../token, CDP's /token create and extend).
func issuesToken(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token")
}

// resetConn hangs up on the client with a TCP reset and no answer.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
