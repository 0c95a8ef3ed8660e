// Package rootkey rotates a config's own credential: an Acquia Cloud API
// key replaced through the key API (config/:name/rotate), on request, on a
// schedule of its own, or when Vault's rotation manager asks. A WAL entry
// covers each rotation from before the new key is created until the old
// one is confirmed gone; its rollback, and the next rotation, finish or
// undo it from the stored config. One concern per file:
//
//	rotator.go      the mount's rotator and its WAL rollback's registration
//	rotate_root.go  one rotation: create the key, verify it, store it, delete the old one
//	rollback.go     the WAL entry of a rotation, its rollback and the settle step
//	schedule.go     automated rotation: Vault's rotation manager, or the periodic function
package rootkey

import (
	"sync"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/staticrole"
)

// Rotator rotates the keys of one mount's configs.
type Rotator struct {
	*lifecycle.Mount
	// statics mint again with a new key (reissueStatics).
	statics *staticrole.Statics

	// failures backs off the plugin's own automated rotations of a
	// config's key after a failure (schedule.go).
	mu       sync.Mutex
	failures map[string]rootFailure
}

// New returns the mount's rotator and registers its WAL rollback.
func New(m *lifecycle.Mount, statics *staticrole.Statics) *Rotator {
	r := &Rotator{Mount: m, statics: statics, failures: map[string]rootFailure{}}
	m.OnRollback(walKindKey, r.rollbackKey)
	return r
}
