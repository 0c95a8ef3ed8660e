package emulator

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"
)

// Fault changes the answer to the next Times requests whose path starts
// with PathPrefix (and whose method is Method, if set). Times 0 means 1.
//
// Status 0 with no Body lets the request through after Delay (and with
// RetryAfter set, if given). A Body is sent as application/json whatever it
// holds, since the point is usually a malformed "JSON" answer.
type Fault struct {
	PathPrefix string
	Method     string
	Status     int           // e.g. 503 or 429; 0 = do not change the status
	RetryAfter string        // Retry-After header value: seconds or an HTTP date
	Delay      time.Duration // sleep before answering; a client that gives up ends it
	Body       string        // raw body to send instead; with Status 0, sent with 200
	Location   string        // Location header value (for a 3xx)
	// Reset hangs up without answering (a TCP reset), after Delay.
	Reset bool
	// Lose handles the request, so whatever it creates exists, and then
	// hangs up without the answer: a create whose answer never arrives.
	Lose bool
	// Late handles the request at once and holds its answer this long:
	// an answer that arrives after the client gave up is never read.
	Late time.Duration
	// Handled, with Status (and Body), handles the request first and then
	// answers the fault instead: a gateway's 5xx after the work was done.
	Handled bool
	// HandleAfter handles the request this long after it arrived, whether
	// or not the client is still waiting, as a server that took a request
	// finishes it; a client still there gets the answer.
	HandleAfter time.Duration
	Times       int
}

type faultState struct {
	Fault
	left int
}

// adminPrefix is exempt from faults and request counting: tests drive the
// emulator through it while faults are active.
const adminPrefix = "/_emulator/"

// InjectFault queues f. Faults are consumed in the order injected; a
// request takes at most one.
func (e *Emulator) InjectFault(f Fault) {
	if f.Times < 1 {
		f.Times = 1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &faultState{Fault: f, left: f.Times})
}

// ClearFaults drops every queued fault.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

// Requests counts the requests received whose path starts with pathPrefix,
// faulted ones included and admin API calls excluded.
func (e *Emulator) Requests(pathPrefix string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for p, c := range e.requests {
		if strings.HasPrefix(p, pathPrefix) {
			n += c
		}
	}
	return n
}

// takeFault counts the request (by path, and by operation: form is its
// form body, for the grant) and claims the first matching fault, in one
// critical section so concurrent requests never share a single-use fault.
// A request no queued fault matches may draw one from the storm (storm.go).
func (e *Emulator) takeFault(r *http.Request, form url.Values) (Fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests[r.URL.Path]++
	e.countOperationLocked(r, form)
	for i, f := range e.faults {
		if !strings.HasPrefix(r.URL.Path, f.PathPrefix) || (f.Method != "" && !strings.EqualFold(f.Method, r.Method)) {
			continue
		}
		f.left--
		if f.left <= 0 {
			e.faults = append(e.faults[:i:i], e.faults[i+1:]...)
		}
		return f.Fault, true
	}
	return e.stormLocked(r)
}

func (e *Emulator) applyFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, adminPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		f, ok := e.takeFault(r, peekForm(r))
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if f.Lose || f.Late > 0 {
			e.serveLate(w, r, next, f)
			return
		}
		if f.HandleAfter > 0 {
			e.serveAfter(w, r, next, f.HandleAfter)
			return
		}
		if f.Handled {
			next.ServeHTTP(httptest.NewRecorder(), r)
		}
		if f.Delay > 0 {
			e.hold(r, f.Delay)
		}
		if f.Reset {
			resetConn(w)
			return
		}
		serveFault(w, r, next, f)
	})
}

// hold keeps a request waiting for d before it is answered, and hangs up
// on it (panicking with http.ErrAbortHandler) when its client gives up or
// the emulator closes meanwhile.
func (e *Emulator) hold(r *http.Request, d time.Duration) {
	// net/http notices a client hanging up only once the request body has
	// been read to EOF, so read it first.
	buffered, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buffered), r.Body), r.Body}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-r.Context().Done():
		// The client gave up: issuing a token nobody receives would only
		// muddy the emulator's state.
		t.Stop()
		panic(http.ErrAbortHandler)
	case <-e.closing:
		// Hang up rather than send an empty 200 the client could mistake
		// for an answer.
		t.Stop()
		panic(http.ErrAbortHandler)
	}
}

// serveFault answers a request as the fault f says: with its headers, and
// its status and body, or the real answer where it sets neither.
func serveFault(w http.ResponseWriter, r *http.Request, next http.Handler, f Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Location != "" {
		w.Header().Set("Location", f.Location)
	}
	switch {
	case f.Status == 0 && f.Body == "":
		next.ServeHTTP(w, r)
	case f.Body != "":
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
	default:
		writeJSON(w, f.Status, map[string]string{"error": statusSlug(f.Status), "message": http.StatusText(f.Status)})
	}
}

// serveLate runs the request's handler at once and answers only after
// f.Late, or never (f.Lose): the upstream has acted either way.
func (e *Emulator) serveLate(w http.ResponseWriter, r *http.Request, next http.Handler, f Fault) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	if f.Lose {
		resetConn(w)
		return
	}
	t := time.NewTimer(f.Late)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		panic(http.ErrAbortHandler)
	case <-e.closing:
		panic(http.ErrAbortHandler)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// serveAfter handles r after d in the background, whether or not its
// client waits that long, and answers a client still there.
func (e *Emulator) serveAfter(w http.ResponseWriter, r *http.Request, next http.Handler, d time.Duration) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	later := r.Clone(context.WithoutCancel(r.Context()))
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	ran := false
	go func() {
		defer close(done)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-e.closing:
			return
		}
		later.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(rec, later)
		ran = true
	}()
	select {
	case <-done:
	case <-r.Context().Done():
		panic(http.ErrAbortHandler)
	}
	if !ran {
		panic(http.ErrAbortHandler)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// statusSlug names a status the way Acquia's error slugs look
// ("service_unavailable"); 503 is "system", as the Cloud API says when a
// dependency is down.
func statusSlug(status int) string {
	if status == http.StatusServiceUnavailable {
		return "system"
	}
	s := strings.ToLower(http.StatusText(status))
	if s == "" {
		return "error"
	}
	return strings.NewReplacer(" ", "_", "-", "_", "'", "").Replace(s)
}
