package emulator

import "net/http"

// A switch is one of a service's on/off settings: Source's deny and
// revocation, Cloud's Okta-shaped errors, Acronis' expires_in. Each has
// an exported setter and an admin route taking {"on": bool}; both, and
// every read, go through here.

// store sets the setting at p, a field of a service's state, under e.mu.
func store[T any](e *Emulator, p *T, v T) {
	e.mu.Lock()
	defer e.mu.Unlock()
	*p = v
}

// load reads the setting or counter at p, a field of a service's state,
// under e.mu.
func load[T any](e *Emulator, p *T) T {
	e.mu.Lock()
	defer e.mu.Unlock()
	return *p
}

// lookup reads m[k], a map of a service's state, under e.mu.
func lookup[K comparable, V any](e *Emulator, m map[K]V, k K) (V, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := m[k]
	return v, ok
}

// setSwitch sets the switch at p, a field of a service's state.
func (e *Emulator) setSwitch(p *bool, on bool) { store(e, p, on) }

// switchOn reads the switch at p.
func (e *Emulator) switchOn(p *bool) bool { return load(e, p) }

// adminSwitch serves an admin route whose body is {"on": bool}, handing
// the value to set, the switch's exported setter.
func adminSwitch(set func(on bool)) http.HandlerFunc {
	return adminJSON(func(in struct {
		On bool `json:"on"`
	}) string {
		set(in.On)
		return ""
	})
}

// SetStrictest sets every setting to its least forgiving reading, the mode
// the plugin's contract test runs in: CDP refuses a request body, answers
// a user without tokens 401, disables every earlier token on create and
// sends expires_in as a string, tenantId as a number and
// passwordExpiryDate with a zone and fractions; Cloud token answers repeat
// no scope; Source revocation of an access token takes its grant with it;
// the generic server omits token_type. Readings that are alternatives
// rather than stricter (Acronis' revocation by Bearer, a server revoking
// refresh tokens only) stay as they are.
func (e *Emulator) SetStrictest() {
	e.SetCDPRefuseBody(true)
	e.SetCDPNoTokenStatus(http.StatusUnauthorized)
	e.SetCDPCreateDisablesAll(true)
	e.SetCDPAnswer(CDPAnswer{ExpiresInString: true, NumericTenantID: true, PasswordExpiryLayout: "2006-01-02T15:04:05.000Z07:00"})
	e.SetCloudScopeEcho(false)
	e.SetSourceRevocationCascades(true)
	e.SetOAuth2OmitTokenType(true)
}
