package emulator

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Demo credentials for Acquia Source, seeded by AddDemo.
const (
	DemoSourceClientID = "demo-source-client"
	// DemoSourceClientSecret holds + / = on purpose, to catch clients that
	// encode it wrongly in a form body or in Basic auth.
	DemoSourceClientSecret = "demo+Source/Secret=With=Chars=="
	// DemoSourceScope is every scope the demo client may request, as a
	// client sends it.
	DemoSourceScope = "content:read content:write"
	// DemoSourceUser is the site's built-in user: it approves every
	// authorization request unless SetSourceDeny is on.
	DemoSourceUser = "demo-editor"
)

// SourceClient is an API client of an Acquia Source site (a Drupal
// consumer).
type SourceClient struct {
	ID, Secret string
	// Scopes the client may request; empty allows any.
	Scopes []string
	// RedirectURIs are the redirect_uri values allowed at /oauth/authorize,
	// compared exactly. Empty allows any http loopback URI and any https URI.
	RedirectURIs []string
}

const (
	serviceSource = "source"

	sourceDefaultAccessTTL  = 300 * time.Second
	sourceDefaultRefreshTTL = 14 * 24 * time.Hour
	sourceDefaultCodeTTL    = 60 * time.Second

	// league/oauth2-server's wording, which Drupal's simple_oauth answers
	// with, so a client's error handling meets the real strings.
	sourceDescInvalidRequest = "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed."
	sourceDescInvalidGrant   = "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
	sourceDescInvalidRefresh = "The refresh token is invalid."
	sourceDescInvalidScope   = "The requested scope is invalid, unknown, or malformed"
	sourceDescAccessDenied   = "The resource owner or authorization server denied the request."
)

// sourceCode is one authorization code. family ties together every token
// descended from the code, so a replayed code can revoke them all.
type sourceCode struct {
	clientID, redirectURI, scope, challenge, family string
	expires                                         time.Time
	used                                            bool
}

// sourceRefresh is one refresh token. access is the access token issued
// with it, which dies when this one is rotated or revoked.
type sourceRefresh struct {
	clientID, user, scope, access, family string
	expires                               time.Time
	revoked, rotated                      bool
}

// sourceGrant says whose an access token from the code flow is; tokens
// missing from sourceService.access were issued to the client itself.
type sourceGrant struct{ user, family string }

type sourceService struct {
	e *Emulator
	// Guarded by e.mu.
	clients         map[string]SourceClient
	codes           map[string]*sourceCode
	refresh         map[string]*sourceRefresh
	access          map[string]sourceGrant
	revokedFamilies map[string]bool
	deny            bool
	revocation      bool
	accessTTL       time.Duration
	refreshTTL      time.Duration
	codeTTL         time.Duration
	reuses          int
}

func init() {
	serviceFactories = append(serviceFactories, func(e *Emulator) service {
		return &sourceService{
			e:               e,
			clients:         map[string]SourceClient{},
			codes:           map[string]*sourceCode{},
			refresh:         map[string]*sourceRefresh{},
			access:          map[string]sourceGrant{},
			revokedFamilies: map[string]bool{},
			revocation:      true,
			accessTTL:       sourceDefaultAccessTTL,
			refreshTTL:      sourceDefaultRefreshTTL,
			codeTTL:         sourceDefaultCodeTTL,
		}
	})
}

func (e *Emulator) source() *sourceService { return e.services[serviceSource].(*sourceService) }

func (s *sourceService) name() string { return serviceSource }

func (s *sourceService) seedDemo() {
	s.e.AddSourceClient(SourceClient{
		ID: DemoSourceClientID, Secret: DemoSourceClientSecret,
		Scopes: strings.Fields(DemoSourceScope),
	})
}

