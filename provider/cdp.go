package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Acquia CDP (formerly AgilOne): an integration user's username and password
// (Basic) create long-lived tokens; a token extends and deletes itself
// (Bearer); Basic DELETE deletes every token of the user. The vendor's
// requests carry no body, only Content-Type: application/json.
const (
	CDPAuthURL = "https://auth.agilone.com"
	// CDPDefaultTokens is max_tokens' default: CDP allows 3 tokens per
	// user on PROD and UAT, and made one when it created the user.
	CDPDefaultTokens = 2
	// cdpLifetime is assumed when an answer has no expires_in: the
	// shortest documented lifetime (Customer Sandbox; 180 days on UAT and
	// PROD), so a lease never outlives its token.
	cdpLifetime  = 90 * 24 * time.Hour
	cdpTokenPath = "/token?scheme=a1user"
	cdpLogin     = "/authentication?action=login"
	cdpLogout    = "/authentication?action=logout"
	// CDPExpiryLayout is passwordExpiryDate's documented format: local
	// time, no zone. ParseCDPDate accepts the other ISO 8601 forms too.
	CDPExpiryLayout = "2006-01-02T15:04:05"
)

func init() {
	Register(&Spec{
		Name:       "cdp",
		Fields:     []string{"username", "password", "base_url", "api_url", "max_tokens", "token_limit_mode"},
		Required:   []string{"username", "password"},
		GrantTypes: []string{GrantClientCredentials},
		TokenLimit: true,
		Defaults: func(c *Config) {
			def(&c.BaseURL, CDPAuthURL)
			def(&c.TokenLimitMode, TokenLimitKeep)
			if c.MaxTokens == 0 {
				c.MaxTokens = CDPDefaultTokens
				if c.DisablesAll() {
					c.MaxTokens = 1
				}
			}
		},
		Validate: func(c Config) error {
			switch {
			case c.TokenLimitMode != TokenLimitKeep && c.TokenLimitMode != TokenLimitDisableAll:
				return &FieldError{Field: "token_limit_mode", Msg: fmt.Sprintf("%q is not keep or disable_all", c.TokenLimitMode)}
			case c.DisablesAll() && c.MaxTokens != 1:
				return &FieldError{Field: "max_tokens", Msg: fmt.Sprintf("must be 1 with token_limit_mode=disable_all (got %d): "+
					"on such a tenant each create disables every earlier token of the user", c.MaxTokens)}
			}
			return nil
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
	_ Retriever   = (*cdpClient)(nil)
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

// call makes one CDP call to path (with its query) on the auth host and
// returns the status and body. A non-2xx answer is an *Error, except for
// the statuses listed in ok.
func (c *cdpClient) call(ctx context.Context, op, method, path string, auth cdpAuth, token string, client *http.Client, ok ...int) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(withOperation(ctx, op), c.cfg.RequestTimeout)
	defer cancel()
	u := strings.TrimSuffix(c.cfg.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
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
	b := readAndClose(resp, 1<<20)
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
	_, body, err := c.call(ctx, "token create", http.MethodPost, cdpTokenPath+"&action=create", basicAuth, "", c.http.creating)
	if err != nil {
		return nil, err
	}
	return c.parse("token create", body, start)
}

// Retrieve asks CDP for the user's token (GET, Basic), which creates
// nothing. Which token it answers when the user holds several is
// undocumented (the newest, the oldest, the one CDP made with the user):
// callers prove a token is the one they look for by other means. nil when
// the answer holds none (404, 200 without a token, or a 401, which CDP may
// answer for a user without tokens).
func (c *cdpClient) Retrieve(ctx context.Context) (*Token, error) {
	status, body, err := c.call(ctx, "token retrieve", http.MethodGet, cdpTokenPath, basicAuth, "", c.http.retrying,
		http.StatusNotFound, http.StatusUnauthorized)
	if err != nil || status != http.StatusOK {
		return nil, err
	}
	tok, err := c.parse("token retrieve", body, c.opts.now())
	if err != nil {
		return nil, nil
	}
	return tok, nil
}

// Verify uses the retrieve call, which creates nothing. What it answers for
// a user without a token is undocumented: 404, or 200 without a token,
// prove the credentials; a 401 may mean either wrong credentials or no
// token, so the login call decides (see credentialsValid). A token in the
// answer is one the user already holds, which counts toward CDP's limit:
// the operator hears of it.
func (c *cdpClient) Verify(ctx context.Context) ([]string, error) {
	status, body, err := c.call(ctx, "credential check", http.MethodGet, cdpTokenPath, basicAuth, "", c.http.retrying,
		http.StatusNotFound, http.StatusUnauthorized)
	if err != nil || status == http.StatusNotFound {
		return nil, err
	}
	if status == http.StatusUnauthorized {
		return nil, c.credentialsValid(ctx)
	}
	tok, err := c.parse("credential check", body, c.opts.now())
	if err != nil {
		return nil, nil // 200 without a token: the user holds none
	}
	warnings := []string{fmt.Sprintf("CDP's retrieve call shows user %s already holds at least 1 live token (the newest expiring %s); "+
		"CDP counts every token of the user toward its limit (3 on PROD and UAT, 5 on Customer Sandbox) and disables "+
		"older tokens past it, on some tenants every earlier one: max_tokens (%d) plus the tokens held outside Vault "+
		"must stay within the limit", c.cfg.Username, tok.ExpiresAt.UTC().Format(time.RFC3339), c.cfg.MaxTokens)}
	return append(warnings, c.passwordWarnings(tok.Data["password_expiry_date"])...), nil
}

// credentialsValid tells wrong credentials from a user without tokens
// after a Basic call answered 401: the login call (Basic, no scheme, as
// the vendor sends it) creates no API token, and its session is ended at
// once. nil means the credentials are good; otherwise the error is the
// original 401, hinting at the credentials.
func (c *cdpClient) credentialsValid(ctx context.Context) error {
	_, login, err := c.call(ctx, "login", http.MethodPost, cdpLogin, basicAuth, "", c.http.retrying)
	if err != nil {
		if IsStatus(err, http.StatusUnauthorized) {
			return err
		}
		return fmt.Errorf("%w; the login call that tells wrong credentials from a user without tokens failed too", err)
	}
	var session struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(login, &session) == nil && session.AccessToken != "" {
		if _, _, err := c.call(ctx, "logout", http.MethodPost, cdpLogout, bearerAuth, session.AccessToken, c.http.retrying,
			http.StatusUnauthorized); err != nil {
			c.opts.logger().Warn("could not end the CDP login session of a credential check; it expires by itself", "error", err)
		}
	}
	return nil
}

// passwordWarnings are the password expiry warnings for date, logging a
// date that cannot be read instead of dropping the warning silently.
func (c *cdpClient) passwordWarnings(date string) []string {
	if _, ok := ParseCDPDate(date); !ok && date != "" {
		c.opts.logger().Warn("cannot read the CDP integration user's passwordExpiryDate; no expiry warning is given",
			"password_expiry_date", scrub(date, c.cfg.Secrets()))
	}
	return PasswordExpiryWarnings(date, c.opts.now())
}

// Renew extends the token upstream (action=extend, Bearer). The answer's
// token may be another one, replacing accessToken; a zero ExpiresAt means
// the answer did not say until when.
func (c *cdpClient) Renew(ctx context.Context, accessToken string) (*Token, error) {
	start := c.opts.now()
	_, body, err := c.call(ctx, "token extend", http.MethodPost, cdpTokenPath+"&action=extend", bearerAuth, accessToken, c.http.retrying)
	if err != nil {
		return nil, err
	}
	// The vendor shows extend answering with access_token, the token it
	// extended. A success without a body extended it to an expiry it does
	// not say: the token comes back with a zero ExpiresAt. One answering
	// another token replaced the token extended: the caller adopts it.
	if len(bytes.TrimSpace(body)) == 0 {
		return &Token{AccessToken: accessToken}, nil
	}
	return c.parse("token extend", body, start)
}

// Revoke deletes one token (Bearer). 401 and 404 mean it is already gone.
func (c *cdpClient) Revoke(ctx context.Context, accessToken string) error {
	_, _, err := c.call(ctx, "token delete", http.MethodDelete, cdpTokenPath, bearerAuth, accessToken, c.http.retrying,
		http.StatusUnauthorized, http.StatusNotFound)
	return err
}

// RevokeAll deletes every token of the user (Basic): the kill switch. A
// user without tokens is done already, whatever CDP answers for one (404,
// or a 401 that the login call shows is not about the credentials).
func (c *cdpClient) RevokeAll(ctx context.Context) error {
	status, _, err := c.call(ctx, "delete all tokens", http.MethodDelete, cdpTokenPath, basicAuth, "", c.http.retrying,
		http.StatusNotFound, http.StatusUnauthorized)
	if err == nil && status == http.StatusUnauthorized {
		err = c.credentialsValid(ctx)
	}
	return err
}

// PasswordExpiryWarningWindow is how far ahead of the integration user's
// password expiry operators are warned.
const PasswordExpiryWarningWindow = 14 * 24 * time.Hour

// cdpDateLayouts are the ISO 8601 forms passwordExpiryDate may take:
// local time (documented), with a zone, date only. Fractional seconds are
// accepted after the seconds by time.Parse itself.
var cdpDateLayouts = []string{CDPExpiryLayout, time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05Z07",
	"2006-01-02T15:04", "2006-01-02T15:04Z07:00", "2006-01-02 15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02"}

// ParseCDPDate reads a passwordExpiryDate; a time without a zone is taken
// as UTC.
func ParseCDPDate(date string) (time.Time, bool) {
	for _, layout := range cdpDateLayouts {
		if t, err := time.Parse(layout, date); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// PasswordExpiryWarnings warns when a CDP passwordExpiryDate is near or
// past. A date it cannot read gives no warning: callers log it.
func PasswordExpiryWarnings(date string, now time.Time) []string {
	if date == "" {
		return nil
	}
	t, ok := ParseCDPDate(date)
	if !ok {
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
