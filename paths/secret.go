package paths

import (
	"context"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
)

// tokenSecret is the lease type of creds/:role: its renew and revoke are
// the token lifecycle's.
func (e *Env) tokenSecret() *framework.Secret {
	return &framework.Secret{
		Type: lifecycle.SecretTypeToken,
		Fields: map[string]*framework.FieldSchema{
			"access_token": {Type: framework.TypeString, Description: "The bearer token."},
		},
		Renew: edge(func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
			return e.Renew(ctx, req)
		}),
		Revoke: edge(func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
			return e.Revoke(ctx, req)
		}),
	}
}
