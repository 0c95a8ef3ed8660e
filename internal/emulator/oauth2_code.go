package emulator

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The generic server's authorization code grant (RFC 6749 §4.1) with PKCE
// S256 (RFC 7636), and refresh (§6) with rotation, the same behaviour as
// the Source site's (source_authorize.go, source_token.go) but with this
// server's client authentication: the form body or form-encoded Basic.
// A code is single-use and lives a minute; a replayed one revokes every
// token descended from it. A refresh rotates: the old refresh token and
// its access token die, and presenting the old one again is invalid_grant.

const (
	oauth2RefreshTTL = 14 * 24 * time.Hour
	oauth2CodeTTL    = 60 * time.Second
	// OAuth2User is the server's built-in user: it approves every
	// authorization request.
	OAuth2User = "demo-user"
)

// oauth2CodeState is the code flow's state, guarded by e.mu. Codes and
// refresh tokens have the Source site's shapes.
type oauth2CodeState struct {
	codes           map[string]*sourceCode
	refresh         map[string]*sourceRefresh
	families        map[string]string // access token → family
	revokedFamilies map[string]bool
	reuses          int
}

func newOAuth2CodeState() oauth2CodeState {
	return oauth2CodeState{
		codes:           map[string]*sourceCode{},
		refresh:         map[string]*sourceRefresh{},
		families:        map[string]string{},
		revokedFamilies: map[string]bool{},
	}
}

// OAuth2RefreshTokens counts the generic server's refresh tokens neither
// revoked, rotated nor expired.
func (e *Emulator) OAuth2RefreshTokens() (live int) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rt := range e.oauth2().code.refresh {
		if rt.live(now) {
			live++
		}
	}
	return live
}

// OAuth2RefreshLive reports whether value is a live refresh token of the
// generic server.
func (e *Emulator) OAuth2RefreshLive(value string) bool {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	rt, ok := e.oauth2().code.refresh[value]
	return ok && rt.live(now)
}

// OAuth2RefreshReuses counts refresh requests that presented a refresh
// token already rotated away.
func (e *Emulator) OAuth2RefreshReuses() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.oauth2().code.reuses
}

// OAuth2Credentials returns every authorization code and refresh token the
// generic server issued, so a test can prove none reached a response.
func (e *Emulator) OAuth2Credentials() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.oauth2().code
	out := make([]string, 0, len(c.codes)+len(c.refresh))
	for v := range c.codes {
		out = append(out, v)
	}
	for v := range c.refresh {
		out = append(out, v)
	}
	return out
}

func (o *oauth2Service) client(id string) (OAuth2Client, bool) {
	o.e.mu.Lock()
	defer o.e.mu.Unlock()
	c, ok := o.clients[id]
	return c, ok
}

// allowsRedirect applies the client's list exactly or, without one, the
// RFC 8252 rule: http only to loopback, https anywhere.
func (c OAuth2Client) allowsRedirect(raw string, u *url.URL) bool {
	if len(c.RedirectURIs) > 0 {
		return slices.Contains(c.RedirectURIs, raw)
	}
	if u.Scheme == "https" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return strings.EqualFold(u.Hostname(), "localhost") || ip != nil && ip.IsLoopback()
}

