package paths

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// getJSON reads the JSON entry at key; nil when there is none. what names
// the entry in errors.
func getJSON[T any](ctx context.Context, s logical.Storage, key, what string) (*T, error) {
	raw, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if raw == nil {
		return nil, nil
	}
	v := new(T)
	if err := raw.DecodeJSON(v); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", what, err)
	}
	return v, nil
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
