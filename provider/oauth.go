package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// oauthClient is the RFC 6749 client-credentials flow the cloud, source,
// acronis and oauth2 providers share; golang.org/x/oauth2 does the exchange.
type oauthClient struct {
	cfg      Config
	opts     Options
	http     *httpClients
	lifetime time.Duration // used when the answer carries no expiry
	// hints turns an upstream error code into advice for the operator.
	hints func(code string, status int) string
}

func newOAuthClient(c Config, o Options, lifetime time.Duration) (*oauthClient, error) {
	h, err := newHTTPClients(c, o)
	if err != nil {
		return nil, err
	}
	return &oauthClient{cfg: c, opts: o, http: h, lifetime: lifetime}, nil
}

func (c *oauthClient) host() string { return hostOf(c.cfg.TokenURL) }

func (c *oauthClient) authStyle() oauth2.AuthStyle {
	if c.cfg.AuthStyle == AuthStyleBasic {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}

// clientCredentials requests a new token with the given scopes.
func (c *oauthClient) clientCredentials(ctx context.Context, scopes []string) (*Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	cc := clientcredentials.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		TokenURL:     c.cfg.TokenURL,
		Scopes:       scopes,
		AuthStyle:    c.authStyle(),
	}
	// The token request creates nothing that needs cleaning up (the
	// upstream forgets unused tokens at expiry), so it may retry freely.
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http.retrying)
	start := c.opts.now()
	t, err := cc.Token(ctx)
	if err != nil {
		return nil, c.tokenError("token request", err)
	}
	return c.convert(t, scopes, start)
}

// convert maps an oauth2 token to ours. Expiry is counted from when the
// request was sent, so it is never later than the upstream's.
func (c *oauthClient) convert(t *oauth2.Token, requested []string, start time.Time) (*Token, error) {
	if !strings.EqualFold(t.TokenType, "bearer") && t.TokenType != "" {
		return nil, &Error{Op: "token request", Host: c.host(), Detail: "unsupported token_type " + strconv.Quote(t.TokenType),
			Hint: "the plugin hands out bearer tokens only"}
	}
	tok := &Token{AccessToken: t.AccessToken, TokenType: "Bearer", RefreshToken: t.RefreshToken}
	switch {
	case t.ExpiresIn > 0:
		tok.ExpiresAt = start.Add(time.Duration(t.ExpiresIn) * time.Second)
	case extraInt(t, "expires_on") > 0:
		tok.ExpiresAt = time.Unix(extraInt(t, "expires_on"), 0)
	default:
		tok.ExpiresAt = start.Add(c.lifetime)
	}
	if s, ok := t.Extra("scope").(string); ok && s != "" {
		tok.Scopes = SplitScopes(s)
	} else {
		tok.Scopes = append([]string(nil), requested...)
	}
	if id, ok := t.Extra("id_token").(string); ok && id != "" {
		tok.Data = map[string]string{"id_token": id}
	}
	return tok, nil
}

func extraInt(t *oauth2.Token, key string) int64 {
	switch v := t.Extra(key).(type) {
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return 0
}

// tokenError turns an oauth2 failure into an *Error without secrets.
func (c *oauthClient) tokenError(op string, err error) error {
	secrets := c.cfg.Secrets()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code, desc := re.ErrorCode, re.ErrorDescription
		if code == "" {
			code, desc = parseErrorBody(re.Body)
		}
		e := &Error{Op: op, Host: c.host(), Status: re.Response.StatusCode, Code: scrub(code, secrets),
			Detail: scrub(desc, secrets)}
		e.Retryable = e.Status == 429 || e.Status >= 500
		if c.hints != nil {
			e.Hint = c.hints(code, e.Status)
		}
		if e.Hint == "" {
			e.Hint = genericHint(code, e.Status, c.host())
		}
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return transportError(op, c.host(), err, c.cfg.RequestTimeout.String(), secrets)
	}
	// x/oauth2's own parse failures: a 2xx answer that is not a token.
	return &Error{Op: op, Host: c.host(), Status: 200, Code: "malformed_response",
		Detail: scrub(strings.TrimPrefix(err.Error(), "oauth2: "), secrets),
		Hint:   "the token endpoint answered with something that is not an OAuth 2.0 token; check token_url", Retryable: true}
}

func genericHint(code string, status int, host string) string {
	switch code {
	case "invalid_client":
		return "client_id/client_secret rejected by " + host + "; check them or write new ones to the config"
	case "invalid_scope":
		return "the client may not request these scopes; fix scopes on the role or config"
	case "unsupported_grant_type", "unauthorized_client":
		return "the client is not allowed this grant type upstream"
	case "invalid_grant":
		return "the grant was refused"
	}
	switch {
	case status == 429:
		return "rate limited by " + host + "; try again later"
	case status >= 500:
		return host + " is failing; Vault retries, or try again later"
	case status == 404 || status == 405:
		return "no token endpoint there; check token_url"
	}
	return ""
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the upstream"
	}
	return u.Host
}
