package paths

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// SecretTypeToken is the secret type of every lease this plugin issues.
const SecretTypeToken = "acquia_token"

// Internal data kept with a lease (stored by Vault, never returned).
const (
	idConfig    = "config"
	idRole      = "role"
	idProvider  = "provider"
	idExpiresAt = "expires_at"
	idToken     = "access_token"
)

func (e *Env) credsPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern:      "creds/" + framework.GenericNameRegex("name") + "$",
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationVerb: "generate", OperationSuffix: "credentials"},
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString, Required: true, Description: "Name of the role."},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: e.credsRead,
				Summary:  "Mint a new upstream access token as a lease.",
				Responses: map[int][]framework.Response{200: {{
					Description: "A new token.",
					Fields: map[string]*framework.FieldSchema{
						"access_token": {Type: framework.TypeString, Description: "The bearer token."},
						"token_type":   {Type: framework.TypeString, Description: "Always Bearer."},
						"expires_at":   {Type: framework.TypeString, Description: "Upstream expiry, RFC 3339."},
						"scopes":       {Type: framework.TypeStringSlice, Description: "Scopes granted, when known."},
						"tenant_id":    {Type: framework.TypeString, Description: "cdp: the tenant of the integration user."},
						"username":     {Type: framework.TypeString, Description: "cdp: the integration user."},
						"user_type":    {Type: framework.TypeString, Description: "cdp: the user's type, e.g. CLIENT."},
						"password_expiry_date": {Type: framework.TypeString,
							Description: "cdp: when the integration user's password expires (the upstream's local time)."},
						"id_token": {Type: framework.TypeString, Description: "acronis: the OpenID Connect id_token issued with the access token."},
						"expires_at_unix": {Type: framework.TypeInt64,
							Description: "The same instant as expires_at in Unix seconds (what Acquia CLI's ACLI_ACCESS_TOKEN_EXPIRY takes)."},
					},
				}}},
			},
		},
		HelpSynopsis: "Mint a new upstream access token for a role, as a Vault lease.",
		HelpDescription: `Each read returns a new token. The lease TTL is the role's ttl cut to the
upstream token's expiry (a warning says when it was cut). Revoking the lease
revokes the token upstream where the provider can.`,
	}}
}

func (e *Env) tokenSecret() *framework.Secret {
	return &framework.Secret{
		Type: SecretTypeToken,
		Fields: map[string]*framework.FieldSchema{
			"access_token": {Type: framework.TypeString, Description: "The bearer token."},
		},
		Renew:  e.tokenRenew,
		Revoke: e.tokenRevoke,
	}
}