func (s *sourceService) register(mux *http.ServeMux) {
	mux.HandleFunc("/oauth/authorize", s.authorize)
	mux.HandleFunc("/oauth/token", s.token)
	mux.HandleFunc("/oauth/revoke", s.revoke)
	mux.HandleFunc("/.well-known/oauth-authorization-server", s.metadata)
	mux.HandleFunc("/jsonapi", s.jsonapi)

	mux.HandleFunc("POST "+adminPrefix+"source/clients", s.adminAddClient)
	mux.HandleFunc("POST "+adminPrefix+"source/deny", s.adminDeny)
	mux.HandleFunc("POST "+adminPrefix+"source/revocation", s.adminRevocation)
	mux.HandleFunc("GET "+adminPrefix+"source/stats", s.adminStats)
}

// AddSourceClient adds an API client, replacing any with the same ID (as a
// secret change in the Drupal UI would).
func (e *Emulator) AddSourceClient(c SourceClient) {
	c.Scopes = slices.Clone(c.Scopes)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.source().clients[c.ID] = c
}

// SetSourceLifetimes sets the lifetimes of tokens and codes issued from now
// on; a zero (or negative) duration keeps the current value.
func (e *Emulator) SetSourceLifetimes(access, refresh, code time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.source()
	if access > 0 {
		s.accessTTL = access
	}
	if refresh > 0 {
		s.refreshTTL = refresh
	}
	if code > 0 {
		s.codeTTL = code
	}
}

// SetSourceDeny makes the built-in user refuse every authorization request
// (error=access_denied), as a user clicking "Cancel" would.
func (e *Emulator) SetSourceDeny(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.source().deny = on
}

// SetSourceRevocation turns the RFC 7009 endpoint on (the default) or off;
// off, /oauth/revoke is a 404 and the metadata no longer advertises it, as
// on a site without the revocation module.
func (e *Emulator) SetSourceRevocation(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.source().revocation = on
}

// SourceRefreshReuses counts refresh requests that presented a refresh
// token already rotated away: each one is a client that failed to store
// the replacement.
func (e *Emulator) SourceRefreshReuses() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.source().reuses
}

// SourceRefreshTokens counts the refresh tokens neither revoked, rotated
// nor expired.
func (e *Emulator) SourceRefreshTokens() (live int) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rt := range e.source().refresh {
		if rt.live(now) {
			live++
		}
	}
	return live
}

// SourceRefreshLive reports whether value is a live refresh token.
func (e *Emulator) SourceRefreshLive(value string) bool {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	rt, ok := e.source().refresh[value]
	return ok && rt.live(now)
}

// SourceCredentials returns every authorization code and refresh token
// ever issued, live or not, so a test can prove none of them reached a log
// line or a response.
func (e *Emulator) SourceCredentials() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.source()
	out := make([]string, 0, len(s.codes)+len(s.refresh))
	for c := range s.codes {
		out = append(out, c)
	}
	for r := range s.refresh {
		out = append(out, r)
	}
	return out
}

func (rt *sourceRefresh) live(now time.Time) bool { return !rt.revoked && now.Before(rt.expires) }

// sourceError is an RFC 6749 §5.2 error with league/oauth2-server's
// optional "hint".
type sourceError struct {
	oauthError
	hint string
}

func sourceErr(status int, code, desc, hint string) *sourceError {
	return &sourceError{oauthError: oauthError{status: status, code: code, desc: desc}, hint: hint}
}

func sourceFrom(o *oauthError) *sourceError { return &sourceError{oauthError: *o} }

func sourceInvalidRequest(param string) *sourceError {
	return sourceErr(http.StatusBadRequest, "invalid_request", sourceDescInvalidRequest, "Check the `"+param+"` parameter")
}

func sourceInvalidGrant(hint string) *sourceError {
	return sourceErr(http.StatusBadRequest, "invalid_grant", sourceDescInvalidGrant, hint)
}

func sourceInvalidRefresh(hint string) *sourceError {
	return sourceErr(http.StatusBadRequest, "invalid_grant", sourceDescInvalidRefresh, hint)
}

// sourceInvalidScope does not name the offending scope: it is the client's
// input, and nothing the client sent is echoed.
func sourceInvalidScope() *sourceError {
	return sourceErr(http.StatusBadRequest, "invalid_scope", sourceDescInvalidScope, "Check the `scope` parameter")
}

