// Package provider holds one small client per upstream token service behind
// one interface, and a registry of them. It knows nothing of Vault: the paths
// package turns Vault requests into these calls.
package provider

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Grant types a role may use.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
)

// Token is an upstream access token and what is known about it.
type Token struct {
	AccessToken  string
	ExpiresAt    time.Time
	Scopes       []string
	RefreshToken string
	// Data holds provider-specific response fields returned to the reader
	// (tenant_id, id_token, ...), keyed by the names creds returns them under.
	Data map[string]string
}

// Client talks to one upstream account.
type Client interface {
	// Token obtains a new access token with the given scopes (none means
	// the upstream default).
	Token(ctx context.Context, scopes []string) (*Token, error)
	// Verify proves the credentials without leaving anything behind
	// upstream. Warnings are facts the operator should know but that do
	// not make the credentials wrong.
	Verify(ctx context.Context) (warnings []string, err error)
}

// Revoker is a Client whose upstream can revoke one access token. Revoking a
// token the upstream no longer knows is success.
type Revoker interface {
	Revoke(ctx context.Context, accessToken string) error
}

// RefreshRevoker is a Revoker that can also revoke a refresh token.
type RefreshRevoker interface {
	RevokeRefresh(ctx context.Context, refreshToken string) error
}

// Renewer is a Client whose upstream can extend one access token.
type Renewer interface {
	Renew(ctx context.Context, accessToken string) (*Token, error)
}

// Retriever is a Client whose upstream answers, with the account's
// credentials, one of the tokens the account holds (CDP's retrieve call):
// the only way to find a token whose create answer was lost.
type Retriever interface {
	Retrieve(ctx context.Context) (*Token, error)
}

// UserRevoker is a Client whose upstream can delete every token of the
// account at once.
type UserRevoker interface {
	RevokeAll(ctx context.Context) error
}

// KeyRotator is a Client whose upstream lets its credentials create and
// delete API keys of the same user (Acquia Cloud), so the plugin can
// rotate its own key.
type KeyRotator interface {
	// CreateKey creates an API key labelled label, authenticating with a
	// fresh access token from the client's credentials. It is sent once:
	// a create that got no answer may have made a key. The answer holds
	// no uuid (the spec's self link names the collection): the key's
	// uuid is learnt with GetKey or ListKeys, by its label.
	CreateKey(ctx context.Context, label string) (*APIKey, error)
	// GetKey reads the API key uuid; nil, nil when the upstream does not
	// know it.
	GetKey(ctx context.Context, uuid string) (*APIKey, error)
	// ListKeys lists the user's API keys, without client ids or secrets.
	ListKeys(ctx context.Context) ([]APIKey, error)
	// DeleteKey deletes the API key uuid. A key the upstream does not
	// know, or reports revoked already, counts as deleted.
	DeleteKey(ctx context.Context, uuid string) error
}

// APIKey is an API key. CreateKey fills ClientID and ClientSecret (the
// upstream shows the secret this once); GetKey and ListKeys fill UUID,
// Label and Active.
type APIKey struct {
	UUID, ClientID, ClientSecret string
	Label                        string
	Active                       bool
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

// Options are what a client needs from its host.
type Options struct {
	Logger hclog.Logger
	// Now is the clock used for expiry; time.Now when nil.
	Now func() time.Time
	// Metrics gets one report per upstream HTTP attempt (metrics.go);
	// nil records nothing.
	Metrics CallRecorder
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) logger() hclog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return hclog.NewNullLogger()
}

// Spec describes one provider: which fields it takes, its defaults, its own
// validation and how to build its client.
type Spec struct {
	Name string
	// Fields are the config fields that apply to this provider, besides
	// those every provider takes (provider, request_timeout, ca_cert,
	// verify, scopes).
	Fields []string
	// Required config fields, checked after defaults are applied.
	Required []string
	// GrantTypes a role of this provider may use; the first is the default.
	GrantTypes []string
	// Defaults fills empty fields of c with the provider's defaults.
	Defaults func(c *Config)
	// ValidateScopes checks scopes a config or role would send.
	ValidateScopes func(scopes []string) error
	// Validate checks a defaulted config against the provider's own
	// rules; a *FieldError names the field at fault.
	Validate func(c Config) error
	// RefreshRetiresAccess marks upstreams that revoke the previous access
	// token on every refresh, so a user role's earlier leases stop working.
	RefreshRetiresAccess bool
	// TokenLimit marks upstreams that cap the tokens one account may hold
	// (config max_tokens); the plugin counts the tokens it holds.
	TokenLimit bool
	// New builds a client for an already defaulted and validated config.
	New func(c Config, o Options) (Client, error)
}

// CommonFields are config fields every provider takes.
var CommonFields = []string{"provider", "scopes", "request_timeout", "ca_cert", "verify"}

// Takes reports whether field applies to this provider.
func (s *Spec) Takes(field string) bool {
	for _, f := range CommonFields {
		if f == field {
			return true
		}
	}
	for _, f := range s.Fields {
		if f == field {
			return true
		}
	}
	return false
}

// AllowsGrant reports whether a role of this provider may use grant.
func (s *Spec) AllowsGrant(grant string) bool {
	for _, g := range s.GrantTypes {
		if g == grant {
			return true
		}
	}
	return false
}

var (
	registryMu sync.RWMutex
	registry   = map[string]*Spec{}
)

// Register adds a provider; each provider file calls it from init.
func Register(s *Spec) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[s.Name]; dup {
		panic("provider: duplicate registration of " + s.Name)
	}
	registry[s.Name] = s
}

// Lookup returns the provider named name.
func Lookup(name string) (*Spec, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s, ok := registry[name]
	return s, ok
}

// Names lists the registered providers, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Effective returns c with the provider's defaults applied.
func Effective(c Config) (Config, error) {
	s, ok := Lookup(c.Provider)
	if !ok {
		return c, fmt.Errorf("unknown provider %q", c.Provider)
	}
	c.Scopes = append([]string(nil), c.Scopes...)
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if s.Defaults != nil {
		s.Defaults(&c)
	}
	return c, nil
}

// New builds the client for c, defaults applied.
func New(c Config, o Options) (Client, error) {
	eff, err := Effective(c)
	if err != nil {
		return nil, err
	}
	s, _ := Lookup(c.Provider)
	return s.New(eff, o)
}
