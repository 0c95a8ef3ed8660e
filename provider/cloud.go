package provider

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
		Name: "cloud",
		Fields: []string{"client_id", "client_secret", "api_url", "token_url", "auth_style", "key_uuid",
			// Vault's automated rotation of the key (rotate-root).
			"rotation_period", "rotation_schedule", "rotation_window", "disable_automated_rotation", "rotation_policy"},
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

var (
	_ Client     = (*cloudClient)(nil)
	_ KeyRotator = (*cloudClient)(nil)
)

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

// keyUIHint says where an operator deletes a key by hand.
const keyUIHint = "the Cloud Platform UI, Account settings > API Tokens"

func (c *cloudClient) keysURL() string {
	return strings.TrimSuffix(c.cfg.APIURL, "/") + "/account/tokens"
}

// apiCall sends one Cloud API request with a fresh access token of the key
// (Cloud tokens are not kept: they live 300 s and cost one request), on
// hc, and returns the status, the body and what to scrub from errors.
func (c *cloudClient) apiCall(ctx context.Context, hc *http.Client, op, method, u string, body []byte) (int, []byte, []string, error) {
	tok, err := c.clientCredentials(ctx, c.cfg.Scopes)
	if err != nil {
		return 0, nil, nil, err
	}
	secrets := append(c.cfg.Secrets(), tok.AccessToken)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return 0, nil, secrets, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	a, err := c.send(ctx, hc, op, req, secrets)
	status, raw := a.status, a.body
	return status, raw, secrets, err
}

// keyAPIError is a refusing answer of the key API, with advice.
func (c *cloudClient) keyAPIError(op, host string, status int, body []byte, secrets []string) *Error {
	e := answerError(op, host, status, body, secrets)
	switch {
	case e.Code == "additional_authentication_required":
		e.Hint = "the organization uses federated authentication: set scopes=organization:<uuid> on the config"
	case status == http.StatusUnauthorized:
		e.Hint = "the Cloud API refused a token of this key; the token endpoint and api_url may belong to different services: check api_url"
	case status == http.StatusForbidden:
		e.Hint = "the key's user may not manage API tokens; rotate it by hand in " + keyUIHint
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		e.Hint = "no API token endpoint there; check api_url"
	default:
		e.Hint = genericHint(e.Code, status, host)
	}
	return e
}

// CreateKey calls POST {api_url}/account/tokens. The answer carries the
// key's credentials (client_id/client_secret, or their deprecated twins
// api_key/api_secret) and no uuid. The request is not retried after a
// transport error, since the key may have been made.
func (c *cloudClient) CreateKey(ctx context.Context, label string) (*APIKey, error) {
	const op = "key create"
	body, err := json.Marshal(map[string]string{"label": label})
	if err != nil {
		return nil, err
	}
	u := c.keysURL()
	status, raw, secrets, err := c.apiCall(ctx, c.http.creating, op, http.MethodPost, u, body)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) && pe.Op == op && pe.Status == 0 {
			pe.Hint = fmt.Sprintf("the key may have been created without an answer: it is labelled %q", label)
		}
		return nil, err
	}
	if status/100 != 2 {
		return nil, c.keyAPIError(op, hostOf(u), status, raw, secrets)
	}
	var out struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		APIKey       string `json:"api_key"`
		APISecret    string `json:"api_secret"`
	}
	_ = json.Unmarshal(raw, &out)
	key := &APIKey{ClientID: cmp.Or(out.ClientID, out.APIKey), ClientSecret: cmp.Or(out.ClientSecret, out.APISecret), Label: label, Active: true}
	if key.ClientID == "" || key.ClientSecret == "" {
		return nil, &Error{Op: op, Host: hostOf(u), Status: status, Code: "malformed_response",
			Detail: "the answer lacks client_id and client_secret (or api_key and api_secret)",
			Hint:   fmt.Sprintf("a key labelled %q may have been created; check api_url", label)}
	}
	return key, nil
}

// keyItem is a key as GET /account/tokens shows it.
type keyItem struct {
	UUID   string `json:"uuid"`
	Label  string `json:"label"`
	Active *bool  `json:"active"`
	Flags  struct {
		Active *bool `json:"active"`
	} `json:"flags"`
}

func (k keyItem) key() APIKey {
	// A key is live unless the answer says otherwise.
	active := true
	switch {
	case k.Active != nil:
		active = *k.Active
	case k.Flags.Active != nil:
		active = *k.Flags.Active
	}
	return APIKey{UUID: k.UUID, Label: k.Label, Active: active}
}

// GetKey calls GET {api_url}/account/tokens/{uuid}; a 404 in the Cloud
// API's error shape is nil, nil.
func (c *cloudClient) GetKey(ctx context.Context, uuid string) (*APIKey, error) {
	const op = "key read"
	if !IsUUID(uuid) {
		return nil, fmt.Errorf("%q is not an API key uuid", uuid)
	}
	u := c.keysURL() + "/" + uuid
	status, raw, secrets, err := c.apiCall(ctx, c.http.retrying, op, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		e := c.keyAPIError(op, hostOf(u), status, raw, secrets)
		if status == http.StatusNotFound && e.Code != "" {
			return nil, nil
		}
		return nil, e
	}
	var item keyItem
	if err := json.Unmarshal(raw, &item); err != nil || item.UUID == "" {
		return nil, &Error{Op: op, Host: hostOf(u), Status: status, Code: "malformed_response",
			Detail: "the answer is not an API token with a uuid", Hint: "check api_url"}
	}
	k := item.key()
	return &k, nil
}

// ListKeys calls GET {api_url}/account/tokens.
func (c *cloudClient) ListKeys(ctx context.Context) ([]APIKey, error) {
	const op = "key list"
	u := c.keysURL()
	status, raw, secrets, err := c.apiCall(ctx, c.http.retrying, op, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		return nil, c.keyAPIError(op, hostOf(u), status, raw, secrets)
	}
	var out struct {
		Embedded *struct {
			Items []keyItem `json:"items"`
		} `json:"_embedded"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Embedded == nil {
		return nil, &Error{Op: op, Host: hostOf(u), Status: status, Code: "malformed_response",
			Detail: "the answer has no _embedded.items", Hint: "check api_url"}
	}
	keys := make([]APIKey, 0, len(out.Embedded.Items))
	for _, it := range out.Embedded.Items {
		if it.UUID != "" {
			keys = append(keys, it.key())
		}
	}
	return keys, nil
}

// DeleteKey calls DELETE {api_url}/account/tokens/{uuid}. A 404 or 409 in
// the Cloud API's error shape means the key is gone already; one without
// it is some other server, and an error.
func (c *cloudClient) DeleteKey(ctx context.Context, uuid string) error {
	const op = "key delete"
	if !IsUUID(uuid) {
		return fmt.Errorf("%q is not an API key uuid", uuid)
	}
	u := c.keysURL() + "/" + uuid
	status, raw, secrets, err := c.apiCall(ctx, c.http.retrying, op, http.MethodDelete, u, nil)
	if err != nil || status/100 == 2 {
		return err
	}
	e := c.keyAPIError(op, hostOf(u), status, raw, secrets)
	if (status == http.StatusNotFound || status == http.StatusConflict) && e.Code != "" {
		return nil
	}
	return e
}
