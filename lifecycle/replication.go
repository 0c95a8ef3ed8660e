package lifecycle

import (
	"github.com/hashicorp/vault/sdk/logical"
)

// Which node may act upstream: only one that can write the mount's storage.

// EnsureWritable is the guard every path with an upstream side effect
// passes before its first upstream call. Vault forwards those operations
// to the active node (ForwardPerformanceStandby/Secondary); should one run
// here anyway, logical.ErrReadOnly makes Vault replay it there, and the
// upstream has seen nothing: no refresh token rotated, no token minted.
func (e *Mount) EnsureWritable() error {
	if e.Writable != nil && !e.Writable() {
		return logical.ErrReadOnly
	}
	return nil
}