func (e *Env) credsRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	start := e.Now()
	roleName := d.Get("name").(string)
	role, err := e.loadRole(ctx, req.Storage, roleName)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return logical.ErrorResponse("role %q does not exist; write roles/%s first", roleName, roleName), nil
	}
	cfg, err := e.loadConfig(ctx, req.Storage, role.Config)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("role %q: %w: %q", roleName, errNoConfig, role.Config)
	}
	client, err := e.client(role.Config, cfg)
	if err != nil {
		return nil, err
	}
	obtain := func(ctx context.Context) (*provider.Token, *logical.Response, error) {
		tok, err := client.Token(ctx, roleScopes(role, cfg))
		if err != nil {
			e.Logger.Warn("token request failed", "role", roleName, "config", role.Config, "error", err)
			return nil, nil, upstreamErr(err)
		}
		return tok, nil, nil
	}
	// retired: this read's refresh followed an earlier one, whose access
	// token the upstream may now have retired.
	retired := false
	if role.GrantType == provider.GrantAuthorizationCode {
		cg, err := e.codeGranter(role.Config, cfg)
		if err != nil {
			return nil, err
		}
		obtain = func(ctx context.Context) (tok *provider.Token, refusal *logical.Response, err error) {
			tok, retired, refusal, err = e.refreshRoleToken(ctx, req.Storage, roleName, role.Config, cg)
			return tok, refusal, err
		}
	}
	tok, refusal, err := e.mint(ctx, req.Storage, roleName, role, cfg, client, obtain)
	if err != nil || refusal != nil {
		return refusal, err
	}

	now := e.Now()
	ttl, maxTTL, warnings := e.leaseTTLs(role, start, now, tok.ExpiresAt)
	if ttl <= 0 {
		return nil, upstreamErr(fmt.Errorf("the upstream issued a token that already expired (expires_at %s); check the Vault server's clock",
			tok.ExpiresAt.UTC().Format(time.RFC3339)))
	}

	internal := map[string]any{
		idConfig:    role.Config,
		idRole:      roleName,
		idProvider:  cfg.Provider,
		idExpiresAt: tok.ExpiresAt.UTC().Format(time.RFC3339Nano),
	}
	// Keep the token only where revoke or renew needs it upstream.
	_, revokes := client.(provider.Revoker)
	_, renews := client.(provider.Renewer)
	if revokes || renews {
		internal[idToken] = tok.AccessToken
	}
	data := map[string]any{
		"access_token": tok.AccessToken,
		"token_type":   "Bearer",
		"expires_at":   tok.ExpiresAt.UTC().Format(time.RFC3339),
		// Acquia CLI takes the expiry in Unix seconds; expires_at drops
		// the fraction too, so both name the same second.
		"expires_at_unix": tok.ExpiresAt.Unix(),
	}
	if len(tok.Scopes) > 0 {
		data["scopes"] = tok.Scopes
	}
	for k, v := range tok.Data {
		data[k] = v
	}
	resp := &logical.Response{
		Data: data,
		Secret: &logical.Secret{
			LeaseOptions: logical.LeaseOptions{TTL: ttl, MaxTTL: maxTTL, Renewable: true},
			InternalData: internal,
		},
		Warnings: append(warnings, e.passwordExpiry(ctx, req.Storage, role.Config, tok)...),
	}
	if spec, _ := provider.Lookup(cfg.Provider); retired && spec.RefreshRetiresAccess {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("%s retires the previous access token on every refresh: the token of "+
			"this role's previous lease stopped working upstream with this read", cfg.Provider))
	}
	resp.Secret.InternalData["secret_type"] = SecretTypeToken
	e.Logger.Debug("token issued", "role", roleName, "config", role.Config, "expires_at", tok.ExpiresAt.UTC())
	return resp, nil
}

// roleScopes are the scopes a role requests: its own, or its config's.
func roleScopes(role *roleEntry, cfg *configEntry) []string {
	if len(role.Scopes) > 0 {
		return role.Scopes
	}
	return cfg.Scopes
}

// ttlCutSlack is how far a role's ttl may pass its token's full lifetime
// without a warning: an expires_on stated by the upstream's clock may be a
// few seconds off Vault's.
const ttlCutSlack = 5 * time.Second

// leaseTTLs gives the TTL and max TTL of a lease issued at issued (for a
// new lease: when its request started) and (re)computed at now, so that
// it never outlives the upstream token.
func (e *Env) leaseTTLs(role *roleEntry, issued, now, expires time.Time) (ttl, maxTTL time.Duration, warnings []string) {
	ttl = role.TTL
	if ttl == 0 {
		ttl = e.System().DefaultLeaseTTL()
	}
	maxTTL = role.MaxTTL
	if maxTTL == 0 {
		maxTTL = e.System().MaxLeaseTTL()
	}
	// Both measured from issue time, as Vault does for max_ttl.
	untilExpiry := expires.Sub(now)
	if lifetime := expires.Sub(issued); maxTTL > lifetime {
		maxTTL = lifetime
	}
	if ttl > untilExpiry {
		// Only a role that asked for more than the token's full lifetime
		// hears of it: the seconds a round trip costs are not news.
		if ttl > expires.Sub(issued)+ttlCutSlack {
			warnings = append(warnings, fmt.Sprintf("lease TTL cut from %s to %s: the upstream token expires at %s",
				ttl, untilExpiry.Truncate(time.Second), expires.UTC().Format(time.RFC3339)))
		}
		ttl = untilExpiry
	}
	return ttl.Truncate(time.Second), maxTTL.Truncate(time.Second), warnings
}

