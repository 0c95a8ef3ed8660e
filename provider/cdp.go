package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Acquia CDP (formerly AgilOne): an integration user's username and password
// (Basic) create long-lived tokens; a token extends and deletes itself
// (Bearer); Basic DELETE deletes every token of the user.
const (
	CDPAuthURL       = "https://auth.agilone.com"
	CDPDefaultTokens = 3
	cdpLifetime      = 180 * 24 * time.Hour
	cdpScheme        = "scheme=a1user"
	// CDPExpiryLayout is passwordExpiryDate's format: local time, no zone.
	CDPExpiryLayout = "2006-01-02T15:04:05"
)

func init() {
	Register(&Spec{
		Name:       "cdp",
		Fields:     []string{"username", "password", "base_url", "api_url", "max_tokens"},
		Required:   []string{"username", "password"},
		GrantTypes: []string{GrantClientCredentials},
		TokenLimit: true,
		Defaults: func(c *Config) {
			def(&c.BaseURL, CDPAuthURL)
			if c.MaxTokens == 0 {
				c.MaxTokens = CDPDefaultTokens
			}
		},
		ValidateScopes: func(scopes []string) error {
			return fmt.Errorf("CDP tokens take no scopes")
		},
		New: func(c Config, o Options) (Client, error) {
			h, err := newHTTPClients(c, o)
			if err != nil {
				return nil, err
			}
			return &cdpClient{cfg: c, opts: o, http: h}, nil
		},
	})
}

type cdpClient struct {
	cfg  Config
	opts Options
	http *httpClients
}

var (
	_ Client      = (*cdpClient)(nil)
	_ Revoker     = (*cdpClient)(nil)
	_ Renewer     = (*cdpClient)(nil)
	_ UserRevoker = (*cdpClient)(nil)
)

// cdpToken is the token answer; only access_token is confirmed by more than
// one source, the rest is passed through when present.
type cdpToken struct {
	AccessToken        string          `json:"access_token"`
	TokenType          string          `json:"token_type"`
	ExpiresIn          json.Number     `json:"expires_in"`
	TenantID           json.RawMessage `json:"tenantId"`
	Username           string          `json:"username"`
	UserType           string          `json:"userType"`
	PasswordExpiryDate string          `json:"passwordExpiryDate"`
}

type cdpAuth int

const (
	basicAuth cdpAuth = iota
	bearerAuth
)

// call makes one CDP call and returns the status and body. A non-2xx answer
// is an *Error, except for the statuses listed in ok.
func (c *cdpClient) call(ctx context.Context, op, method, query string, auth cdpAuth, token string, client *http.Client, ok ...int) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	u := strings.TrimSuffix(c.cfg.BaseURL, "/") + "/token?" + cdpScheme + query
	var body io.Reader
	if method != http.MethodGet {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if auth == basicAuth {
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	} else {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	secrets := append(c.cfg.Secrets(), token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, transportError(op, hostOf(u), err, c.cfg.RequestTimeout.String(), secrets)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, b, nil
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp.StatusCode, b, nil
		}
	}
	e := answerError(op, hostOf(u), resp.StatusCode, b, secrets)
	switch {
	case resp.StatusCode == http.StatusUnauthorized && auth == basicAuth:
		e.Hint = "username/password rejected by " + e.Host + "; check the integration user, or whether its password expired"
	case resp.StatusCode == http.StatusUnauthorized:
		e.Hint = "the token is no longer valid upstream"
	case e.Retryable:
		e.Hint = e.Host + " is failing; try again later"
	}
	return resp.StatusCode, b, e
}

