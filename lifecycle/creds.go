package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// Lease is what a creds read hands Vault: the token, the lease's TTLs and
// the internal data renew and revoke need.
type Lease struct {
	Token       *provider.Token
	TTL, MaxTTL time.Duration
	Internal    map[string]any
	Warnings    []string
}

// MintLease mints the token of one lease of role, read at start, with
// what the read asked (ask; zero for a plain read). The config's issuer
// cannot change from loading the config until the token is tracked
// (IssuerLock).
func (e *Mount) MintLease(ctx context.Context, s logical.Storage, roleName string, role *RoleEntry, ask Narrowing,
	start time.Time) (*Lease, error) {
	issuerLock := e.IssuerLock(role.Config)
	issuerLock.RLock()
	defer issuerLock.RUnlock()
	acct, err := e.Account(ctx, s, role.Config)
	if err != nil {
		return nil, err
	}
	if acct == nil {
		return nil, fmt.Errorf("role %q: %w: %q", roleName, ErrNoConfig, role.Config)
	}
	scopes, err := RequestScopes(role, acct.Entry, ask)
	if err != nil {
		return nil, err
	}
	// refreshedBefore: this read's refresh followed an earlier one, whose
	// access token the upstream may now have retired.
	refreshedBefore := false
	obtain := func(ctx context.Context) (*provider.Token, error) {
		tok, err := acct.Client.Token(ctx, scopes)
		if err != nil {
			e.Logger.Warn("token request failed", "role", roleName, "config", role.Config, "error", err)
		}
		return tok, err
	}
	if role.GrantType == provider.GrantAuthorizationCode {
		if _, err := acct.CodeGranter(); err != nil {
			return nil, err
		}
		obtain = func(ctx context.Context) (tok *provider.Token, err error) {
			tok, refreshedBefore, err = e.RefreshRoleToken(ctx, s, roleName, acct)
			return tok, err
		}
	}
	spare := SpareUserGrant(role.GrantType, acct.Entry)
	tok, err := e.Mint(ctx, s, MintRequest{ConfigName: role.Config, RoleName: roleName, Entry: acct.Entry, Client: acct.Client,
		Obtain: obtain, Unrevocable: spare})
	if err != nil {
		return nil, err
	}
	now := e.Now()
	ttl, maxTTL, warnings := e.LeaseTTLs(role, start, now, tok.ExpiresAt)
	if ttl <= 0 {
		return nil, e.refuseExpired(ctx, s, acct, tok, spare, now)
	}
	warnings = append(warnings, e.PasswordExpiry(ctx, s, role.Config, tok)...)
	if spec, _ := provider.Lookup(acct.Entry.Provider); refreshedBefore && spec.RefreshRetiresAccess {
		warnings = append(warnings, fmt.Sprintf("%s retires the previous access token on every refresh: the token of "+
			"this role's previous lease stopped working upstream with this read", acct.Entry.Provider))
	}
	return &Lease{Token: tok, TTL: ttl, MaxTTL: maxTTL, Internal: leaseData(roleName, role, acct, tok, spare, ask), Warnings: warnings}, nil
}

// refuseExpired revokes a token that was issued already expired, where it
// can be, and answers the error the reader sees.
func (e *Mount) refuseExpired(ctx context.Context, s logical.Storage, acct *Account, tok *provider.Token, spare bool,
	now time.Time) error {
	if _, revocable := acct.Client.(provider.Revoker); revocable && !spare {
		if err := e.revokeAt(ctx, s, acct.Name, acct, tok.AccessToken, acct.Issuer(), now); err != nil {
			e.Logger.Warn("could not revoke a token that was issued already expired", "config", acct.Name, "error", err)
		}
	}
	return &provider.Error{Op: "token request", Host: HostOf(acct.Eff.TokenURL, acct.Eff.BaseURL),
		Detail: "issued a token that already expired (expires_at " + tok.ExpiresAt.UTC().Format(time.RFC3339) + ")",
		Hint:   "check the Vault server's clock"}
}

// leaseData is the internal data of a lease (stored by Vault, never
// returned): the token is kept only where revoke or renew needs it.
func leaseData(roleName string, role *RoleEntry, acct *Account, tok *provider.Token, spare bool, ask Narrowing) map[string]any {
	internal := map[string]any{
		IDConfig:      role.Config,
		IDRole:        roleName,
		IDProvider:    acct.Entry.Provider,
		IDExpiresAt:   tok.ExpiresAt.UTC().Format(time.RFC3339Nano),
		IDIssuer:      acct.Issuer(),
		IDGeneration:  fmt.Sprint(acct.Entry.Generation),
		IDGrant:       role.GrantType,
		"secret_type": SecretTypeToken,
	}
	_, revokes := acct.Client.(provider.Revoker)
	_, renews := acct.Client.(provider.Renewer)
	if (revokes && !spare) || renews {
		internal[IDAccessToken] = tok.AccessToken
	}
	askedData(ask, internal)
	return internal
}

// RoleScopes are the scopes a role requests: its own, or its config's.
func RoleScopes(role *RoleEntry, cfg *ConfigEntry) []string {
	if len(role.Scopes) > 0 {
		return role.Scopes
	}
	return cfg.Scopes
}
