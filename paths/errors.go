package paths

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// Errors are decided once, at the handler edge (respond): a *userError is
// a 400, a *provider.Error (an upstream that failed or refused) a 502,
// logical.ErrReadOnly passes through so Vault forwards the request, and
// anything else is a 500. Helpers below the edge return plain errors.

// respond maps err to Vault's answer.
func respond(resp *logical.Response, err error) (*logical.Response, error) {
	if err == nil {
		return resp, nil
	}
	var ue *lifecycle.UserError
	var pe *provider.Error
	switch {
	case errors.As(err, &ue):
		return logical.ErrorResponse(err.Error()), nil
	case errors.Is(err, logical.ErrReadOnly):
		return nil, logical.ErrReadOnly
	case errors.As(err, &pe):
		return nil, logical.CodedError(502, err.Error())
	}
	return nil, err
}

// edge wraps every handler and secret callback: its errors are mapped by
// respond. A path's name longer than any config or role may have is a 400
// before the handler looks anything up, on reads as on writes.
func edge(h framework.OperationFunc) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if err := checkNameField(d); err != nil {
			return respond(nil, err)
		}
		return respond(h(ctx, req, d))
	}
}

// checkNameField applies checkName to the path's name, where it has one.
func checkNameField(d *framework.FieldData) error {
	if d == nil || d.Schema == nil || d.Schema["name"] == nil {
		return nil
	}
	name, ok := d.Raw["name"].(string)
	if !ok {
		return nil
	}
	return checkName(name)
}

// strict is edge for writes: a field the path does not know is a 400, not a
// warning, since a typo must not silently keep the old value.
func strict(h framework.OperationFunc) framework.OperationFunc {
	return edge(func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if err := unknownFields(req, d); err != nil {
			return nil, err
		}
		return h(ctx, req, d)
	})
}

func unknownFields(req *logical.Request, d *framework.FieldData) error {
	if d == nil || d.Schema == nil {
		return nil
	}
	var unknown []string
	for k := range req.Data {
		if _, ok := d.Schema[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	known := make([]string, 0, len(d.Schema))
	for k := range d.Schema {
		known = append(known, k)
	}
	sort.Strings(known)
	return lifecycle.UserErr("unknown field(s) %s: this path takes %s", strings.Join(unknown, ", "), strings.Join(known, ", "))
}
