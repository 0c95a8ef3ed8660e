package provider

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Acquia Cloud Platform API v2: OAuth 2.0 client credentials with the
// credentials in the form body (secrets hold + / = and the server does not
// url-decode Basic credentials), 300 s tokens, no revocation.
const (
	CloudTokenURL = "https://accounts.acquia.com/api/auth/oauth/token"
	CloudAPIURL   = "https://cloud.acquia.com/api"
	cloudLifetime = 300 * time.Second
)

func init() {
	Register(&Spec{
		Name:       "cloud",
		Fields:     []string{"client_id", "client_secret", "api_url", "token_url", "auth_style", "key_uuid"},
		Required:   []string{"client_id", "client_secret"},
		GrantTypes: []string{GrantClientCredentials},
		Defaults: func(c *Config) {
			def(&c.TokenURL, CloudTokenURL)
			def(&c.APIURL, CloudAPIURL)
			def(&c.AuthStyle, AuthStyleBody)
		},
		ValidateScopes: validateCloudScopes,
		Validate:       validateCloud,
		New: func(c Config, o Options) (Client, error) {
			oc, err := newOAuthClient(c, o, cloudLifetime)
			if err != nil {
				return nil, err
			}
			oc.hints = cloudHints
			return &cloudClient{oauthClient: oc}, nil
		},
	})
}

func validateCloudScopes(scopes []string) error {
	for _, s := range scopes {
		org, ok := strings.CutPrefix(s, "organization:")
		if !ok || !IsUUID(org) {
			return fmt.Errorf("%q is not a Cloud scope: use organization:<uuid>, the uuid of a federated organization", s)
		}
	}
	if len(scopes) > 1 {
		return fmt.Errorf("a Cloud token is scoped to one organization; give one organization:<uuid>")
	}
	return nil
}

func cloudHints(code string, status int) string {
	switch code {
	case "invalid_scope":
		return "the API key may not request this organization; the uuid must be an organization its user belongs to"
	case "additional_authentication_required":
		return "the organization uses federated authentication: set scopes=organization:<uuid> on the role or config"
	}
	return ""
}

type cloudClient struct{ *oauthClient }

var _ Client = (*cloudClient)(nil)

func (c *cloudClient) Token(ctx context.Context, scopes []string) (*Token, error) {
	return c.clientCredentials(ctx, scopes)
}

// Verify fetches a token and calls GET {api_url}/account with it, which
// proves both the key and that the API accepts its tokens.
func (c *cloudClient) Verify(ctx context.Context) ([]string, error) {
	tok, err := c.clientCredentials(ctx, c.cfg.Scopes)
	if err != nil {
		return nil, err
	}
	apiURL := strings.TrimSuffix(c.cfg.APIURL, "/") + "/account"
	req, err := http.NewRequest(http.MethodGet, apiURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	secrets := append(c.cfg.Secrets(), tok.AccessToken)
	status, body, err := c.call(ctx, "account check", req, secrets)
	if err != nil || status == http.StatusOK {
		return nil, err
	}
	e := answerError("account check", req.URL.Host, status, body, secrets)
	if e.Code == "additional_authentication_required" {
		// Roles may each carry the organization scope; the key itself is fine.
		return []string{"the Cloud API asks for additional authentication (federated organization): " +
			"roles of this config need scopes=organization:<uuid>"}, nil
	}
	if status == http.StatusUnauthorized || status == http.StatusNotFound {
		e.Hint = "the token endpoint and api_url may belong to different services; check api_url"
	}
	return nil, e
}