func (s *sourceService) fail(w http.ResponseWriter, r *http.Request, se *sourceError) {
	if se.status == http.StatusUnauthorized && r.Header.Get("Authorization") != "" {
		// RFC 6749 §5.2: a failed Basic attempt is told the scheme to use.
		w.Header().Set("WWW-Authenticate", `Basic realm="OAuth"`)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	body := map[string]string{"error": se.code, "error_description": se.desc}
	if se.hint != "" {
		body["hint"] = se.hint
	}
	writeJSON(w, se.status, body)
}

// sourceParseScope splits a scope parameter by RFC 6749 §3.3's grammar
// (single spaces between NQCHAR tokens), dropping repeats.
func sourceParseScope(scope string) ([]string, bool) {
	if scope == "" {
		return nil, true
	}
	var out []string
	for _, tok := range strings.Split(scope, " ") {
		if tok == "" || strings.IndexFunc(tok, func(c rune) bool { return c < 0x21 || c == '"' || c == '\\' || c > 0x7e }) >= 0 {
			return nil, false
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, true
}

// allows reports whether every scope is one the client may request.
func (c SourceClient) allows(scopes []string) bool {
	if len(c.Scopes) == 0 {
		return true
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return false
		}
	}
	return true
}

// allowsRedirect applies the client's list exactly or, without one, the
// RFC 8252 rule: http only to loopback, https anywhere.
func (c SourceClient) allowsRedirect(raw string, u *url.URL) bool {
	if len(c.RedirectURIs) > 0 {
		return slices.Contains(c.RedirectURIs, raw)
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

// sourceRedirectURI parses a redirect_uri as RFC 6749 §3.1.2 requires:
// absolute, http(s), no fragment.
func sourceRedirectURI(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" ||
		strings.Contains(raw, "#") {
		return nil, false
	}
	return u, true
}

func (s *sourceService) client(id string) (SourceClient, bool) {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	c, ok := s.clients[id]
	return c, ok
}

// authenticate checks a token or revoke request's client credentials, sent
// in the body or as raw (not url-decoded) Basic, as Cloud's are.
func (s *sourceService) authenticate(r *http.Request, form url.Values) (SourceClient, *sourceError) {
	id, secret, oerr := clientCredentials(r, form)
	if oerr != nil {
		return SourceClient{}, sourceFrom(oerr)
	}
	c, ok := s.client(id)
	if !ok || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return SourceClient{}, sourceErr(http.StatusUnauthorized, "invalid_client", cloudClientFailed, "")
	}
	return c, nil
}

// sourceAuthorizePage answers an authorization request that must not redirect
// (RFC 6749 §4.1.2.1: unknown client or bad redirect_uri), as a page for a
// browser and as JSON for anything else.
func sourceAuthorizePage(w http.ResponseWriter, r *http.Request, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("<!DOCTYPE html>\n<title>Authorization failed</title>\n<h1>Authorization failed</h1>\n<p>" +
			html.EscapeString(desc) + "</p>\n"))
		return
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

// sourceRedirect sends the browser back to the client, keeping the
// redirect_uri's own query as RFC 6749 §3.1.2 requires.
func sourceRedirect(w http.ResponseWriter, u *url.URL, params url.Values, state string) {
	if state != "" {
		params.Set("state", state)
	}
	back := *u
	if back.RawQuery != "" {
		back.RawQuery += "&" + params.Encode()
	} else {
		back.RawQuery = params.Encode()
	}
	// Not http.Redirect: its HTML body would repeat the code.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", back.String())
	w.WriteHeader(http.StatusFound)
}

func (s *sourceService) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	q := r.URL.Query()
	// Until client and redirect_uri are known good, an error must not
	// redirect: an attacker could otherwise bounce users anywhere.
	if len(q["client_id"]) != 1 || q.Get("client_id") == "" {
		sourceAuthorizePage(w, r, "invalid_request", "The client_id parameter is missing or repeated.")
		return
	}
	client, ok := s.client(q.Get("client_id"))
	if !ok {
		sourceAuthorizePage(w, r, "invalid_client", "Client authentication failed")
		return
	}
	if len(q["redirect_uri"]) != 1 {
		sourceAuthorizePage(w, r, "invalid_request", "The redirect_uri parameter is missing or repeated.")
		return
	}
	rawRedirect := q.Get("redirect_uri")
	back, ok := sourceRedirectURI(rawRedirect)
	if !ok || !client.allowsRedirect(rawRedirect, back) {
		sourceAuthorizePage(w, r, "invalid_request", "The redirect_uri is not valid for this client.")
		return
	}

	state := q.Get("state")
	fail := func(code, desc string) {
		sourceRedirect(w, back, url.Values{"error": {code}, "error_description": {desc}}, state)
	}
	for k, v := range q {
		if len(v) > 1 {
			if k == "state" {
				state = ""
			}
			fail("invalid_request", "The "+safeName(k)+" parameter was sent more than once.")
			return
		}
	}
	switch q.Get("response_type") {
	case "code":
	case "":
		fail("invalid_request", "The response_type parameter is missing.")
		return
	default:
		fail("unsupported_response_type", "The authorization server does not support this response type.")
		return
	}
	scopes, ok := sourceParseScope(q.Get("scope"))
	if !ok || !client.allows(scopes) {
		fail("invalid_scope", sourceDescInvalidScope)
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method == "":
	case challenge == "":
		fail("invalid_request", "code_challenge_method was sent without code_challenge.")
		return
	case method != "S256":
		// RFC 7636 §4.3 makes a missing method mean "plain", which this
		// server refuses, like any method but S256.
		fail("invalid_request", "Only the S256 code_challenge_method is supported.")
		return
	case !sourcePKCEValue(challenge) || len(challenge) != 43:
		fail("invalid_request", "The code_challenge must be a base64url SHA-256 digest without padding.")
		return
	}

	now := s.e.now()
	s.e.mu.Lock()
	if s.deny {
		s.e.mu.Unlock()
		fail("access_denied", sourceDescAccessDenied)
		return
	}
	code := randomHex(32)
	s.codes[code] = &sourceCode{
		clientID: client.ID, redirectURI: rawRedirect, scope: strings.Join(scopes, " "), challenge: challenge,
		family: randomHex(16), expires: now.Add(s.codeTTL),
	}
	s.e.mu.Unlock()
	sourceRedirect(w, back, url.Values{"code": {code}}, state)
}

// sourcePKCEValue checks RFC 7636's alphabet for verifiers and challenges.
func sourcePKCEValue(v string) bool {
	return strings.IndexFunc(v, func(c rune) bool {
		return !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c))
	}) < 0
}

