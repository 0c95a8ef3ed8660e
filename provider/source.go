package provider

import (
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
			return newRFCClient(c, o, sourceLifetime, sourceHints)
		},
	})
}

func sourceHints(code string, _ int) string {
	switch code {
	case "invalid_client":
		return "client_id/client_secret rejected by the site; check the consumer under Configuration > Simple OAuth > Clients"
	case "invalid_scope":
		return "the consumer may not request these scopes; fix scopes on the role or config"
	}
	return ""
}
