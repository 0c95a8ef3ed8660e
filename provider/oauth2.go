package provider

import (
	"context"
	"errors"
	"time"

	"golang.org/x/oauth2"
)

// Any RFC 6749 token endpoint: client credentials, or a user's
// authorization (code + PKCE, then refresh tokens) when authorize_url is
// set; RFC 7009 revocation when revocation_url is set. This lets operators
// cover another OAuth 2.0 service without a new release of the plugin.
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
		GrantTypes: []string{GrantClientCredentials, GrantAuthorizationCode},
		Defaults: func(c *Config) {
			def(&c.AuthStyle, AuthStyleBody)
		},
		New: func(c Config, o Options) (Client, error) {
			return newRFCClient(c, o, oauth2Lifetime, nil)
		},
	})
}

// CodeGranter is a Client that can run the authorization code grant
// (RFC 6749 §4.1) with PKCE (RFC 7636), and refresh the tokens it yields.
type CodeGranter interface {
	// AuthCodeURL is where the user's browser goes to authorize; the PKCE
	// S256 challenge is derived from verifier.
	AuthCodeURL(state, verifier, redirectURL string, scopes []string) string
	// Exchange trades a code for tokens.
	Exchange(ctx context.Context, code, verifier, redirectURL string) (*Token, error)
	// Refresh uses a refresh token. Where the upstream rotates them the
	// answer carries the new one, and the old one is dead from then on.
	// Exchange and Refresh may return a Token holding only RefreshToken
	// together with an error: the upstream issued it, so keep it.
	Refresh(ctx context.Context, refreshToken string) (*Token, error)
}

// rfcClient is a plain RFC 6749 server: source and oauth2.
type rfcClient struct{ *oauthClient }

// revocableRFCClient is an rfcClient whose server revokes tokens: only then
// does a lease keep its token and call the server on revoke.
type revocableRFCClient struct{ *rfcClient }

var (
	_ Client         = (*rfcClient)(nil)
	_ CodeGranter    = (*rfcClient)(nil)
	_ Revoker        = (*revocableRFCClient)(nil)
	_ RefreshRevoker = (*revocableRFCClient)(nil)
)

func newRFCClient(c Config, o Options, lifetime time.Duration, hints func(string, int) string) (Client, error) {
	oc, err := newOAuthClient(c, o, lifetime)
	if err != nil {
		return nil, err
	}
	oc.hints = hints
	rc := &rfcClient{oc}
	if c.RevocationURL != "" {
		return &revocableRFCClient{rc}, nil
	}
	return rc, nil
}

func (c *rfcClient) Token(ctx context.Context, scopes []string) (*Token, error) {
	return c.clientCredentials(ctx, scopes)
}

// Verify fetches one token with the config's scopes, and revokes it where
// the server can. A client the server lets use only the authorization
// code grant cannot be proven without a user; that is a warning.
func (c *rfcClient) Verify(ctx context.Context) ([]string, error) {
	tok, err := c.clientCredentials(ctx, c.cfg.Scopes)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && (e.Code == "unauthorized_client" || e.Code == "unsupported_grant_type") {
			return []string{"the credentials could not be checked: the client may not use client_credentials " +
				"(" + e.Code + "); authorization_code roles prove them at their first authorize/callback"}, nil
		}
		return nil, err
	}
	if c.cfg.RevocationURL == "" {
		return nil, nil
	}
	if err := c.revokeToken(ctx, tok.AccessToken, "access_token"); err != nil {
		// The credentials are proven; the token expires by itself.
		return []string{"the verification token could not be revoked (" + err.Error() + "); check revocation_url"}, nil
	}
	return nil, nil
}

func (c *revocableRFCClient) Revoke(ctx context.Context, accessToken string) error {
	return c.revokeToken(ctx, accessToken, "access_token")
}

func (c *revocableRFCClient) RevokeRefresh(ctx context.Context, refreshToken string) error {
	return c.revokeToken(ctx, refreshToken, "refresh_token")
}

func (c *rfcClient) codeConfig(redirectURL string, scopes []string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: c.cfg.AuthorizeURL, TokenURL: c.cfg.TokenURL, AuthStyle: c.authStyle()},
		RedirectURL:  redirectURL,
		Scopes:       scopes,
	}
}

func (c *rfcClient) AuthCodeURL(state, verifier, redirectURL string, scopes []string) string {
	return c.codeConfig(redirectURL, scopes).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
}

// codeContext bounds a code or refresh request and gives it the client
// that retries only answers saying nothing happened (429, 503): a code is
// single-use and a refresh rotates, so a request that may have reached the
// server must not be sent twice.
func (c *rfcClient) codeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	return context.WithValue(ctx, oauth2.HTTPClient, c.http.creating), cancel
}

func (c *rfcClient) Exchange(ctx context.Context, code, verifier, redirectURL string) (*Token, error) {
	ctx, cancel := c.codeContext(ctx)
	defer cancel()
	start := c.opts.now()
	t, err := c.codeConfig(redirectURL, nil).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, c.tokenError("code exchange", err, code, verifier)
	}
	return c.convertKeepingRefresh(t, start)
}

// convertKeepingRefresh converts a code or refresh answer. When the access
// token is unusable the refresh token may still be new, and the old one
// dead upstream: it comes back with the error so the caller can keep it.
func (c *rfcClient) convertKeepingRefresh(t *oauth2.Token, start time.Time) (*Token, error) {
	tok, err := c.convert(t, nil, start)
	if err != nil {
		return &Token{RefreshToken: t.RefreshToken}, err
	}
	return tok, nil
}

func (c *rfcClient) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	ctx, cancel := c.codeContext(ctx)
	defer cancel()
	start := c.opts.now()
	t, err := c.codeConfig("", nil).TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, c.tokenError("token refresh", err, refreshToken)
	}
	return c.convertKeepingRefresh(t, start)
}