func (s *sourceService) postOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", http.MethodPost)
	s.fail(w, r, sourceErr(http.StatusMethodNotAllowed, "invalid_request", "This endpoint only accepts POST.", ""))
	return false
}

func (s *sourceService) token(w http.ResponseWriter, r *http.Request) {
	if !s.postOnly(w, r) {
		return
	}
	resp, se := s.grant(w, r)
	if se != nil {
		s.fail(w, r, se)
		return
	}
	writeTokenResponse(w, resp)
}

// grant checks in league/oauth2-server's order: grant type, client, then
// the grant's own parameters.
func (s *sourceService) grant(w http.ResponseWriter, r *http.Request) (map[string]any, *sourceError) {
	form, oerr := tokenForm(w, r)
	if oerr != nil {
		return nil, sourceFrom(oerr)
	}
	gt := form.Get("grant_type")
	switch gt {
	case "":
		return nil, sourceInvalidRequest("grant_type")
	case "client_credentials", "authorization_code", "refresh_token":
	default:
		return nil, sourceErr(http.StatusBadRequest, "unsupported_grant_type",
			"The authorization grant type is not supported by the authorization server.", "Check that all required parameters have been provided")
	}
	client, se := s.authenticate(r, form)
	if se != nil {
		return nil, se
	}
	switch gt {
	case "client_credentials":
		return s.clientCredentialsGrant(client, form)
	case "authorization_code":
		return s.codeGrant(client, form)
	default:
		return s.refreshGrant(client, form)
	}
}

