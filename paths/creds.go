package paths

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
)

func (e *Env) credsPaths() []*framework.Path {
	generated := map[int][]framework.Response{200: {{Description: "A new token.", Fields: tokenResponseFields()}}}
	return []*framework.Path{{
		Pattern:      "creds/" + framework.GenericNameRegex("name") + "$",
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationVerb: "generate", OperationSuffix: "credentials"},
		Fields:       credsFields(),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: forwarded(&framework.PathOperation{
				Callback:  strict(e.credsRead),
				Summary:   "Mint a new upstream access token as a lease.",
				Responses: generated,
			}),
			// Vault Agent templates and the Secrets Operator send
			// parameters as a write.
			logical.UpdateOperation: forwarded(&framework.PathOperation{
				Callback: strict(e.credsRead),
				Summary:  "Mint a new upstream access token as a lease; the same as a read, parameters in the body.",
				DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationVerb: "generate",
					OperationSuffix: "credentials-with-parameters"},
				Responses: generated,
			}),
		},
		HelpSynopsis: "Mint a new upstream access token for a role, as a Vault lease.",
		HelpDescription: `Each read returns a new token. The lease TTL is the role's ttl cut to the
upstream token's expiry (a warning says when it was cut). Revoking the lease
revokes the token upstream where the provider can.

A read (or a write, for clients that send parameters that way) may narrow
the token: scopes= a subset of the role's scopes, or for cloud
organization=<uuid>, one of the role's organizations. Without parameters the
token has the role's scopes. A role with allow_narrowing=false refuses them.`,
	}}
}

// credsFields are the creds path's parameters.
func credsFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"name": {Type: framework.TypeString, Required: true, Description: "Name of the role."},
		// Query: a read's query parameters; a write's body (OpenAPI).
		lifecycle.ParamScopes: {Type: framework.TypeCommaStringSlice, Query: true,
			Description: "A subset of the role's scopes (its config's when the role names none), comma or space " +
				"separated; the token gets only these. Empty: the role's scopes.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Scopes"}},
		lifecycle.ParamOrganization: {Type: framework.TypeString, Query: true,
			Description:  "cloud: the uuid of one of the role's organizations; the token is scoped organization:<uuid>.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Organization"}},
	}
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
	ask := lifecycle.Narrowing{Organization: strings.TrimSpace(d.Get(lifecycle.ParamOrganization).(string))}
	if v, ok := d.GetOk(lifecycle.ParamScopes); ok {
		ask.Scopes = cleanScopes(v.([]string))
	}
	lease, err := e.MintLease(ctx, req.Storage, roleName, role, ask, start)
	if err != nil {
		return nil, err
	}
	tok := lease.Token
	e.Logger.Debug("token issued", "role", roleName, "config", role.Config, "expires_at", tok.ExpiresAt.UTC(),
		"narrowed", ask.Asked())
	return &logical.Response{
		Data: tokenData(tok.AccessToken, tok.ExpiresAt, tok.Scopes, tok.Data),
		Secret: &logical.Secret{
			LeaseOptions: logical.LeaseOptions{TTL: lease.TTL, MaxTTL: lease.MaxTTL, Renewable: true},
			InternalData: lease.Internal,
		},
		Warnings: lease.Warnings,
	}, nil
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
