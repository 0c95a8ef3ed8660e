package emulator

import (
	"crypto/rand"
	"html"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The generic server's device authorization grant (RFC 8628): a device
// authorization endpoint, the token endpoint's device_code grant, and an
// admin route standing in for the user, who approves or denies a user
// code. It is strict as real servers are: the client authenticates at both
// endpoints, a device code is its client's and yields tokens once, a poll
// sooner than the interval gets slow_down and raises the interval by 5 s
// (§3.5), and an expired code is expired_token.

const (
	// OAuth2DeviceGrant is RFC 8628's grant_type.
	OAuth2DeviceGrant   = "urn:ietf:params:oauth:grant-type:device_code"
	oauth2DeviceTTL     = 10 * time.Minute
	oauth2DeviceDefault = 5 * time.Second
	opDeviceAuth        = "device_authorization"
	opDeviceToken       = "device_token"
	userCodeAlphabet    = "BCDFGHJKLMNPQRSTVWXZ" // RFC 8628 §6.1: no vowels, no look-alikes
)

// deviceState is where a device authorization's user is.
type deviceState int

const (
	devicePending deviceState = iota
	deviceApproved
	deviceDenied
)

// deviceGrant is one device authorization.
type deviceGrant struct {
	clientID, scope, userCode string
	expires, lastPoll         time.Time
	interval                  time.Duration
	state                     deviceState
	used                      bool
}

// oauth2Devices is the generic server's device grant state, guarded by e.mu.
type oauth2Devices struct {
	byCode     map[string]*deviceGrant // by device_code
	byUserCode map[string]string       // user_code → device_code
	slowDown   bool                    // every pending poll answers slow_down
	interval   time.Duration
	ttl        time.Duration
}

func newOAuth2Devices() oauth2Devices {
	return oauth2Devices{byCode: map[string]*deviceGrant{}, byUserCode: map[string]string{},
		interval: oauth2DeviceDefault, ttl: oauth2DeviceTTL}
}

func (o *oauth2Service) registerDevice(mux *http.ServeMux) {
	mux.HandleFunc("/oauth2/device_authorization", o.deviceAuthorization)
	mux.HandleFunc("/oauth2/device", o.deviceVerification)
	mux.HandleFunc("POST "+adminPrefix+"oauth2/device", adminJSON(o.adminDeviceAnswer))
	mux.HandleFunc("POST "+adminPrefix+"oauth2/device-slow-down", adminSwitch(o.e.SetOAuth2DeviceSlowDown))
	mux.HandleFunc("POST "+adminPrefix+"oauth2/device-settings", adminJSON(o.adminDeviceSettings))
}

// SetOAuth2DeviceSlowDown makes every poll of a pending device
// authorization answer slow_down (RFC 8628 §3.5), as a loaded server may.
func (e *Emulator) SetOAuth2DeviceSlowDown(on bool) { e.setSwitch(&e.oauth2().devices.slowDown, on) }

// SetOAuth2DeviceTiming sets the interval and lifetime of new device
// authorizations (defaults 5 s and 10 min); zero keeps a value.
func (e *Emulator) SetOAuth2DeviceTiming(interval, ttl time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := &e.oauth2().devices
	if interval > 0 {
		d.interval = interval
	}
	if ttl > 0 {
		d.ttl = ttl
	}
}

// OAuth2DeviceAnswer is the user's answer to the device authorization of
// userCode: approve, or deny. It reports whether the code was pending.
func (e *Emulator) OAuth2DeviceAnswer(userCode string, approve bool) bool {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	d := &e.oauth2().devices
	g := d.byCode[d.byUserCode[strings.ToUpper(userCode)]]
	if g == nil || g.state != devicePending || !now.Before(g.expires) {
		return false
	}
	g.state = deviceDenied
	if approve {
		g.state = deviceApproved
	}
	return true
}

// OAuth2DeviceCodes returns every device code the generic server issued,
// so a test can prove none reached a response or a log.
func (e *Emulator) OAuth2DeviceCodes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.oauth2().devices.byCode))
	for c := range e.oauth2().devices.byCode {
		out = append(out, c)
	}
	return out
}

type deviceAnswerJSON struct {
	UserCode string `json:"user_code"`
	Approve  bool   `json:"approve"`
}

func (o *oauth2Service) adminDeviceAnswer(in deviceAnswerJSON) (refusal string) {
	if !o.e.OAuth2DeviceAnswer(in.UserCode, in.Approve) {
		return "user_code is unknown, answered already or expired."
	}
	return ""
}

type deviceSettingsJSON struct {
	IntervalSeconds int `json:"interval_seconds"`
	ExpiresIn       int `json:"expires_in"`
}

