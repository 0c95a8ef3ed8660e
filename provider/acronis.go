package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Acronis Cyber Platform CyberApp API clients: client credentials with HTTP
// Basic client authentication (raw, as Acronis' examples encode it), 2 h
// tokens whose expiry comes as expires_on (unix seconds), an id_token
// beside the access token, and revocation.
// Each CyberApp lives in one data center (base_url): it authenticates
// against and calls that data center only.
const (
	acronisTokenPath      = "/bc/idp/token"
	acronisRevocationPath = "/api/2/idp/revoke_token"
	acronisLifetime       = 2 * time.Hour
)

func init() {
	Register(&Spec{
		Name:       "acronis",
		Fields:     []string{"client_id", "client_secret", "base_url", "token_url", "revocation_url", "auth_style"},
		Required:   []string{"client_id", "client_secret", "base_url"},
		GrantTypes: []string{GrantClientCredentials},
		Defaults: func(c *Config) {
			base := strings.TrimSuffix(c.BaseURL, "/")
			def(&c.TokenURL, base+acronisTokenPath)
			def(&c.RevocationURL, base+acronisRevocationPath)
			def(&c.AuthStyle, AuthStyleBasic)
		},
		New: func(c Config, o Options) (Client, error) {
			oc, err := newOAuthClient(c, o, acronisLifetime)
			if err != nil {
				return nil, err
			}
			oc.hints = acronisHints
			// Acronis' own examples send Basic raw, and a public API
			// collection revokes with the token as Bearer: both, in
			// that order, since which one the server takes is unverified.
			oc.rawBasic, oc.bearerRevoke = true, true
			return &acronisClient{oauthClient: oc}, nil
		},
	})
}

func acronisHints(code string, status int) string {
	if code == "invalid_client" || status == http.StatusUnauthorized {
		return "client_id/client_secret rejected, or the API client is disabled; check it under Settings > API clients " +
			"in the data center the CyberApp is deployed in (base_url)"
	}
	return ""
}

type acronisClient struct{ *oauthClient }

var (
	_ Client  = (*acronisClient)(nil)
	_ Revoker = (*acronisClient)(nil)
)

func (c *acronisClient) Token(ctx context.Context, scopes []string) (*Token, error) {
	return c.clientCredentials(ctx, scopes)
}

// Revoke calls POST {base_url}/api/2/idp/revoke_token.
func (c *acronisClient) Revoke(ctx context.Context, accessToken string) error {
	return c.revokeToken(ctx, accessToken, "access_token")
}

// Verify fetches a token, proves the data center accepts it with
// GET /api/2/clients/{client_id}, and revokes it again, which proves
// revocation_url: a check leaves no token behind. A 404 from the client
// check is a warning, not a failure: the token endpoint took the
// credentials already, and some documents put the client API at
// {base_url}/clients/{client_id} instead.
func (c *acronisClient) Verify(ctx context.Context) ([]string, error) {
	tok, err := c.clientCredentials(ctx, c.cfg.Scopes)
	if err != nil {
		return nil, err
	}
	checkErr := c.checkClient(ctx, tok.AccessToken)
	warnings, err := verifyRevocation(c.revokeToken(ctx, tok.AccessToken, "access_token"), tok)
	if IsStatus(checkErr, http.StatusNotFound) {
		warnings = append([]string{"the client check GET " + c.clientURL() + " answered 404 (" + checkErr.Error() +
			"): the credentials are good, as the token endpoint issued a token, but this data center does not serve " +
			"the client API there, so the tenant was not checked; check that base_url is the data center the CyberApp " +
			"is deployed in"}, warnings...)
		checkErr = nil
	}
	if checkErr != nil {
		return nil, checkErr
	}
	return warnings, err
}

func (c *acronisClient) clientURL() string {
	return strings.TrimSuffix(c.cfg.BaseURL, "/") + "/api/2/clients/" + url.PathEscape(c.cfg.ClientID)
}

func (c *acronisClient) checkClient(ctx context.Context, token string) error {
	req, err := http.NewRequest(http.MethodGet, c.clientURL(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	secrets := append(c.cfg.Secrets(), token)
	status, body, err := c.call(ctx, "client check", req, secrets)
	if err != nil {
		return err
	}
	if status == http.StatusOK {
		var info struct {
			TenantID string `json:"tenant_id"`
		}
		if json.Unmarshal(body, &info) == nil && info.TenantID != "" {
			return nil
		}
		return &Error{Op: "client check", Host: req.URL.Host, Status: 200, Code: "malformed_response",
			Detail: "the answer names no tenant_id", Hint: "check base_url: it must be the data center's URL"}
	}
	e := answerError("client check", req.URL.Host, status, body, secrets)
	if status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound {
		e.Hint = "the data center refused a fresh token of this client; base_url must be the data center the CyberApp is deployed in"
	}
	return e
}

// expiresOn is the expiry Acronis states in its token answers: expires_on,
// in unix seconds (tokenExpiry weighs it against an expires_in).
func expiresOn(t *oauth2.Token) (time.Time, bool) {
	on := extraInt(t, "expires_on")
	if on <= 0 {
		return time.Time{}, false
	}
	return time.Unix(on, 0), true
}
