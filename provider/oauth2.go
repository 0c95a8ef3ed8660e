package provider

import "time"

// Any RFC 6749 token endpoint: client credentials, or a user's
// authorization (code + PKCE, then refresh tokens) when authorize_url is
// set, also through the device grant (RFC 8628) when
// device_authorization_url is set; RFC 7009 revocation when revocation_url
// is set. This lets operators
// cover another OAuth 2.0 service without a new release of the plugin.
//
// oauth2Lifetime is assumed when the endpoint sends no expires_in: RFC 6749
// leaves the default to each server's documentation, which the plugin
// cannot read, so it errs short: a lease must not outlive its token.
const oauth2Lifetime = 5 * time.Minute

func init() {
	Register(&Spec{
		Name: "oauth2",
		Fields: []string{"client_id", "client_secret", "token_url", "authorize_url", "revocation_url", "auth_style",
			"revoke_user_access_tokens", "device_authorization_url"},
		Required:   []string{"client_id", "client_secret", "token_url"},
		GrantTypes: []string{GrantClientCredentials, GrantAuthorizationCode},
		Defaults: func(c *Config) {
			def(&c.AuthStyle, AuthStyleBody)
		},
		New: func(c Config, o Options) (Client, error) {
			return newRFCClient(c, o, oauth2Lifetime, nil, nil)
		},
	})
}