func (s *sourceService) clientCredentialsGrant(client SourceClient, form url.Values) (map[string]any, *sourceError) {
	scopes, ok := sourceParseScope(form.Get("scope"))
	if !ok || !client.allows(scopes) {
		return nil, sourceInvalidScope()
	}
	resp := s.mint(client.ID, "", strings.Join(scopes, " "), "", "", false)
	return resp, nil
}

func (s *sourceService) codeGrant(client SourceClient, form url.Values) (map[string]any, *sourceError) {
	code := form.Get("code")
	if code == "" {
		return nil, sourceInvalidRequest("code")
	}
	redirect, hasRedirect := form["redirect_uri"]
	if !hasRedirect || redirect[0] == "" {
		return nil, sourceInvalidRequest("redirect_uri")
	}
	verifier, hasVerifier := form["code_verifier"]
	if hasVerifier && (len(verifier[0]) < 43 || len(verifier[0]) > 128 || !sourcePKCEValue(verifier[0])) {
		return nil, sourceErr(http.StatusBadRequest, "invalid_request", sourceDescInvalidRequest,
			"Code Verifier must follow the specifications of RFC-7636.")
	}

	now := s.e.now()
	s.e.mu.Lock()
	c, ok := s.codes[code]
	var se *sourceError
	switch {
	case !ok:
		se = sourceInvalidGrant("Cannot decrypt the authorization code")
	case c.clientID != client.ID:
		se = sourceInvalidGrant("Authorization code was not issued to this client")
	case c.used:
		// RFC 6749 §4.1.2: a replayed code means it leaked; whatever was
		// issued from it is no longer trusted.
		s.revokeFamily(c.family)
		se = sourceInvalidGrant("Authorization code has been revoked")
	case !now.Before(c.expires):
		se = sourceInvalidGrant("Authorization code has expired")
	case redirect[0] != c.redirectURI:
		se = sourceInvalidGrant("Invalid redirect URI")
	case c.challenge == "" && hasVerifier:
		se = sourceErr(http.StatusBadRequest, "invalid_request", sourceDescInvalidRequest,
			"Failed to verify `code_verifier`: no code_challenge was sent with the authorization request.")
	case c.challenge != "" && !hasVerifier:
		se = sourceInvalidGrant("Check the `code_verifier` parameter")
	case c.challenge != "" && !sourceS256Matches(verifier[0], c.challenge):
		se = sourceInvalidGrant("Failed to verify `code_verifier`.")
	default:
		// Claimed under the lock, so of two concurrent exchanges one wins.
		c.used = true
	}
	var scope, family string
	if se == nil {
		scope, family = c.scope, c.family
	}
	s.e.mu.Unlock()
	if se != nil {
		return nil, se
	}
	resp := s.mint(client.ID, DemoSourceUser, scope, scope, family, true)
	return resp, nil
}

