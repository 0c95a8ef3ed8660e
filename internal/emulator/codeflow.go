package emulator

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The authorization code grant (RFC 6749 §4.1) with S256 PKCE (RFC 7636)
// and the refresh grant (§6) with rotation, which the Source site and the
// generic server both offer. Each has one codeFlow, so both run the same
// checks in the same order and differ only in what is theirs: the wording
// of each refusal (grantWords), how a client authenticates and what an
// access token answer holds (codeServer).
//
// A code is single-use; a replayed one revokes every token descended from
// it (its family). A refresh rotates: the old refresh token and its access
// token die, and presenting the old one again is invalid_grant.

// codeClient is a client of a server with a code flow.
type codeClient interface {
	clientID() string
	allowsRedirect(raw string, u *url.URL) bool
}

// codeServer is what a server brings to tokenGrant besides its codeFlow.
type codeServer[C codeClient] interface {
	// authenticateFor authenticates the client of a token request of grant.
	authenticateFor(r *http.Request, form url.Values, grant string) (C, *oauthError)
	clientCredentialsGrant(client C, form url.Values) (map[string]any, *oauthError)
	// accessToken issues an access token of scope to client and returns
	// it with its token answer.
	accessToken(client C, scope string) (Token, map[string]any)
}

// grantWords is how one server words the refusals of its code flow.
type grantWords struct {
	missing          func(param string) *oauthError // a required parameter is absent
	unsupportedGrant *oauthError
	badVerifier      *oauthError // a code_verifier not of RFC 7636's shape
	codeRefused      func(codeRefusal) *oauthError
	refreshRefused   func(refreshRefusal) *oauthError
	badScope         *oauthError // a refresh's scope parameter is malformed
	scopeExceeds     *oauthError // a refresh asks for more than was granted
	accessDenied     string      // the user refused, at the authorization endpoint
}

// codeFlow is one server's codes and refresh tokens.
type codeFlow struct {
	e       *Emulator
	service string
	user    string // the built-in user, who approves the authorization requests
	words   grantWords
	// redirectRequired: a code exchange without redirect_uri is
	// invalid_request before the code is looked at.
	redirectRequired bool

	// Guarded by e.mu.
	codes           map[string]*sourceCode
	refresh         map[string]*sourceRefresh
	access          map[string]sourceGrant // access tokens from the code flow
	revokedFamilies map[string]bool
	reuses          int
	codeTTL         time.Duration
	refreshTTL      time.Duration
	ignorePKCE      bool // code_challenge and code_verifier are ignored
	deny            bool // the user refuses every authorization request
}

func newCodeFlow(e *Emulator, service, user string, words grantWords, redirectRequired bool, codeTTL, refreshTTL time.Duration) *codeFlow {
	return &codeFlow{
		e: e, service: service, user: user, words: words, redirectRequired: redirectRequired,
		codes:           map[string]*sourceCode{},
		refresh:         map[string]*sourceRefresh{},
		access:          map[string]sourceGrant{},
		revokedFamilies: map[string]bool{},
		codeTTL:         codeTTL,
		refreshTTL:      refreshTTL,
	}
}

// sourceCode is one authorization code. family ties together every token
// descended from the code, so a replayed code can revoke them all.
type sourceCode struct {
	clientID, redirectURI, scope, challenge, family string
	expires                                         time.Time
	used                                            bool
}

// codeExchange is what a token request presents with an authorization
// code: its client, redirect_uri and PKCE code_verifier, if any.
type codeExchange struct {
	clientID, redirectURI, verifier string
	hasVerifier                     bool
}

// codeRefusal is why a code is not exchanged for a token; each emulated
// server words its own answer to each.
type codeRefusal int

const (
	codeAccepted codeRefusal = iota
	codeUnknown
	codeOtherClient
	codeReplayed // RFC 6749 §4.1.2: the code leaked; what it gave is revoked
	codeExpired
	codeOtherRedirect // §4.1.3: the same redirect_uri as the authorization request
	codeUnexpectedVerifier
	codeMissingVerifier
	codeWrongVerifier
)

// redeem checks the code c (nil where there is no such code) against the
// exchange x at now and, where it passes, claims it: the caller holds the
// emulator's lock, so of two concurrent exchanges one wins.
func (c *sourceCode) redeem(x codeExchange, now time.Time) codeRefusal {
	switch {
	case c == nil:
		return codeUnknown
	case c.clientID != x.clientID:
		return codeOtherClient
	case c.used:
		return codeReplayed
	case !now.Before(c.expires):
		return codeExpired
	case x.redirectURI != c.redirectURI:
		return codeOtherRedirect
	case c.challenge == "" && x.hasVerifier:
		return codeUnexpectedVerifier
	case c.challenge != "" && !x.hasVerifier:
		return codeMissingVerifier
	case c.challenge != "" && !sourceS256Matches(x.verifier, c.challenge):
		return codeWrongVerifier
	}
	c.used = true
	return codeAccepted
}

