// Command floorplugin is the floor `make bench` measures the Acquia plugin
// against: the least an external Vault secrets plugin can do for a leased
// read. creds/<name> returns a fixed secret with a lease (renew and revoke
// do nothing); static/<name> returns it without one. Whatever the Acquia plugin costs above it (and above one call
// to the upstream) is the plugin's own work.
package main

import (
	"context"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
)

func factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	secret := &framework.Secret{
		Type:   "floor",
		Fields: map[string]*framework.FieldSchema{"access_token": {Type: framework.TypeString, Description: "A fixed value."}},
		Renew: func(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
			return &logical.Response{Secret: req.Secret}, nil
		},
		Revoke: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
			return nil, nil
		},
	}
	var b *framework.Backend
	b = &framework.Backend{
		Help:        "The floor of a leased read.",
		BackendType: logical.TypeLogical,
		Secrets:     []*framework.Secret{secret},
		Paths: []*framework.Path{{
			// static/<name>: a plain read, no lease: the floor of static-creds.
			Pattern: "static/" + framework.GenericNameRegex("name"),
			Fields:  map[string]*framework.FieldSchema{"name": {Type: framework.TypeString, Description: "Any name."}},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
						return &logical.Response{Data: map[string]any{"access_token": "floor", "token_type": "Bearer"}}, nil
					},
				},
			},
		}, {
			Pattern: "creds/" + framework.GenericNameRegex("name"),
			Fields:  map[string]*framework.FieldSchema{"name": {Type: framework.TypeString, Description: "Any name."}},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
						resp := b.Secret("floor").Response(map[string]any{"access_token": "floor", "token_type": "Bearer"}, nil)
						resp.Secret.TTL = time.Minute
						return resp, nil
					},
				},
			},
		}},
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

func main() {
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{BackendFactoryFunc: factory}); err != nil {
		hclog.New(&hclog.LoggerOptions{}).Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}
