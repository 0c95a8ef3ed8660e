package provider

import (
	"net/http"
	"strings"
	"time"
)

// Acquia Source: one OAuth 2.0 server per site (base_url), Drupal's. Client
// credentials for server-to-server use, or a user's authorization (code +
// PKCE) whose refresh tokens rotate on every use. Credentials go in the
// form body: the server does not url-decode Basic credentials and secrets
// hold + / =. Revocation (RFC 7009) only where the site enables it.
const (
	sourceTokenPath     = "/oauth/token"
	sourceAuthorizePath = "/oauth/authorize"
	// The usual Drupal default; the site's real value is unverified and
	// comes with each token as expires_in.
	sourceLifetime = 300 * time.Second
)

func init() {
	Register(&Spec{
		Name: "source",
		Fields: []string{"client_id", "client_secret", "base_url", "token_url", "authorize_url", "revocation_url", "auth_style",
			"revoke_user_access_tokens"},
		Required:   []string{"client_id", "client_secret", "base_url"},
		GrantTypes: []string{GrantClientCredentials, GrantAuthorizationCode},
		// Drupal's OAuth server revokes the old access token with the old
		// refresh token.
		RefreshRetiresAccess: true,
		Defaults: func(c *Config) {
			base := strings.TrimSuffix(c.BaseURL, "/")
			def(&c.TokenURL, base+sourceTokenPath)
			def(&c.AuthorizeURL, base+sourceAuthorizePath)
			def(&c.AuthStyle, AuthStyleBody)
		},
		Validate: refuseEncodedBasic("source", "the site"),
		New: func(c Config, o Options) (Client, error) {
			return newRFCClient(c, o, sourceLifetime, sourceHints, sourceRefine)
		},
	})
}

func sourceHints(code string, _ int) string {
	if code == "invalid_scope" {
		return "the consumer may not request these scopes; fix scopes on the role or config"
	}
	return ""
}

// sourceGrants names the grant each token endpoint operation uses, as the
// consumer's settings name them.
var sourceGrants = map[string]string{"token request": "Client Credentials", "code exchange": "Authorization Code",
	"token refresh": "Refresh Token"}

// sourceRefine gives the site's two misleading answers a hint that names
// the fix: league/oauth2-server's invalid_client also means the consumer
// may not use the grant, and simple_oauth's 500 "Invalid default user for
// client." is a consumer setting, not an outage, and will not pass by
// retrying.
func sourceRefine(op string, e *Error) {
	switch {
	case e.Status == http.StatusInternalServerError && strings.Contains(e.Detail, "Invalid default user for client"):
		e.Retryable = false
		e.Hint = "the consumer has no default user, which the client credentials grant needs: set one on the consumer " +
			"(Configuration > Simple OAuth > Clients), or use authorization_code roles"
	case e.Code == "invalid_client":
		e.Hint = "the site refused the client: check client_secret, and that the consumer may use the " + sourceGrants[op] +
			" grant (its grant types under Configuration > Simple OAuth > Clients)"
	}
}