// sourceRefresh is one refresh token. access is the access token issued
// with it, which dies when this one is rotated or revoked.
type sourceRefresh struct {
	clientID, user, scope, access, family string
	expires                               time.Time
	revoked, rotated                      bool
}

func (rt *sourceRefresh) live(now time.Time) bool { return !rt.revoked && now.Before(rt.expires) }

// refreshRefusal is why a refresh token is not taken; each server words
// its own answer to each.
type refreshRefusal int

const (
	refreshAccepted refreshRefusal = iota
	refreshUnknown
	refreshOtherClient
	refreshExpired
	refreshRevoked
)

// check checks the refresh token rt (nil where there is no such token)
// presented by clientID at now, in league/oauth2-server's order: client,
// expiry, revocation.
func (rt *sourceRefresh) check(clientID string, now time.Time) refreshRefusal {
	switch {
	case rt == nil:
		return refreshUnknown
	case rt.clientID != clientID:
		return refreshOtherClient
	case !now.Before(rt.expires):
		return refreshExpired
	case rt.revoked:
		return refreshRevoked
	}
	return refreshAccepted
}

// sourceGrant says whose an access token from the code flow is; tokens
// missing from codeFlow.access were issued to the client itself.
type sourceGrant struct{ user, family string }

// redirectAllowed applies a client's redirect_uri list exactly or, without
// one, the RFC 8252 rule: http only to loopback, https anywhere.
func redirectAllowed(allowed []string, raw string, u *url.URL) bool {
	if len(allowed) > 0 {
		return slices.Contains(allowed, raw)
	}
	if u.Scheme == "https" {
		return true
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// approve ends an authorization request whose client, redirect_uri and
// scope passed: its PKCE challenge (none while ignorePKCE is on), the
// built-in user's consent (refused while deny is on), then a new code sent
// back to the redirect_uri.
func approve[C codeClient](w http.ResponseWriter, f *codeFlow, a *authzRequest[C], scope string) {
	challenge, method := a.q.Get("code_challenge"), a.q.Get("code_challenge_method")
	if f.e.switchOn(&f.ignorePKCE) {
		challenge, method = "", ""
	}
	if !a.pkce(w, challenge, method) {
		return
	}

	now := f.e.now()
	f.e.mu.Lock()
	if f.deny {
		f.e.mu.Unlock()
		a.fail(w, "access_denied", f.words.accessDenied)
		return
	}
	code := randomHex(32)
	f.codes[code] = &sourceCode{
		clientID: a.client.clientID(), redirectURI: a.rawRedirect, scope: scope, challenge: challenge,
		family: randomHex(16), expires: now.Add(f.codeTTL),
	}
	f.e.mu.Unlock()
	sourceRedirect(w, a.back, url.Values{"code": {code}}, a.state)
}

// tokenGrant answers a token request of a server offering the client
// credentials, authorization code and refresh grants, checking in
// league/oauth2-server's order: grant type, client, then the grant's own
// parameters, so a doubly-wrong request gets a predictable error.
func tokenGrant[C codeClient](w http.ResponseWriter, r *http.Request, f *codeFlow, srv codeServer[C]) (map[string]any, *oauthError) {
	form, oerr := tokenForm(w, r)
	if oerr != nil {
		return nil, oerr
	}
	gt := form.Get("grant_type")
	switch gt {
	case "":
		return nil, f.words.missing("grant_type")
	case "client_credentials", "authorization_code", "refresh_token":
	default:
		return nil, f.words.unsupportedGrant
	}
	client, oerr := srv.authenticateFor(r, form, gt)
	if oerr != nil {
		return nil, oerr
	}
	access := func(scope string) (Token, map[string]any) { return srv.accessToken(client, scope) }
	switch gt {
	case "client_credentials":
		return srv.clientCredentialsGrant(client, form)
	case "authorization_code":
		return f.codeGrant(client.clientID(), form, access)
	default:
		return f.refreshGrant(client.clientID(), form, access)
	}
}

func (f *codeFlow) codeGrant(clientID string, form url.Values, access func(scope string) (Token, map[string]any)) (map[string]any, *oauthError) {
	code := form.Get("code")
	if code == "" {
		return nil, f.words.missing("code")
	}
	redirect := form.Get("redirect_uri")
	if f.redirectRequired && redirect == "" {
		return nil, f.words.missing("redirect_uri")
	}
	verifier, hasVerifier := form["code_verifier"]
	if f.e.switchOn(&f.ignorePKCE) {
		hasVerifier = false
	}
	if hasVerifier && (len(verifier[0]) < 43 || len(verifier[0]) > 128 || !sourcePKCEValue(verifier[0])) {
		return nil, f.words.badVerifier
	}

	x := codeExchange{clientID: clientID, redirectURI: redirect, hasVerifier: hasVerifier}
	if hasVerifier {
		x.verifier = verifier[0]
	}
	now := f.e.now()
	f.e.mu.Lock()
	c := f.codes[code]
	refusal := c.redeem(x, now)
	if refusal == codeReplayed {
		// A replayed code means it leaked; whatever was issued from it is
		// no longer trusted.
		f.revokeFamily(c.family)
	}
	var scope, family string
	if refusal == codeAccepted {
		scope, family = c.scope, c.family
	}
	f.e.mu.Unlock()
	if refusal != codeAccepted {
		return nil, f.words.codeRefused(refusal)
	}
	return f.mint(clientID, f.user, scope, scope, family, access), nil
}

// refreshGrant rotates: the old refresh token and its access token die in
// the same critical section that checks the old token is live, so of two
// concurrent refreshes with one token exactly one succeeds.
func (f *codeFlow) refreshGrant(clientID string, form url.Values, access func(scope string) (Token, map[string]any)) (map[string]any, *oauthError) {
	value := form.Get("refresh_token")
	if value == "" {
		return nil, f.words.missing("refresh_token")
	}
	requested, ok := sourceParseScope(form.Get("scope"))
	if !ok {
		return nil, f.words.badScope
	}

	now := f.e.now()
	f.e.mu.Lock()
	rt := f.refresh[value]
	// A rotated token counts as reused whichever answer it gets.
	if rt != nil && rt.clientID == clientID && rt.rotated {
		f.reuses++
	}
	var oerr *oauthError
	if refusal := rt.check(clientID, now); refusal != refreshAccepted {
		oerr = f.words.refreshRefused(refusal)
	} else if granted, _ := sourceParseScope(rt.scope); slices.ContainsFunc(requested, func(sc string) bool { return !slices.Contains(granted, sc) }) {
		oerr = f.words.scopeExceeds
	}
	var user, refreshScope, family string
	if oerr == nil {
		rt.revoked, rt.rotated = true, true
		f.e.revokeLocked(f.service, rt.access)
		user, refreshScope, family = rt.user, rt.scope, rt.family
	}
	f.e.mu.Unlock()
	if oerr != nil {
		return nil, oerr
	}
	accessScope := refreshScope
	if len(requested) > 0 {
		accessScope = strings.Join(requested, " ")
	}
	// RFC 6749 §6: the new refresh token keeps the original scope even when
	// this access token is narrower.
	return f.mint(clientID, user, accessScope, refreshScope, family, access), nil
}

// mint issues an access token by access and a refresh token of one
// authorization, and returns the token response. The refresh token is
// recorded before the response exists, so a client can never hold one the
// server does not know.
func (f *codeFlow) mint(clientID, user, accessScope, refreshScope, family string, access func(scope string) (Token, map[string]any)) map[string]any {
	t, resp := access(accessScope)
	value := randomHex(32)
	f.e.mu.Lock()
	f.access[t.Value] = sourceGrant{user: user, family: family}
	f.refresh[value] = &sourceRefresh{
		clientID: clientID, user: user, scope: refreshScope, access: t.Value, family: family,
		expires: t.IssuedAt.Add(f.refreshTTL),
	}
	if f.revokedFamilies[family] {
		// The code was replayed while these were being issued: they are
		// born revoked, as they would be had the replay come a moment later.
		f.revokeFamily(family)
	}
	f.e.mu.Unlock()
	resp["refresh_token"] = value
	return resp
}

// revokeFamily kills every token descended from one authorization code.
// The caller holds e.mu.
func (f *codeFlow) revokeFamily(family string) {
	f.revokedFamilies[family] = true
	for _, rt := range f.refresh {
		if rt.family == family {
			rt.revoked = true
		}
	}
	for value, g := range f.access {
		if g.family == family {
			f.e.revokeLocked(f.service, value)
		}
	}
}

// liveRefreshTokens counts the refresh tokens neither revoked, rotated nor
// expired.
func (f *codeFlow) liveRefreshTokens() (live int) {
	now := f.e.now()
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	for _, rt := range f.refresh {
		if rt.live(now) {
			live++
		}
	}
	return live
}

// refreshLive reports whether value is a live refresh token.
func (f *codeFlow) refreshLive(value string) bool {
	now := f.e.now()
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	rt, ok := f.refresh[value]
	return ok && rt.live(now)
}

// credentials returns every authorization code and refresh token issued,
// live or not.
func (f *codeFlow) credentials() []string {
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	out := make([]string, 0, len(f.codes)+len(f.refresh))
	for v := range f.codes {
		out = append(out, v)
	}
	for v := range f.refresh {
		out = append(out, v)
	}
	return out
}
