package provider

import (
	"context"
	"slices"
	"time"

	"golang.org/x/oauth2"
)

// The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636), and
// refresh (§6), for the providers whose servers offer it: source and
// oauth2, both through rfcClient.

var _ CodeGranter = (*rfcClient)(nil)

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
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	// OpenID Connect Core §11: a provider ignores offline_access, and
	// issues no refresh token, unless prompt holds consent.
	if slices.Contains(scopes, "offline_access") {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	return c.codeConfig(redirectURL, scopes).AuthCodeURL(state, opts...)
}

// codeContext bounds a code or refresh request (op, as its *Error names
// it) and gives it the client that retries only answers saying nothing
// happened (429, 503): a code is single-use and a refresh rotates, so a
// request that may have reached the server must not be sent twice.
func (c *rfcClient) codeContext(ctx context.Context, op string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(withOperation(ctx, op), c.cfg.RequestTimeout)
	return context.WithValue(ctx, oauth2.HTTPClient, c.http.creating), cancel
}

func (c *rfcClient) Exchange(ctx context.Context, code, verifier, redirectURL string) (*Token, error) {
	ctx, cancel := c.codeContext(ctx, "code exchange")
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
	ctx, cancel := c.codeContext(ctx, "token refresh")
	defer cancel()
	start := c.opts.now()
	t, err := c.codeConfig("", nil).TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, c.tokenError("token refresh", err, refreshToken)
	}
	return c.convertKeepingRefresh(t, start)
}
