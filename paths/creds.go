package paths

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

func (e *Env) credsPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern:      "creds/" + framework.GenericNameRegex("name") + "$",
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationVerb: "generate", OperationSuffix: "credentials"},
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString, Required: true, Description: "Name of the role."},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: forwarded(&framework.PathOperation{
				Callback: edge(e.credsRead),
				Summary:  "Mint a new upstream access token as a lease.",
				Responses: map[int][]framework.Response{200: {{
					Description: "A new token.",
					Fields:      tokenResponseFields(),
				}}},
			}),
		},
		HelpSynopsis: "Mint a new upstream access token for a role, as a Vault lease.",
		HelpDescription: `Each read returns a new token. The lease TTL is the role's ttl cut to the
upstream token's expiry (a warning says when it was cut). Revoking the lease
revokes the token upstream where the provider can.`,
	}}
}

func (e *Env) credsRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	start := e.Now()
	roleName := d.Get("name").(string)
	role, err := e.LoadRole(ctx, req.Storage, roleName)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, lifecycle.UserErr("role %q does not exist; write roles/%s first", roleName, roleName)
	}
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	// Held from loading the config until the token is tracked, so the
	// config's issuer cannot change under a mint.
	issuerLock := e.IssuerLock(role.Config)
	issuerLock.RLock()
	defer issuerLock.RUnlock()
	cfg, err := e.LoadConfig(ctx, req.Storage, role.Config)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("role %q: %w: %q", roleName, lifecycle.ErrNoConfig, role.Config)
	}
	client, err := e.Client(role.Config, cfg)
	if err != nil {
		return nil, err
	}
	eff, err := provider.Effective(cfg.Config)
	if err != nil {
		return nil, err
	}
	obtain := func(ctx context.Context) (*provider.Token, error) {
		tok, err := client.Token(ctx, roleScopes(role, cfg))
		if err != nil {
			e.Logger.Warn("token request failed", "role", roleName, "config", role.Config, "error", err)
		}
		return tok, err
	}
	// refreshedBefore: this read's refresh followed an earlier one, whose
	// access token the upstream may now have retired.
	refreshedBefore := false
	spare := lifecycle.SpareUserGrant(role.GrantType, cfg)
	if role.GrantType == provider.GrantAuthorizationCode {
		cg, err := e.CodeGranter(role.Config, cfg)
		if err != nil {
			return nil, err
		}
		obtain = func(ctx context.Context) (tok *provider.Token, err error) {
			tok, refreshedBefore, err = e.RefreshRoleToken(ctx, req.Storage, roleName, role.Config, cfg, cg)
			return tok, err
		}
	}
	tok, err := e.Mint(ctx, req.Storage, lifecycle.MintRequest{ConfigName: role.Config, RoleName: roleName, Entry: cfg, Client: client, Obtain: obtain,
		Unrevocable: spare})
	if err != nil {
		return nil, err
	}

	now := e.Now()
	ttl, maxTTL, warnings := e.LeaseTTLs(role, start, now, tok.ExpiresAt)
	if ttl <= 0 {
		if _, revocable := client.(provider.Revoker); revocable && !spare {
			if err := e.RevokeUpstream(ctx, req.Storage, role.Config, tok.AccessToken, lifecycle.IssuerOf(eff), now); err != nil {
				e.Logger.Warn("could not revoke a token that was issued already expired", "config", role.Config, "error", err)
			}
		}
		return nil, &provider.Error{Op: "token request", Host: lifecycle.HostOf(eff.TokenURL, eff.BaseURL),
			Detail: "issued a token that already expired (expires_at " + tok.ExpiresAt.UTC().Format(time.RFC3339) + ")",
			Hint:   "check the Vault server's clock"}
	}

	internal := map[string]any{
		lifecycle.IDConfig:     role.Config,
		lifecycle.IDRole:       roleName,
		lifecycle.IDProvider:   cfg.Provider,
		lifecycle.IDExpiresAt:  tok.ExpiresAt.UTC().Format(time.RFC3339Nano),
		lifecycle.IDIssuer:     lifecycle.IssuerOf(eff),
		lifecycle.IDGeneration: fmt.Sprint(cfg.Generation),
		lifecycle.IDGrant:      role.GrantType,
	}
	// Keep the token only where revoke or renew needs it upstream.
	_, revokes := client.(provider.Revoker)
	revokes = revokes && !spare
	_, renews := client.(provider.Renewer)
	if revokes || renews {
		internal[lifecycle.IDAccessToken] = tok.AccessToken
	}
	data := tokenData(tok.AccessToken, tok.ExpiresAt, tok.Scopes, tok.Data)
	resp := &logical.Response{
		Data: data,
		Secret: &logical.Secret{
			LeaseOptions: logical.LeaseOptions{TTL: ttl, MaxTTL: maxTTL, Renewable: true},
			InternalData: internal,
		},
		Warnings: append(warnings, e.PasswordExpiry(ctx, req.Storage, role.Config, tok)...),
	}
	if spec, _ := provider.Lookup(cfg.Provider); refreshedBefore && spec.RefreshRetiresAccess {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("%s retires the previous access token on every refresh: the token of "+
			"this role's previous lease stopped working upstream with this read", cfg.Provider))
	}
	resp.Secret.InternalData["secret_type"] = lifecycle.SecretTypeToken
	e.Logger.Debug("token issued", "role", roleName, "config", role.Config, "expires_at", tok.ExpiresAt.UTC())
	return resp, nil
}

// tokenResponseFields are the fields of a creds or static-creds answer.
func tokenResponseFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"access_token":    {Type: framework.TypeString, Description: "The bearer token."},
		"token_type":      {Type: framework.TypeString, Description: "Always Bearer."},
		"expires_at":      {Type: framework.TypeString, Description: "Upstream expiry, RFC 3339."},
		"expires_at_unix": {Type: framework.TypeInt64, Description: "Upstream expiry in Unix seconds (Acquia CLI's ACLI_ACCESS_TOKEN_EXPIRY)."},
		"scopes":          {Type: framework.TypeStringSlice, Description: "Scopes granted, when known."},
		"tenant_id":       {Type: framework.TypeString, Description: "cdp: the tenant of the integration user."},
		"username":        {Type: framework.TypeString, Description: "cdp: the integration user."},
		"user_type":       {Type: framework.TypeString, Description: "cdp: the user's type, e.g. CLIENT."},
		"password_expiry_date": {Type: framework.TypeString,
			Description: "cdp: when the integration user's password expires (the upstream's local time)."},
		"id_token": {Type: framework.TypeString, Description: "acronis: the OpenID Connect id_token issued with the access token."},
	}
}

// tokenData is the answer of a creds or static-creds read.
func tokenData(accessToken string, expires time.Time, scopes []string, extra map[string]string) map[string]any {
	data := map[string]any{
		"access_token":    accessToken,
		"token_type":      "Bearer",
		"expires_at":      expires.UTC().Format(time.RFC3339),
		"expires_at_unix": expires.Unix(),
	}
	if len(scopes) > 0 {
		data["scopes"] = scopes
	}
	for k, v := range extra {
		data[k] = v
	}
	return data
}

// roleScopes are the scopes a role requests: its own, or its config's.
func roleScopes(role *lifecycle.RoleEntry, cfg *lifecycle.ConfigEntry) []string {
	if len(role.Scopes) > 0 {
		return role.Scopes
	}
	return cfg.Scopes
}
