package provider

import (
	"fmt"
	"time"
)

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
			"revoke_user_access_tokens", "private_key", "generate_key", "private_key_id", "assertion_audience", "issuer",
			"device_authorization_url"},
		// client_secret, or private_key with private_key_jwt: validateOAuth2.
		Required:   []string{"client_id", "token_url"},
		GrantTypes: []string{GrantClientCredentials, GrantAuthorizationCode},
		Defaults: func(c *Config) {
			def(&c.AuthStyle, AuthStyleBody)
			if c.UsesAssertion() {
				def(&c.AssertionAudience, AudienceTokenURL)
			}
		},
		Validate: validateOAuth2,
		New: func(c Config, o Options) (Client, error) {
			return newRFCClient(c, o, oauth2Lifetime, nil, nil)
		},
	})
}

// validateOAuth2 checks the client authentication: a client_secret for
// body and basic, a usable private key for private_key_jwt, and the
// fields of one not set for the other.
func validateOAuth2(c Config) error {
	if !c.UsesAssertion() {
		for _, f := range []struct{ name, value string }{{"private_key", c.PrivateKey}, {"private_key_id", c.PrivateKeyID},
			{"assertion_audience", c.AssertionAudience}, {"issuer", c.Issuer}} {
			if f.value != "" {
				return &FieldError{Field: f.name, Msg: "applies only with auth_style=" + AuthStylePrivateKeyJWT +
					"; write auth_style=" + AuthStylePrivateKeyJWT + " with it, or leave it out"}
			}
		}
		if c.ClientSecret == "" {
			return &FieldError{Field: "client_secret", Msg: "required for provider oauth2 with auth_style=" + c.AuthStyle +
				" (or write auth_style=" + AuthStylePrivateKeyJWT + " with private_key or generate_key=true)"}
		}
		return nil
	}
	return validateAssertion(c)
}

func validateAssertion(c Config) error {
	switch {
	case c.ClientSecret != "":
		return &FieldError{Field: "client_secret", Msg: "does not apply with auth_style=" + AuthStylePrivateKeyJWT +
			": the client authenticates with its private key; leave client_secret out"}
	case c.PrivateKey == "":
		return &FieldError{Field: "private_key", Msg: "required with auth_style=" + AuthStylePrivateKeyJWT +
			": write a PEM RSA or EC private key, or generate_key=true to have Vault make one"}
	}
	if _, err := ParsePrivateKey(c.PrivateKey); err != nil {
		return &FieldError{Field: "private_key", Msg: err.Error()}
	}
	switch c.AssertionAudience {
	case AudienceTokenURL:
	case AudienceIssuer:
		if c.Issuer == "" {
			return &FieldError{Field: "issuer", Msg: "required with assertion_audience=issuer: the authorization server's " +
				"issuer identifier (its discovery document's issuer), which becomes the assertion's aud"}
		}
	default:
		return &FieldError{Field: "assertion_audience", Msg: fmt.Sprintf("must be %q (the default) or %q", AudienceTokenURL,
			AudienceIssuer)}
	}
	return nil
}
