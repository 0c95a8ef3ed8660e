package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// The admin API lets a test or demo in another process drive the emulator.
// It is exempt from faults and from Requests counting.

func (e *Emulator) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET "+adminPrefix+"tokens", e.adminTokens)
	mux.HandleFunc("POST "+adminPrefix+"faults", adminJSON(e.adminInjectFault))
	mux.HandleFunc("DELETE "+adminPrefix+"faults", e.adminClearFaults)
	mux.HandleFunc("POST "+adminPrefix+"clock/advance", e.adminAdvance)
	mux.HandleFunc("GET "+adminPrefix+"requests", e.adminRequests)
	mux.HandleFunc("GET "+adminPrefix+"operations", e.adminOperations)
	mux.HandleFunc("POST "+adminPrefix+"strictest", func(w http.ResponseWriter, r *http.Request) {
		e.SetStrictest()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc(adminPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, "not_found", "No such admin endpoint.")
	})
}

type tokenJSON struct {
	Service   string    `json:"service"`
	Value     string    `json:"value"`
	ClientID  string    `json:"client_id"`
	Scope     string    `json:"scope"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Revoked   bool      `json:"revoked"`
	Live      bool      `json:"live"`
}

// adminTokens lists the tokens of ?service=, or of every service without it.
func (e *Emulator) adminTokens(w http.ResponseWriter, r *http.Request) {
	now := e.now()
	var list []Token
	if s := r.URL.Query().Get("service"); s != "" {
		list = e.Tokens(s)
	} else {
		list = e.allTokens()
	}
	out := make([]tokenJSON, 0, len(list))
	for _, t := range list {
		out = append(out, tokenJSON{
			Service: t.Service, Value: t.Value, ClientID: t.ClientID, Scope: t.Scope,
			IssuedAt: t.IssuedAt.UTC(), ExpiresAt: t.ExpiresAt.UTC(), Revoked: t.Revoked, Live: t.live(now),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

type faultJSON struct {
	PathPrefix string `json:"path_prefix"`
	Method     string `json:"method"`
	Status     int    `json:"status"`
	RetryAfter string `json:"retry_after"`
	DelayMS    int64  `json:"delay_ms"`
	Body       string `json:"body"`
	Lose       bool   `json:"lose"`
	LateMS     int64  `json:"late_ms"`
	Handled    bool   `json:"handled"`
	AfterMS    int64  `json:"handle_after_ms"`
	Times      int    `json:"times"`
}

func (e *Emulator) adminInjectFault(in faultJSON) (refusal string) {
	if in.Status != 0 && (in.Status < 100 || in.Status > 999) || in.DelayMS < 0 || in.LateMS < 0 || in.AfterMS < 0 || in.Times < 0 {
		return "status must be 0 or 100-999; delay_ms, late_ms, handle_after_ms and times must not be negative."
	}
	e.InjectFault(Fault{
		PathPrefix: in.PathPrefix, Method: in.Method, Status: in.Status, RetryAfter: in.RetryAfter,
		Delay: time.Duration(in.DelayMS) * time.Millisecond, Body: in.Body, Times: in.Times,
		Lose: in.Lose, Late: time.Duration(in.LateMS) * time.Millisecond,
		Handled: in.Handled, HandleAfter: time.Duration(in.AfterMS) * time.Millisecond,
	})
	return ""
}

func (e *Emulator) adminClearFaults(w http.ResponseWriter, r *http.Request) {
	e.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) adminAdvance(w http.ResponseWriter, r *http.Request) {
	s, err := strconv.ParseFloat(r.URL.Query().Get("seconds"), 64)
	if err != nil || s < 0 || math.IsInf(s, 0) || math.IsNaN(s) || s > maxAdminSeconds {
		writeAPIError(w, http.StatusBadRequest, "validation_failed", "seconds must be a non-negative number.")
		return
	}
	e.Advance(time.Duration(s * float64(time.Second)))
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) adminRequests(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]int{"count": e.Requests(r.URL.Query().Get("path_prefix"))})
}

// maxAdminSeconds bounds every duration the admin API takes: a century is
// past any test and well inside time.Duration's range.
const maxAdminSeconds = 100 * 365 * 24 * 3600

// adminSeconds turns a whole number of seconds from an admin request into
// a duration, reporting false when it is negative or past maxAdminSeconds.
func adminSeconds(s int64) (time.Duration, bool) {
	if s < 0 || s > maxAdminSeconds {
		return 0, false
	}
	return time.Duration(s) * time.Second, true
}

// statusJSON is the body of an admin route that sets a status.
type statusJSON struct {
	Status int `json:"status"`
}

// adminClientJSON is what an add-client body of a service whose clients
// have a token lifetime always holds; the service's own type embeds it.
type adminClientJSON struct {
	ID              string `json:"id"`
	Secret          string `json:"secret"`
	LifetimeSeconds int64  `json:"lifetime_seconds"`
}

// lifetime checks the shared fields and returns the client's token
// lifetime, or the refusal of a bad value.
func (c adminClientJSON) lifetime() (_ time.Duration, refusal string) {
	d, ok := adminSeconds(c.LifetimeSeconds)
	if c.ID == "" || c.Secret == "" || !ok {
		return 0, "id and secret are required; lifetime_seconds must not be negative."
	}
	return d, ""
}

// adminJSON serves an admin route whose body is one JSON object of type
// T, read by decodeAdmin: apply checks it and acts on it, returning "" or,
// when it refuses the body, the message of a 400 validation_failed. An
// accepted body gets 204.
func adminJSON[T any](apply func(in T) (refusal string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in T
		if !decodeAdmin(w, r, &in) {
			return
		}
		if refusal := apply(in); refusal != "" {
			writeAPIError(w, http.StatusBadRequest, "validation_failed", refusal)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// decodeAdmin reads one JSON object strictly: an unknown field is a typo
// in a test, better reported than ignored.
func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("trailing data after the JSON object")
	}
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_json", "The request body is not the expected JSON object: "+err.Error())
		return false
	}
	return true
}