func sourceS256Matches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// refreshGrant rotates: the old refresh token and its access token die in
// the same critical section that checks the old token is live, so of two
// concurrent refreshes with one token exactly one succeeds.
func (s *sourceService) refreshGrant(client SourceClient, form url.Values) (map[string]any, *sourceError) {
	value := form.Get("refresh_token")
	if value == "" {
		return nil, sourceInvalidRequest("refresh_token")
	}
	requested, ok := sourceParseScope(form.Get("scope"))
	if !ok {
		return nil, sourceInvalidScope()
	}

	now := s.e.now()
	s.e.mu.Lock()
	rt, found := s.refresh[value]
	var se *sourceError
	// league/oauth2-server checks client, then expiry, then revocation; a
	// rotated token counts as reused whichever answer it gets.
	if found && rt.clientID == client.ID && rt.rotated {
		s.reuses++
	}
	switch {
	case !found:
		se = sourceInvalidRefresh("Cannot decrypt the refresh token")
	case rt.clientID != client.ID:
		se = sourceInvalidRefresh("Token is not linked to client")
	case !now.Before(rt.expires):
		se = sourceInvalidRefresh("Token has expired")
	case rt.revoked:
		se = sourceInvalidRefresh("Token has been revoked")
	}
	var orig []string
	if se == nil {
		orig, _ = sourceParseScope(rt.scope)
		if slices.ContainsFunc(requested, func(sc string) bool { return !slices.Contains(orig, sc) }) {
			se = sourceInvalidScope()
		}
	}
	var user, refreshScope, family string
	if se == nil {
		rt.revoked, rt.rotated = true, true
		if old, ok := s.e.byValue[rt.access]; ok {
			old.Revoked = true
		}
		user, refreshScope, family = rt.user, rt.scope, rt.family
	}
	s.e.mu.Unlock()
	if se != nil {
		return nil, se
	}
	accessScope := refreshScope
	if len(requested) > 0 {
		accessScope = strings.Join(requested, " ")
	}
	// RFC 6749 §6: the new refresh token keeps the original scope even when
	// this access token is narrower.
	resp := s.mint(client.ID, user, accessScope, refreshScope, family, true)
	return resp, nil
}

// mint issues an access token (and, withRefresh, a refresh token) and
// returns the token response. The refresh token is recorded before the
// response exists, so a client can never hold one the server does not know.
func (s *sourceService) mint(clientID, user, accessScope, refreshScope, family string, withRefresh bool) map[string]any {
	s.e.mu.Lock()
	accessTTL, refreshTTL := s.accessTTL, s.refreshTTL
	s.e.mu.Unlock()

	t := s.e.issue(serviceSource, clientID, accessScope, accessTTL)
	resp := map[string]any{
		"token_type":   "Bearer",
		"expires_in":   int64(accessTTL / time.Second),
		"access_token": t.Value,
	}
	if accessScope != "" {
		resp["scope"] = accessScope
	}
	if !withRefresh {
		return resp
	}

	value := randomHex(32)
	s.e.mu.Lock()
	s.access[t.Value] = sourceGrant{user: user, family: family}
	s.refresh[value] = &sourceRefresh{
		clientID: clientID, user: user, scope: refreshScope, access: t.Value, family: family,
		expires: t.IssuedAt.Add(refreshTTL),
	}
	if s.revokedFamilies[family] {
		// The code was replayed while these were being issued: they are
		// born revoked, as they would be had the replay come a moment later.
		s.revokeFamily(family)
	}
	s.e.mu.Unlock()
	resp["refresh_token"] = value
	return resp
}

// revokeFamily kills every token descended from one authorization code.
// The caller holds e.mu.
func (s *sourceService) revokeFamily(family string) {
	s.revokedFamilies[family] = true
	for _, rt := range s.refresh {
		if rt.family == family {
			rt.revoked = true
		}
	}
	for value, g := range s.access {
		if g.family != family {
			continue
		}
		if t, ok := s.e.byValue[value]; ok {
			t.Revoked = true
		}
	}
}

func (s *sourceService) revocationOn() bool {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	return s.revocation
}

