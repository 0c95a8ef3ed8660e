package paths

import (
	"context"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Paths are every path of the plugin.
func (e *Env) Paths() []*framework.Path {
	return framework.PathAppend(
		e.configPaths(),
		e.rolePaths(),
		e.credsPaths(),
		e.authorizePaths(),
		e.staticRolePaths(),
		e.staticCredsPaths(),
		e.metricsPaths(),
	)
}

// Secrets are the secret types the plugin issues.
func (e *Env) Secrets() []*framework.Secret {
	return []*framework.Secret{e.tokenSecret()}
}

// Unauthenticated lists the paths a caller without a Vault token may use:
// the provider redirects a browser to callback.
func Unauthenticated() []string {
	return []string{"callback"}
}

// listKeys is the handler of a LIST path over one storage prefix.
func listKeys(prefix string) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
		names, err := req.Storage.List(ctx, prefix)
		if err != nil {
			return nil, err
		}
		return logical.ListResponse(names), nil
	}
}

// forwarded marks an operation with an upstream side effect, or a storage
// write, as one Vault runs on the active node of the primary cluster.
func forwarded(op *framework.PathOperation) *framework.PathOperation {
	op.ForwardPerformanceStandby = true
	op.ForwardPerformanceSecondary = true
	return op
}
