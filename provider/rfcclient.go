package provider

import (
	"context"
	"errors"
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

// rfcClient talks to a plain RFC 6749 server; the source and oauth2
// providers share it. Client credentials and verification are here, the
// authorization code grant and refresh in codegrant.go.
type rfcClient struct{ *oauthClient }

// revocableRFCClient is an rfcClient whose server revokes tokens: only then
// does a lease keep its token and call the server on revoke.
type revocableRFCClient struct{ *rfcClient }

var (
	_ Client         = (*rfcClient)(nil)
	_ Revoker        = (*revocableRFCClient)(nil)
	_ RefreshRevoker = (*revocableRFCClient)(nil)
)

func newRFCClient(c Config, o Options, lifetime time.Duration, hints func(string, int) string,
	refine func(string, *Error)) (Client, error) {
	oc, err := newOAuthClient(c, o, lifetime)
	if err != nil {
		return nil, err
	}
	oc.hints, oc.refine = hints, refine
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
// the server can, which proves revocation_url too: a refusal there fails
// verify. A client the server lets use only the authorization code grant
// cannot be proven without a user; that is a warning.
func (c *rfcClient) Verify(ctx context.Context) ([]string, error) {
	tok, err := c.clientCredentials(ctx, c.cfg.Scopes)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && (e.Code == "unauthorized_client" || e.Code == "unsupported_grant_type") {
			return []string{"the credentials could not be checked: the client may not use client_credentials " +
				"(" + e.Code + "); authorization_code roles prove them at their first authorize/callback"}, nil
		}
		// league/oauth2-server answers invalid_client for a grant the
		// client may not use, as for a wrong secret, and simple_oauth a
		// 500 for a consumer without a default user: a refresh with a
		// token that does not exist tells them apart, since the server
		// authenticates the client first.
		// oidc-provider answers invalid_request, not unauthorized_client,
		// for a grant the client may not use: with an authorize_url (or a
		// device_authorization_url) the config may be meant for
		// authorization_code roles only: the probe
		// proves the credentials, and the warning names the refusal.
		if errors.As(err, &e) && (e.Code == "invalid_client" || e.Code == "server_error" ||
			(e.Code == "invalid_request" && (c.cfg.AuthorizeURL != "" || c.cfg.DeviceAuthorizationURL != ""))) {
			probe := c.clientAuthenticates(ctx)
			if probe == nil {
				return []string{"client_credentials roles of this config will fail: the token endpoint refused the grant (HTTP " +
					strconv.Itoa(e.Status) + " " + e.Code + "; " + e.Hint + "); the client_id and client_secret are good, " +
					"so authorization_code roles work"}, nil
			}
			if e.Code == "server_error" && HasCode(probe, "invalid_client") {
				e.Hint += "; the client was refused for the refresh grant too: check client_secret"
			}
		}
		return nil, err
	}
	if c.cfg.RevocationURL == "" {
		return nil, nil
	}
	return verifyRevocation(c.revokeToken(ctx, tok.AccessToken, "access_token"), tok)
}

// verifyRevocation judges the revocation of verify's own token: a refusal
// (a wrong or disabled revocation_url, credentials it does not take) fails
// verify, since every lease revoke would fail the same way; a server that
// does not revoke access tokens, or fails for now, is a warning.
func verifyRevocation(err error, tok *Token) ([]string, error) {
	expires := tok.ExpiresAt.UTC().Format(time.RFC3339)
	switch {
	case err == nil:
		return nil, nil
	case NotRevocable(err):
		return []string{"the revocation endpoint does not revoke access tokens (unsupported_token_type): " +
			"lease revokes succeed and each token stays valid until it expires; the verification token expires at " + expires}, nil
	case IsRefusal(err):
		return nil, err
	}
	return []string{"the verification token could not be revoked (" + err.Error() + "); it expires by itself at " + expires}, nil
}

// clientAuthenticates checks that the token endpoint accepts the client's
// credentials for the refresh grant: a refresh token that does not exist
// is invalid_grant once the client is authenticated. nil means it does;
// otherwise the error is the answer.
func (c *rfcClient) clientAuthenticates(ctx context.Context) error {
	ctx, cancel := c.codeContext(ctx, "token refresh")
	defer cancel()
	_, err := c.codeConfig("", nil).TokenSource(ctx, &oauth2.Token{RefreshToken: "vault-credential-check"}).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
		return nil
	}
	if err == nil {
		return errors.New("the server issued a token for a refresh token that does not exist")
	}
	return c.tokenError("token refresh", err)
}

func (c *revocableRFCClient) Revoke(ctx context.Context, accessToken string) error {
	return c.revokeToken(ctx, accessToken, "access_token")
}

func (c *revocableRFCClient) RevokeRefresh(ctx context.Context, refreshToken string) error {
	return c.revokeToken(ctx, refreshToken, "refresh_token")
}
