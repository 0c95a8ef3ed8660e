package paths

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/staticrole"
)

func (e *Env) staticCredsPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "static-creds/" + framework.GenericNameRegex("name") + "$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationVerb: "read", OperationSuffix: "static-credentials"},
			Fields: map[string]*framework.FieldSchema{
				"name": {Type: framework.TypeString, Required: true, Description: "Name of the static role."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: edge(e.staticCredsRead),
					Summary:  "The static role's current token; no lease, no upstream call.",
					Responses: map[int][]framework.Response{200: {{
						Description: "The current token.",
						Fields:      staticCredsResponse(),
					}}},
				},
			},
			HelpSynopsis: "Read the current token of a static role.",
			HelpDescription: `Returns the token every reader of this static role shares, served from
Vault's state with no upstream call and no lease. ttl is the number of
seconds until the next rotation; read again after it.`,
		},
		{
			Pattern:      "rotate-role/" + framework.GenericNameRegex("name") + "$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationVerb: "rotate", OperationSuffix: "static-role"},
			Fields: map[string]*framework.FieldSchema{
				"name": {Type: framework.TypeString, Required: true, Description: "Name of the static role."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: forwarded(&framework.PathOperation{
					Callback: strict(e.rotateRole),
					Summary:  "Rotate a static role's token now.",
				}),
			},
			HelpSynopsis:    "Rotate a static role now.",
			HelpDescription: "Replaces the static role's token at once; the previous one stays valid for grace_period where the upstream can revoke it.",
		},
	}
}

func staticCredsResponse() map[string]*framework.FieldSchema {
	f := tokenResponseFields()
	f["last_rotated"] = &framework.FieldSchema{Type: framework.TypeString, Description: "When the token was minted, RFC 3339."}
	f["ttl"] = &framework.FieldSchema{Type: framework.TypeInt, Description: "Seconds until the next rotation."}
	f["last_vault_rotation"] = &framework.FieldSchema{Type: framework.TypeString,
		Description: "When the token was minted, RFC 3339: Vault's static-secret field, which the Secrets Operator reads."}
	f["rotation_period"] = &framework.FieldSchema{Type: framework.TypeInt,
		Description: "The role's rotation period in seconds: with it, Vault Agent re-renders a template at ttl+1 s."}
	return f
}

func (e *Env) staticCredsRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	st, err := e.CachedStaticToken(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if st == nil {
		if role, err := e.LoadStaticRole(ctx, req.Storage, name); err != nil || role == nil {
			return nil, lifecycle.UserErr("static role %q does not exist; write static-roles/%s first", name, name)
		}
	}
	now := e.Now()
	if st == nil || st.AccessToken == "" || !now.Before(st.ExpiresAt) {
		msg := "static role %q has no valid token right now; it is being rotated"
		if st != nil && st.LastError != "" {
			return nil, lifecycle.UserErr(msg+" (last error at %s: %s)", name, formatTime(st.LastErrorAt), st.LastError)
		}
		return nil, lifecycle.UserErr(msg, name)
	}
	data := tokenData(st.AccessToken, st.ExpiresAt, st.Scopes, st.Data)
	data["last_rotated"] = formatTime(st.LastRotated)
	// Vault's static-secret fields, as database and openldap static-creds
	// answer them. Vault Agent (consul-template) re-reads a lease-less
	// secret at ttl+1 s only when rotation_period is present and ttl is an
	// integer; the Secrets Operator takes a response as static creds when
	// it has last_vault_rotation (RFC 3339) and rotation_period >= 1.
	data["last_vault_rotation"] = formatTime(st.LastRotated)
	data["rotation_period"] = max(int64(st.NextRotation.Sub(st.LastRotated)/time.Second), 1)
	ttl := st.NextRotation.Sub(now)
	if ttl < 0 {
		ttl = 0
	}
	if left := st.ExpiresAt.Sub(now); ttl > left {
		ttl = left
	}
	data["ttl"] = int64(ttl / time.Second)
	return &logical.Response{Data: data}, nil
}

func (e *Env) rotateRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	lock := e.StaticLock(name)
	lock.Lock()
	defer lock.Unlock()
	role, err := e.LoadStaticRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, lifecycle.UserErr("static role %q does not exist", name)
	}
	if err := e.RotateStatic(ctx, req.Storage, name, role, staticrole.RotationCheck{}); err != nil {
		return nil, err
	}
	if cfg, err := e.LoadConfig(ctx, req.Storage, role.Config); err == nil && cfg != nil {
		if eff, err := provider.Effective(cfg.Config); err == nil && eff.DisablesAll() {
			return &logical.Response{Warnings: []string{"config " + role.Config + " has token_limit_mode=disable_all: " +
				"CDP disabled the previous token at once, with no grace period; readers must read static-creds again"}}, nil
		}
	}
	return nil, nil
}
