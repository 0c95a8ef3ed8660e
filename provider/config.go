package provider

import (
	"net"
	"regexp"
	"strings"
	"time"
)

// Config is one upstream account, as the operator wrote it. Empty fields take
// the provider's defaults (see Spec.Defaults); they are stored empty so that
// a changed default, or a changed base_url, flows into derived URLs.
type Config struct {
	Provider      string `json:"provider"`
	ClientID      string `json:"client_id,omitempty"`
	ClientSecret  string `json:"client_secret,omitempty"`
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	BaseURL       string `json:"base_url,omitempty"`
	APIURL        string `json:"api_url,omitempty"`
	TokenURL      string `json:"token_url,omitempty"`
	AuthorizeURL  string `json:"authorize_url,omitempty"`
	RevocationURL string `json:"revocation_url,omitempty"`
	AuthStyle     string `json:"auth_style,omitempty"`
	// PrivateKey (PEM), PrivateKeyID (the JWK kid; default the key's
	// thumbprint), AssertionAudience and Issuer serve
	// auth_style=private_key_jwt (assertion.go).
	PrivateKey        string   `json:"private_key,omitempty"`
	PrivateKeyID      string   `json:"private_key_id,omitempty"`
	AssertionAudience string   `json:"assertion_audience,omitempty"`
	Issuer            string   `json:"issuer,omitempty"`
	Scopes            []string `json:"scopes,omitempty"`
	MaxTokens         int      `json:"max_tokens,omitempty"`
	// TokenLimitMode is what a cdp tenant does past its token limit
	// (TokenLimitKeep, TokenLimitDisableAll).
	TokenLimitMode string `json:"token_limit_mode,omitempty"`
	// RevokeUserAccessTokens lets the plugin revoke access tokens minted
	// from a user's authorization; see paths' config field of that name.
	RevokeUserAccessTokens bool          `json:"revoke_user_access_tokens,omitempty"`
	KeyUUID                string        `json:"key_uuid,omitempty"`
	RequestTimeout         time.Duration `json:"request_timeout,omitempty"`
	CACert                 string        `json:"ca_cert,omitempty"`
	// DeviceAuthorizationURL is the RFC 8628 device authorization
	// endpoint (oauth2), for authorize/<role> flow=device.
	DeviceAuthorizationURL string `json:"device_authorization_url,omitempty"`
}

// Token limit modes of a cdp tenant: keep disables only tokens past the
// user's limit; disable_all disables every earlier token on each create.
const (
	TokenLimitKeep       = "keep"
	TokenLimitDisableAll = "disable_all"
)

// DisablesAll reports whether each create disables every earlier token of
// the account (a cdp tenant with token_limit_mode=disable_all).
func (c *Config) DisablesAll() bool { return c.TokenLimitMode == TokenLimitDisableAll }

// Secrets lists the values that must never reach a log line, an error or a
// response. Error messages built from upstream answers are scrubbed of them.
func (c *Config) Secrets() []string {
	return nonEmpty(c.ClientSecret, c.Password, c.PrivateKey)
}

// DefaultRequestTimeout bounds a whole upstream call, retries included. The
// Acquia Cloud docs warn that a 10 s client timeout is too short.
const DefaultRequestTimeout = 25 * time.Second

// Auth styles: where client credentials go on a token request.
const (
	AuthStyleBody  = "body"
	AuthStyleBasic = "basic"
)

// def gives an empty field a provider default, in each Spec.Defaults.
func def(field *string, v string) {
	if *field == "" {
		*field = v
	}
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsUUID reports whether s is a canonical UUID.
func IsUUID(s string) bool { return uuidRe.MatchString(s) }

// IsLoopback reports whether host, a URL's host without port, is
// "localhost" or a literal loopback IP. Other names are not resolved: what
// they resolve to can change between the check and the call.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func nonEmpty(vals ...string) []string {
	out := vals[:0:0]
	for _, v := range vals {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// SplitScopes parses a space- or comma-delimited scope string.
func SplitScopes(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	if len(f) == 0 {
		return nil
	}
	return f
}
