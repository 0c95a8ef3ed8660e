package provider

import (
	"context"
	"time"
)

// Any RFC 6749 token endpoint, client credentials; RFC 7009 revocation when
// revocation_url is set. This lets operators cover another OAuth 2.0
// service without a new release of the plugin.
//
// oauth2Lifetime is assumed when the endpoint sends no expires_in: RFC 6749
// leaves the default to each server's documentation, which the plugin
// cannot read, so it errs short: a lease must not outlive its token.
const oauth2Lifetime = 5 * time.Minute

func init() {
	Register(&Spec{
		Name:       "oauth2",
		Fields:     []string{"client_id", "client_secret", "token_url", "authorize_url", "revocation_url", "auth_style"},
		Required:   []string{"client_id", "client_secret", "token_url"},
		GrantTypes: []string{GrantClientCredentials},
		Lifetime:   oauth2Lifetime,
		Defaults: func(c *Config) {
			def(&c.AuthStyle, AuthStyleBody)
		},
		New: func(c Config, o Options) (Client, error) {
			oc, err := newOAuthClient(c, o, oauth2Lifetime)
			if err != nil {
				return nil, err
			}
			g := &oauth2Client{oauthClient: oc}
			if c.RevocationURL != "" {
				return &revocableOAuth2Client{g}, nil
			}
			return g, nil
		},
	})
}

type oauth2Client struct{ *oauthClient }

// revocableOAuth2Client is an oauth2Client whose server revokes tokens:
// only then does a lease keep its token and call the server on revoke.
type revocableOAuth2Client struct{ *oauth2Client }

var (
	_ Client  = (*oauth2Client)(nil)
	_ Revoker = (*revocableOAuth2Client)(nil)
)

func (c *oauth2Client) Token(ctx context.Context, scopes []string) (*Token, error) {
	return c.clientCredentials(ctx, scopes)
}

// Verify fetches one token with the config's scopes, and revokes it where
// the server can.
func (c *oauth2Client) Verify(ctx context.Context) ([]string, error) {
	tok, err := c.clientCredentials(ctx, c.cfg.Scopes)
	if err != nil {
		return nil, err
	}
	if c.cfg.RevocationURL == "" {
		return nil, nil
	}
	if err := c.revokeToken(ctx, tok.AccessToken); err != nil {
		return nil, err
	}
	return nil, nil
}

func (c *revocableOAuth2Client) Revoke(ctx context.Context, accessToken string) error {
	return c.revokeToken(ctx, accessToken)
}