func (o *oauth2Service) authorize(w http.ResponseWriter, r *http.Request) {
	a := startAuthorize(w, r, o.client, "Client authentication failed.")
	if a == nil {
		return
	}
	q, client, rawRedirect, back, state := a.q, a.client, a.rawRedirect, a.back, a.state
	fail := func(code, desc string) { a.fail(w, code, desc) }
	scope := q.Get("scope")
	if q.Has("scope") && !client.mayRequest(scope) {
		fail("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
		return
	}
	challenge := q.Get("code_challenge")
	if !a.pkce(w, challenge, q.Get("code_challenge_method")) {
		return
	}

	now := o.e.now()
	code := randomHex(32)
	o.e.mu.Lock()
	o.code.codes[code] = &sourceCode{
		clientID: client.ID, redirectURI: rawRedirect, scope: scope, challenge: challenge,
		family: randomHex(16), expires: now.Add(oauth2CodeTTL),
	}
	o.e.mu.Unlock()
	sourceRedirect(w, back, url.Values{"code": {code}}, state)
}

func oauth2InvalidGrant(desc string) *oauthError { return badRequest("invalid_grant", desc) }

func (o *oauth2Service) codeGrant(client OAuth2Client, form url.Values) (map[string]any, *oauthError) {
	code := form.Get("code")
	if code == "" {
		return nil, badRequest("invalid_request", "The request is missing the code parameter.")
	}
	redirect := form.Get("redirect_uri")
	verifier, hasVerifier := form["code_verifier"]
	if hasVerifier && (len(verifier[0]) < 43 || len(verifier[0]) > 128 || !sourcePKCEValue(verifier[0])) {
		return nil, badRequest("invalid_request", "The code_verifier does not follow RFC 7636.")
	}

	x := codeExchange{clientID: client.ID, redirectURI: redirect, hasVerifier: hasVerifier}
	if hasVerifier {
		x.verifier = verifier[0]
	}
	now := o.e.now()
	o.e.mu.Lock()
	c := o.code.codes[code]
	refusal := c.redeem(x, now)
	if refusal == codeReplayed {
		o.revokeFamily(c.family)
	}
	var scope, family string
	if refusal == codeAccepted {
		scope, family = c.scope, c.family
	}
	o.e.mu.Unlock()
	if refusal != codeAccepted {
		return nil, oauth2CodeRefused(refusal)
	}
	return o.mint(client, scope, scope, family), nil
}

// oauth2CodeRefused is the generic server's answer to a refused code
// exchange.
func oauth2CodeRefused(r codeRefusal) *oauthError {
	switch r {
	case codeUnknown:
		return oauth2InvalidGrant("The authorization code is invalid.")
	case codeOtherClient:
		return oauth2InvalidGrant("The authorization code was issued to another client.")
	case codeReplayed:
		return oauth2InvalidGrant("The authorization code was used already.")
	case codeExpired:
		return oauth2InvalidGrant("The authorization code has expired.")
	case codeOtherRedirect:
		return oauth2InvalidGrant("The redirect_uri does not match the authorization request.")
	case codeUnexpectedVerifier:
		return badRequest("invalid_request", "A code_verifier was sent, but no code_challenge with the authorization request.")
	case codeMissingVerifier:
		return oauth2InvalidGrant("The code_verifier is missing.")
	default:
		return oauth2InvalidGrant("The code_verifier does not match the code_challenge.")
	}
}

// refreshGrant rotates under one lock, so of two concurrent refreshes with
// one token exactly one succeeds.
func (o *oauth2Service) refreshGrant(client OAuth2Client, form url.Values) (map[string]any, *oauthError) {
	value := form.Get("refresh_token")
	if value == "" {
		return nil, badRequest("invalid_request", "The request is missing the refresh_token parameter.")
	}
	requested, ok := sourceParseScope(form.Get("scope"))
	if !ok {
		return nil, badRequest("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
	}
	now := o.e.now()
	o.e.mu.Lock()
	rt, found := o.code.refresh[value]
	if found && rt.clientID == client.ID && rt.rotated {
		o.code.reuses++
	}
	var oerr *oauthError
	switch {
	case !found:
		oerr = oauth2InvalidGrant("The refresh token is invalid.")
	case rt.clientID != client.ID:
		oerr = oauth2InvalidGrant("The refresh token was issued to another client.")
	case !now.Before(rt.expires):
		oerr = oauth2InvalidGrant("The refresh token has expired.")
	case rt.revoked:
		oerr = oauth2InvalidGrant("The refresh token was revoked.")
	}
	if oerr == nil {
		granted, _ := sourceParseScope(rt.scope)
		if slices.ContainsFunc(requested, func(sc string) bool { return !slices.Contains(granted, sc) }) {
			oerr = badRequest("invalid_scope", "The requested scope exceeds the scope granted.")
		}
	}
	var refreshScope, family string
	if oerr == nil {
		rt.revoked, rt.rotated = true, true
		o.e.revokeLocked(serviceOAuth2, rt.access)
		refreshScope, family = rt.scope, rt.family
	}
	o.e.mu.Unlock()
	if oerr != nil {
		return nil, oerr
	}
	accessScope := refreshScope
	if len(requested) > 0 {
		accessScope = strings.Join(requested, " ")
	}
	// §6: the new refresh token keeps the scope originally granted.
	return o.mint(client, accessScope, refreshScope, family), nil
}

// mint issues an access and a refresh token of one authorization and
// returns the token response; the refresh token is recorded before the
// response exists.
func (o *oauth2Service) mint(client OAuth2Client, accessScope, refreshScope, family string) map[string]any {
	t := o.e.issue(serviceOAuth2, client.ID, accessScope, client.Lifetime)
	resp := o.tokenAnswer(t, client)
	value := randomHex(32)
	o.e.mu.Lock()
	o.code.families[t.Value] = family
	o.code.refresh[value] = &sourceRefresh{
		clientID: client.ID, user: OAuth2User, scope: refreshScope, access: t.Value, family: family,
		expires: t.IssuedAt.Add(oauth2RefreshTTL),
	}
	if o.code.revokedFamilies[family] {
		o.revokeFamily(family)
	}
	o.e.mu.Unlock()
	resp["refresh_token"] = value
	return resp
}

// revokeFamily kills every token descended from one code. The caller
// holds e.mu.
func (o *oauth2Service) revokeFamily(family string) {
	o.code.revokedFamilies[family] = true
	for _, rt := range o.code.refresh {
		if rt.family == family {
			rt.revoked = true
		}
	}
	for value, f := range o.code.families {
		if f == family {
			o.e.revokeLocked(serviceOAuth2, value)
		}
	}
}