func (c *cdpClient) parse(op string, body []byte, start time.Time) (*Token, error) {
	var t cdpToken
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&t); err != nil || t.AccessToken == "" {
		return nil, &Error{Op: op, Host: hostOf(c.cfg.BaseURL), Status: 200, Code: "malformed_response",
			Detail: "the answer holds no access_token", Hint: "check base_url: it must be the Authentication Host URL", Retryable: true}
	}
	tok := &Token{AccessToken: t.AccessToken, Data: map[string]string{}}
	if n, err := t.ExpiresIn.Int64(); err == nil && n > 0 {
		tok.ExpiresAt = expiresAfter(start, n)
	} else {
		tok.ExpiresAt = start.Add(cdpLifetime)
	}
	tenant := strings.Trim(string(t.TenantID), `"`)
	for k, v := range map[string]string{"tenant_id": tenant, "username": t.Username, "user_type": t.UserType,
		"password_expiry_date": t.PasswordExpiryDate} {
		if v != "" && v != "null" {
			tok.Data[k] = v
		}
	}
	return tok, nil
}

// Token creates a new upstream token (action=create, Basic). It is not
// retried after a transport error: the create may have happened.
func (c *cdpClient) Token(ctx context.Context, _ []string) (*Token, error) {
	start := c.opts.now()
	_, body, err := c.call(ctx, "token create", http.MethodPost, "&action=create", basicAuth, "", c.http.creating)
	if err != nil {
		return nil, err
	}
	return c.parse("token create", body, start)
}

// Verify uses the retrieve call, which creates nothing: 200 and 404 (the
// user holds no token) both prove the credentials.
func (c *cdpClient) Verify(ctx context.Context) ([]string, error) {
	status, body, err := c.call(ctx, "credential check", http.MethodGet, "", basicAuth, "", c.http.retrying, http.StatusNotFound)
	if err != nil || status == http.StatusNotFound {
		return nil, err
	}
	if tok, err := c.parse("credential check", body, c.opts.now()); err == nil {
		return PasswordExpiryWarnings(tok.Data["password_expiry_date"], c.opts.now()), nil
	}
	return nil, nil
}

// Renew extends the token upstream (action=extend, Bearer).
func (c *cdpClient) Renew(ctx context.Context, accessToken string) (*Token, error) {
	start := c.opts.now()
	_, body, err := c.call(ctx, "token extend", http.MethodPost, "&action=extend", bearerAuth, accessToken, c.http.retrying)
	if err != nil {
		return nil, err
	}
	tok, err := c.parse("token extend", body, start)
	if err != nil {
		return nil, err
	}
	// Some answers may not repeat the token; it is the same token.
	tok.AccessToken = accessToken
	return tok, nil
}

// Revoke deletes one token (Bearer). 401 and 404 mean it is already gone.
func (c *cdpClient) Revoke(ctx context.Context, accessToken string) error {
	_, _, err := c.call(ctx, "token delete", http.MethodDelete, "", bearerAuth, accessToken, c.http.retrying,
		http.StatusUnauthorized, http.StatusNotFound)
	return err
}

// RevokeAll deletes every token of the user (Basic): the kill switch.
func (c *cdpClient) RevokeAll(ctx context.Context) error {
	_, _, err := c.call(ctx, "delete all tokens", http.MethodDelete, "", basicAuth, "", c.http.retrying)
	return err
}

// PasswordExpiryWarningWindow is how far ahead of the integration user's
// password expiry operators are warned.
const PasswordExpiryWarningWindow = 14 * 24 * time.Hour

// PasswordExpiryWarnings warns when a CDP passwordExpiryDate is near or past.
func PasswordExpiryWarnings(date string, now time.Time) []string {
	if date == "" {
		return nil
	}
	t, err := time.Parse(CDPExpiryLayout, date)
	if err != nil {
		return nil
	}
	left := t.Sub(now)
	switch {
	case left <= 0:
		return []string{fmt.Sprintf("the CDP integration user's password expired on %s; set a new one in CDP and write it to the config", date)}
	case left <= PasswordExpiryWarningWindow:
		return []string{fmt.Sprintf("the CDP integration user's password expires on %s (in %d days); set a new one in CDP and write it to the config",
			date, int(left.Hours()/24)+1)}
	}
	return nil
}
