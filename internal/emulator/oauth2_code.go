package emulator

import (
	"net/http"
	"net/url"
	"time"
)

// The generic server's authorization code grant (RFC 6749 §4.1) with PKCE
// S256 (RFC 7636), and refresh (§6) with rotation: the Source site's
// (codeflow.go), with this server's client authentication (the form body
// or form-encoded Basic) and wording.

const (
	oauth2RefreshTTL = 14 * 24 * time.Hour
	oauth2CodeTTL    = 60 * time.Second
	// OAuth2User is the server's built-in user: it approves every
	// authorization request.
	OAuth2User = "demo-user"
)

// OAuth2RefreshTokens counts the generic server's refresh tokens neither
// revoked, rotated nor expired.
func (e *Emulator) OAuth2RefreshTokens() int { return e.oauth2().flow.liveRefreshTokens() }

// OAuth2RefreshLive reports whether value is a live refresh token of the
// generic server.
func (e *Emulator) OAuth2RefreshLive(value string) bool { return e.oauth2().flow.refreshLive(value) }

// OAuth2RefreshReuses counts refresh requests that presented a refresh
// token already rotated away.
func (e *Emulator) OAuth2RefreshReuses() int { return load(e, &e.oauth2().flow.reuses) }

// OAuth2Credentials returns every authorization code and refresh token the
// generic server issued, so a test can prove none reached a response.
func (e *Emulator) OAuth2Credentials() []string { return e.oauth2().flow.credentials() }

func (o *oauth2Service) client(id string) (OAuth2Client, bool) { return lookup(o.e, o.clients, id) }

func (c OAuth2Client) allowsRedirect(raw string, u *url.URL) bool {
	return redirectAllowed(c.RedirectURIs, raw, u)
}

func (c OAuth2Client) clientID() string { return c.ID }

func (o *oauth2Service) authorize(w http.ResponseWriter, r *http.Request) {
	a := startAuthorize(w, r, o.client, "Client authentication failed.")
	if a == nil {
		return
	}
	scope := a.q.Get("scope")
	if a.q.Has("scope") && !a.client.mayRequest(scope) {
		a.fail(w, "invalid_scope", "The requested scope is invalid, unknown, or malformed.")
		return
	}
	approve(w, o.flow, a, scope)
}

func oauth2InvalidGrant(desc string) *oauthError { return badRequest("invalid_grant", desc) }

// oauth2Words is the generic server's wording of the code flow's refusals.
var oauth2Words = grantWords{
	missing: func(param string) *oauthError {
		return badRequest("invalid_request", "The request is missing the "+param+" parameter.")
	},
	unsupportedGrant: badRequest("unsupported_grant_type", "The authorization grant type is not supported by the authorization server."),
	badVerifier:      badRequest("invalid_request", "The code_verifier does not follow RFC 7636."),
	codeRefused:      oauth2CodeRefused,
	refreshRefused:   oauth2RefreshRefused,
	badScope:         badRequest("invalid_scope", "The requested scope is invalid, unknown, or malformed."),
	scopeExceeds:     badRequest("invalid_scope", "The requested scope exceeds the scope granted."),
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

// oauth2RefreshRefused is the generic server's answer to a refused refresh
// token.
func oauth2RefreshRefused(r refreshRefusal) *oauthError {
	switch r {
	case refreshUnknown:
		return oauth2InvalidGrant("The refresh token is invalid.")
	case refreshOtherClient:
		return oauth2InvalidGrant("The refresh token was issued to another client.")
	case refreshExpired:
		return oauth2InvalidGrant("The refresh token has expired.")
	default:
		return oauth2InvalidGrant("The refresh token was revoked.")
	}
}
