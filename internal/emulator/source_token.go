package emulator

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

func (s *sourceService) token(w http.ResponseWriter, r *http.Request) {
	sourceOAuth.serveToken(w, r, "This endpoint", s.grant)
}

// grant is the site's token endpoint: the shared grant handling
// (codeflow.go) with simple_oauth's client authentication and wording.
func (s *sourceService) grant(w http.ResponseWriter, r *http.Request) (map[string]any, *oauthError) {
	return tokenGrant(w, r, s.flow, s)
}

// sourceWords is league/oauth2-server's wording of the code flow's
// refusals, which simple_oauth answers with.
var sourceWords = grantWords{
	missing: sourceInvalidRequest,
	unsupportedGrant: sourceErr(http.StatusBadRequest, "unsupported_grant_type",
		"The authorization grant type is not supported by the authorization server.", "Check that all required parameters have been provided"),
	badVerifier: sourceErr(http.StatusBadRequest, "invalid_request", sourceDescInvalidRequest,
		"Code Verifier must follow the specifications of RFC-7636."),
	codeRefused:    sourceCodeRefused,
	refreshRefused: sourceRefreshRefused,
	badScope:       sourceInvalidScope(),
	scopeExceeds:   sourceInvalidScope(),
	accessDenied:   sourceDescAccessDenied,
}

func (s *sourceService) clientCredentialsGrant(client SourceClient, form url.Values) (map[string]any, *oauthError) {
	scopes, ok := sourceParseScope(form.Get("scope"))
	if !ok || !client.allows(scopes) {
		return nil, sourceInvalidScope()
	}
	_, resp := s.accessToken(client, strings.Join(scopes, " "))
	return resp, nil
}

// accessToken issues an access token with the site's current lifetime.
// The answer has no scope: simple_oauth does not repeat it, so a client
// must not count on it (RFC 6749 §5.1 makes it optional when unchanged).
func (s *sourceService) accessToken(client SourceClient, scope string) (Token, map[string]any) {
	accessTTL := load(s.e, &s.accessTTL)
	t := s.e.issue(serviceSource, client.ID, scope, accessTTL)
	return t, map[string]any{
		"token_type":   "Bearer",
		"expires_in":   int64(accessTTL / time.Second),
		"access_token": t.Value,
	}
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

// sourceRefreshRefused is Acquia Source's answer to a refused refresh
// token.
func sourceRefreshRefused(r refreshRefusal) *oauthError {
	switch r {
	case refreshUnknown:
		return sourceInvalidRefresh("Cannot decrypt the refresh token")
	case refreshOtherClient:
		return sourceInvalidRefresh("Token is not linked to client")
	case refreshExpired:
		return sourceInvalidRefresh("Token has expired")
	default:
		return sourceInvalidRefresh("Token has been revoked")
	}
}

func sourceS256Matches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}