// revoke is RFC 7009. Unknown, expired and already revoked tokens are all
// a 200 (§2.2); another client's token is refused, since §2.1 has the
// server check the token was issued to the caller.
func (s *sourceService) revoke(w http.ResponseWriter, r *http.Request) {
	if !s.revocationOn() {
		writeAPIError(w, http.StatusNotFound, "not_found", "The requested resource was not found.")
		return
	}
	if !s.postOnly(w, r) {
		return
	}
	form, oerr := tokenForm(w, r)
	if oerr != nil {
		s.fail(w, r, sourceFrom(oerr))
		return
	}
	client, se := s.authenticate(r, form)
	if se != nil {
		s.fail(w, r, se)
		return
	}
	value := form.Get("token")
	if value == "" {
		s.fail(w, r, sourceInvalidRequest("token"))
		return
	}
	// token_type_hint only speeds up a lookup (§2.1); both stores are
	// searched whatever it says.
	s.e.mu.Lock()
	owner := ""
	if rt, ok := s.refresh[value]; ok {
		owner = rt.clientID
		if owner == client.ID {
			rt.revoked = true
			if t, ok := s.e.byValue[rt.access]; ok {
				t.Revoked = true
			}
		}
	} else if t, ok := s.e.byValue[value]; ok && t.Service == serviceSource {
		owner = t.ClientID
		if owner == client.ID {
			t.Revoked = true
		}
	}
	s.e.mu.Unlock()
	if owner != "" && owner != client.ID {
		s.fail(w, r, sourceErr(http.StatusBadRequest, "unauthorized_client", "The token was not issued to this client.", ""))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// metadata is RFC 8414; it lists the revocation endpoint only while it is
// on, which is how a client discovers whether a site has one.
func (s *sourceService) metadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	base := "http://" + r.Host
	md := map[string]any{
		"issuer":                                base,
		"authorization_endpoint":                base + "/oauth/authorize",
		"token_endpoint":                        base + "/oauth/token",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials", "refresh_token"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
	}
	if s.revocationOn() {
		md["revocation_endpoint"] = base + "/oauth/revoke"
		md["revocation_endpoint_auth_methods_supported"] = []string{"client_secret_post", "client_secret_basic"}
	}
	writeJSON(w, http.StatusOK, md)
}

// jsonapi is the JSON:API entry point, enough to prove a token works and
// whose it is: the user for a code-flow token, the client otherwise.
func (s *sourceService) jsonapi(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	value, ok := bearerToken(r)
	var t Token
	if ok {
		t, ok = s.e.liveToken(serviceSource, value)
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "invalid_token", "error_description": "The access token is missing, invalid, expired or revoked.",
		})
		return
	}
	s.e.mu.Lock()
	who := s.access[t.Value].user
	s.e.mu.Unlock()
	if who == "" {
		who = t.ClientID
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"jsonapi": map[string]any{"version": "1.0"},
		"meta":    map[string]any{"links": map[string]any{"me": map[string]any{"meta": map[string]any{"id": who}}}},
	})
}

type sourceClientJSON struct {
	ID           string   `json:"id"`
	Secret       string   `json:"secret"`
	Scopes       []string `json:"scopes"`
	RedirectURIs []string `json:"redirect_uris"`
}

func (s *sourceService) adminAddClient(w http.ResponseWriter, r *http.Request) {
	var in sourceClientJSON
	if !decodeAdmin(w, r, &in) {
		return
	}
	valid := in.ID != "" && in.Secret != ""
	for _, u := range in.RedirectURIs {
		if _, ok := sourceRedirectURI(u); !ok {
			valid = false
		}
	}
	if !valid {
		writeAPIError(w, http.StatusBadRequest, "validation_failed",
			"id and secret are required; redirect_uris must be absolute http(s) URIs without a fragment.")
		return
	}
	s.e.AddSourceClient(SourceClient{ID: in.ID, Secret: in.Secret, Scopes: in.Scopes, RedirectURIs: in.RedirectURIs})
	w.WriteHeader(http.StatusNoContent)
}

func (s *sourceService) adminDeny(w http.ResponseWriter, r *http.Request) {
	var in struct {
		On bool `json:"on"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	s.e.SetSourceDeny(in.On)
	w.WriteHeader(http.StatusNoContent)
}

func (s *sourceService) adminRevocation(w http.ResponseWriter, r *http.Request) {
	var in struct {
		On bool `json:"on"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	s.e.SetSourceRevocation(in.On)
	w.WriteHeader(http.StatusNoContent)
}

func (s *sourceService) adminStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]int{
		"refresh_reuses":      s.e.SourceRefreshReuses(),
		"live_refresh_tokens": s.e.SourceRefreshTokens(),
	})
}
