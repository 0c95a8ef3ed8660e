package paths

import (
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Which node may act upstream: only one that can write the mount's storage.

// ensureWritable is the guard every path with an upstream side effect
// passes before its first upstream call. Vault forwards those operations
// to the active node (ForwardPerformanceStandby/Secondary); should one run
// here anyway, logical.ErrReadOnly makes Vault replay it there, and the
// upstream has seen nothing: no refresh token rotated, no token minted.
func (e *Env) ensureWritable() error {
	if e.Writable != nil && !e.Writable() {
		return logical.ErrReadOnly
	}
	return nil
}

// forwarded marks an operation with an upstream side effect, or a storage
// write, as one Vault runs on the active node of the primary cluster.
func forwarded(op *framework.PathOperation) *framework.PathOperation {
	op.ForwardPerformanceStandby = true
	op.ForwardPerformanceSecondary = true
	return op
}
