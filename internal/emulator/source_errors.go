package emulator

import (
	"net/http"
)

const (
	// league/oauth2-server's wording, which Drupal's simple_oauth answers
	// with, so a client's error handling meets the real strings.
	sourceDescInvalidRequest = "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed."
	sourceDescInvalidGrant   = "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
	sourceDescInvalidRefresh = "The refresh token is invalid."
	sourceDescInvalidScope   = "The requested scope is invalid, unknown, or malformed"
	sourceDescAccessDenied   = "The resource owner or authorization server denied the request."
	sourceDescServerError    = "The authorization server encountered an unexpected condition which prevented it from fulfilling the request: "
)

// sourceOAuth is the site's error style: a 401 after a failed Basic
// attempt is told the scheme to use (RFC 6749 §5.2).
var sourceOAuth = oauthStyle{realm: "OAuth"}

// sourceErr is an RFC 6749 §5.2 error with league/oauth2-server's
// optional "hint".
func sourceErr(status int, code, desc, hint string) *oauthError {
	return &oauthError{status: status, code: code, desc: desc, hint: hint}
}

func sourceInvalidRequest(param string) *oauthError {
	return sourceErr(http.StatusBadRequest, "invalid_request", sourceDescInvalidRequest, "Check the `"+param+"` parameter")
}

func sourceInvalidGrant(hint string) *oauthError {
	return sourceErr(http.StatusBadRequest, "invalid_grant", sourceDescInvalidGrant, hint)
}

func sourceInvalidRefresh(hint string) *oauthError {
	return sourceErr(http.StatusBadRequest, "invalid_grant", sourceDescInvalidRefresh, hint)
}

// sourceInvalidScope does not name the offending scope: it is the client's
// input, and nothing the client sent is echoed.
func sourceInvalidScope() *oauthError {
	return sourceErr(http.StatusBadRequest, "invalid_scope", sourceDescInvalidScope, "Check the `scope` parameter")
}
