package emulator

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

func (s *sourceService) token(w http.ResponseWriter, r *http.Request) {
	sourceOAuth.serveToken(w, r, "This endpoint", s.grant)
}

// grant checks in league/oauth2-server's order: grant type, client, then
// the grant's own parameters.
func (s *sourceService) grant(w http.ResponseWriter, r *http.Request) (map[string]any, *oauthError) {
	form, oerr := tokenForm(w, r)
	if oerr != nil {
		return nil, oerr
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
	client, se := s.authenticateFor(r, form, gt)
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

func (s *sourceService) clientCredentialsGrant(client SourceClient, form url.Values) (map[string]any, *oauthError) {
	scopes, ok := sourceParseScope(form.Get("scope"))
	if !ok || !client.allows(scopes) {
		return nil, sourceInvalidScope()
	}
	resp := s.mint(client.ID, "", strings.Join(scopes, " "), "", "", false)
	return resp, nil
}

func (s *sourceService) codeGrant(client SourceClient, form url.Values) (map[string]any, *oauthError) {
	code := form.Get("code")
	if code == "" {
		return nil, sourceInvalidRequest("code")
	}
	redirect, hasRedirect := form["redirect_uri"]
	if !hasRedirect || redirect[0] == "" {
		return nil, sourceInvalidRequest("redirect_uri")
	}
	verifier, hasVerifier := form["code_verifier"]
	if s.e.switchOn(&s.noPKCE) {
		hasVerifier = false
	}
	if hasVerifier && (len(verifier[0]) < 43 || len(verifier[0]) > 128 || !sourcePKCEValue(verifier[0])) {
		return nil, sourceErr(http.StatusBadRequest, "invalid_request", sourceDescInvalidRequest,
			"Code Verifier must follow the specifications of RFC-7636.")
	}

	x := codeExchange{clientID: client.ID, redirectURI: redirect[0], hasVerifier: hasVerifier}
	if hasVerifier {
		x.verifier = verifier[0]
	}
	now := s.e.now()
	s.e.mu.Lock()
	c := s.codes[code]
	refusal := c.redeem(x, now)
	if refusal == codeReplayed {
		// A replayed code means it leaked; whatever was issued from it is
		// no longer trusted.
		s.revokeFamily(c.family)
	}
	var scope, family string
	if refusal == codeAccepted {
		scope, family = c.scope, c.family
	}
	s.e.mu.Unlock()
	if refusal != codeAccepted {
		return nil, sourceCodeRefused(refusal)
	}
	resp := s.mint(client.ID, DemoSourceUser, scope, scope, family, true)
	return resp, nil
}

// sourceCodeRefused is Acquia Source's answer to a refused code exchange.
func sourceCodeRefused(r codeRefusal) *oauthError {
	switch r {
	case codeUnknown:
		return sourceInvalidGrant("Cannot decrypt the authorization code")
	case codeOtherClient:
		return sourceInvalidGrant("Authorization code was not issued to this client")
	case codeReplayed:
		return sourceInvalidGrant("Authorization code has been revoked")
	case codeExpired:
		return sourceInvalidGrant("Authorization code has expired")
	case codeOtherRedirect:
		return sourceInvalidGrant("Invalid redirect URI")
	case codeUnexpectedVerifier:
		return sourceErr(http.StatusBadRequest, "invalid_request", sourceDescInvalidRequest,
			"Failed to verify `code_verifier`: no code_challenge was sent with the authorization request.")
	case codeMissingVerifier:
		return sourceInvalidGrant("Check the `code_verifier` parameter")
	default:
		return sourceInvalidGrant("Failed to verify `code_verifier`.")
	}
}

func sourceS256Matches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// refreshGrant rotates: the old refresh token and its access token die in
// the same critical section that checks the old token is live, so of two
// concurrent refreshes with one token exactly one succeeds.
func (s *sourceService) refreshGrant(client SourceClient, form url.Values) (map[string]any, *oauthError) {
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
	var se *oauthError
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
		s.e.revokeLocked(serviceSource, rt.access)
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
	// No scope: simple_oauth does not repeat it, so a client must not
	// count on it (RFC 6749 §5.1 makes it optional when unchanged).
	resp := map[string]any{
		"token_type":   "Bearer",
		"expires_in":   int64(accessTTL / time.Second),
		"access_token": t.Value,
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
		if g.family == family {
			s.e.revokeLocked(serviceSource, value)
		}
	}
}