func (o *oauth2Service) adminDeviceSettings(in deviceSettingsJSON) (refusal string) {
	if in.IntervalSeconds < 0 || in.ExpiresIn < 0 {
		return "interval_seconds and expires_in must not be negative."
	}
	o.e.SetOAuth2DeviceTiming(time.Duration(in.IntervalSeconds)*time.Second, time.Duration(in.ExpiresIn)*time.Second)
	return ""
}

// deviceAuthorization is RFC 8628 §3.1-3.2.
func (o *oauth2Service) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if !oauth2OAuth.postOnly(w, r, "The device authorization endpoint") {
		return
	}
	form, oerr := tokenForm(w, r)
	var client OAuth2Client
	if oerr == nil {
		client, oerr = o.authenticate(r, form)
	}
	if oerr == nil && form.Has("scope") && !client.mayRequest(form.Get("scope")) {
		oerr = badRequest("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
	}
	if oerr != nil {
		oauth2OAuth.fail(w, r, oerr)
		return
	}
	now := o.e.now()
	code, user := randomHex(32), userCode()
	o.e.mu.Lock()
	d := &o.devices
	g := &deviceGrant{clientID: client.ID, scope: form.Get("scope"), userCode: user, expires: now.Add(d.ttl), interval: d.interval}
	d.byCode[code], d.byUserCode[user] = g, code
	ttl, interval := d.ttl, d.interval
	o.e.mu.Unlock()
	verify := "http://" + r.Host + "/oauth2/device"
	writeTokenResponse(w, map[string]any{
		"device_code":               code,
		"user_code":                 user,
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?" + url.Values{"user_code": {user}}.Encode(),
		"expires_in":                int64(ttl / time.Second),
		"interval":                  int64(interval / time.Second),
	})
}

// userCode is eight letters of userCodeAlphabet, as XXXX-XXXX.
func userCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	var sb strings.Builder
	for i, c := range b {
		if i == 4 {
			sb.WriteByte('-')
		}
		sb.WriteByte(userCodeAlphabet[int(c)%len(userCodeAlphabet)])
	}
	return sb.String()
}

// deviceTokenGrant is the token endpoint's device_code grant (RFC 8628
// §3.4-3.5), for an authenticated client.
func (o *oauth2Service) deviceTokenGrant(client OAuth2Client, form url.Values) (map[string]any, *oauthError) {
	code := form.Get("device_code")
	if code == "" {
		return nil, badRequest("invalid_request", "The request is missing the device_code parameter.")
	}
	now := o.e.now()
	o.e.mu.Lock()
	g := o.devices.byCode[code]
	oerr := o.devices.poll(g, client.ID, now)
	var scope string
	if oerr == nil {
		g.used = true
		scope = g.scope
	}
	o.e.mu.Unlock()
	if oerr != nil {
		return nil, oerr
	}
	access := func(scope string) (Token, map[string]any) { return o.accessToken(client, scope) }
	return o.flow.mint(client.ID, OAuth2User, scope, scope, randomHex(16), access), nil
}

// poll judges one poll of g by clientID at now; nil means approved, and
// the caller claims the code. The caller holds e.mu.
func (d *oauth2Devices) poll(g *deviceGrant, clientID string, now time.Time) *oauthError {
	switch {
	case g == nil || g.clientID != clientID:
		return badRequest("invalid_grant", "The device code is invalid.")
	case g.used:
		return badRequest("invalid_grant", "The device code was used already.")
	case !now.Before(g.expires):
		return badRequest("expired_token", "The device code has expired.")
	case g.state == deviceDenied:
		g.used = true
		return badRequest("access_denied", "The user denied the authorization request.")
	case g.state == deviceApproved:
		return nil
	}
	early := !g.lastPoll.IsZero() && now.Sub(g.lastPoll) < g.interval
	g.lastPoll = now
	if early || d.slowDown {
		g.interval += 5 * time.Second
		return badRequest("slow_down", "Polling too frequently; wait longer between requests.")
	}
	return badRequest("authorization_pending", "The user has not answered yet.")
}

// deviceVerification is the verification_uri a person opens (make dev):
// GET shows a form for the user code, POST answers it as the built-in
// user, approve=yes or no.
func (o *oauth2Service) deviceVerification(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet:
		code := html.EscapeString(r.URL.Query().Get("user_code"))
		_, _ = w.Write([]byte(`<!DOCTYPE html><html><body><form method="post" action="/oauth2/device">` +
			`<input type="text" name="user_code" value="` + code + `">` +
			`<button name="approve" value="yes">Approve</button><button name="approve" value="no">Deny</button>` +
			`</form></body></html>`))
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil || !o.e.OAuth2DeviceAnswer(r.PostForm.Get("user_code"), r.PostForm.Get("approve") == "yes") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte("<!DOCTYPE html><html><body>The code is unknown, answered already or expired.</body></html>"))
			return
		}
		_, _ = w.Write([]byte("<!DOCTYPE html><html><body>Done: you may close this window.</body></html>"))
	default:
		methodNotAllowed(w, "GET, POST")
	}
}
