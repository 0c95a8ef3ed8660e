// Package staticrole rotates the static roles' tokens: one token per role,
// shared by every reader of static-creds, replaced before it expires and
// revoked at the end of a grace period where the upstream can revoke it.
// It keeps each role's schedule and current token in memory, exactly as
// storage holds them, and tells the lifecycle's WAL rollback which tokens
// a role still holds. One concern per file:
//
//	statics.go   the mount's static roles and what they register with the lifecycle
//	rotation.go  the schedule, a rotation, grace periods, retries, the token cache
//	write.go     a static role written: rotate now, wait for a user, or reschedule
package staticrole

import (
	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
)

// Statics are the static roles of one mount.
type Statics struct {
	*lifecycle.Mount
	// rot is the rotation schedule and token cache.
	rot *rotation
}

// New returns the mount's static roles and registers with the lifecycle
// what its rollback and invalidation need to know of them.
func New(m *lifecycle.Mount) *Statics {
	s := &Statics{Mount: m, rot: newRotation()}
	m.OnStaticKeeps(s.holdsToken)
	m.OnInvalidate(s.invalidateStatic)
	return s
}