func (e *Env) tokenRenew(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	expires, err := leaseExpiry(req.Secret)
	if err != nil {
		return nil, err
	}
	now := e.Now()
	if !now.Before(expires) {
		return logical.ErrorResponse("the upstream token expired at %s; read creds again for a new one", expires.UTC().Format(time.RFC3339)), nil
	}
	roleName, _ := req.Secret.InternalData[idRole].(string)
	role, err := e.loadRole(ctx, req.Storage, roleName)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return logical.ErrorResponse("role %q was deleted; its leases cannot be renewed", roleName), nil
	}
	if role.MaxTTL > 0 && !now.Before(req.Secret.IssueTime.Add(role.MaxTTL)) {
		return logical.ErrorResponse("the lease reached the role's max_ttl %s; read creds again", role.MaxTTL), nil
	}
	var warnings []string
	if token, _ := req.Secret.InternalData[idToken].(string); token != "" {
		if expires, warnings, err = e.extendUpstream(ctx, req.Storage, req.Secret, token); err != nil {
			return nil, err
		}
	}
	ttl, maxTTL, cut := e.leaseTTLs(role, req.Secret.IssueTime, now, expires)
	resp := &logical.Response{Secret: req.Secret, Warnings: append(warnings, cut...)}
	resp.Secret.TTL = ttl
	resp.Secret.MaxTTL = maxTTL
	return resp, nil
}

func (e *Env) tokenRevoke(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	token, _ := req.Secret.InternalData[idToken].(string)
	if token == "" {
		// The provider has no revocation: the token just expires.
		return nil, nil
	}
	cfgName, _ := req.Secret.InternalData[idConfig].(string)
	if expires, err := leaseExpiry(req.Secret); err == nil && !e.Now().Before(expires) {
		// The upstream token is dead already; calling the upstream could
		// only fail and keep Vault retrying a revoke that has nothing left
		// to do.
		return nil, e.forgetToken(ctx, req.Storage, cfgName, token)
	}
	// An error makes Vault retry the revoke with backoff; a token the
	// upstream no longer knows counts as revoked.
	return nil, e.revokeUpstream(ctx, req.Storage, cfgName, token)
}

// extendUpstream prolongs a lease's token where the upstream can, and
// returns its new expiry.
func (e *Env) extendUpstream(ctx context.Context, s logical.Storage, secret *logical.Secret, token string) (time.Time, []string, error) {
	expires, _ := leaseExpiry(secret)
	cfgName, _ := secret.InternalData[idConfig].(string)
	cfg, err := e.loadConfig(ctx, s, cfgName)
	if err != nil || cfg == nil {
		return expires, nil, err
	}
	client, err := e.client(cfgName, cfg)
	if err != nil {
		return expires, nil, err
	}
	rn, ok := client.(provider.Renewer)
	if !ok {
		return expires, nil, nil
	}
	tok, err := rn.Renew(ctx, token)
	if err != nil {
		if provider.IsStatus(err, 401, 404) {
			return expires, nil, logical.CodedError(400, "the upstream token no longer exists (deleted upstream or by revoke-all); read creds again")
		}
		return expires, nil, upstreamErr(err)
	}
	secret.InternalData[idExpiresAt] = tok.ExpiresAt.UTC().Format(time.RFC3339Nano)
	if spec, _ := provider.Lookup(cfg.Provider); spec != nil && spec.TokenLimit {
		if entry, err := logical.StorageEntryJSON(heldKey(cfgName, tokenID(token)), heldToken{Kind: "lease",
			Role: fmt.Sprint(secret.InternalData[idRole]), CreatedAt: secret.IssueTime, ExpiresAt: tok.ExpiresAt}); err == nil {
			_ = s.Put(ctx, entry)
		}
	}
	return tok.ExpiresAt, e.passwordExpiry(ctx, s, cfgName, tok), nil
}

func leaseExpiry(s *logical.Secret) (time.Time, error) {
	v, _ := s.InternalData[idExpiresAt].(string)
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("lease holds no upstream expiry: %w", err)
	}
	return t, nil
}
