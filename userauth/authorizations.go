// Package userauth keeps the user authorizations on their way: the pending
// states authorize/:role stores for its callback or its device flow, their
// cap and their pruning, and the polling of the token endpoint while a
// user answers a device authorization (RFC 8628). An answer ends in the
// lifecycle's CompleteAuthorization, as a callback does. One concern per
// file:
//
//	authorizations.go  the mount's pending authorizations and their poller
//	pending.go         pending states: their storage, cap and pruning
//	device.go          polling for device authorizations, resumed after a restart
package userauth

import (
	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/staticrole"
)

// Authorizations are the pending user authorizations of one mount.
type Authorizations struct {
	*lifecycle.Mount
	// statics mint a static role's first token once a user authorized it.
	statics *staticrole.Statics
	// device polls the token endpoint for pending device authorizations
	// (device.go).
	device *DevicePoller
}

// New returns the mount's pending authorizations.
func New(m *lifecycle.Mount, statics *staticrole.Statics) *Authorizations {
	return &Authorizations{Mount: m, statics: statics, device: NewDevicePoller()}
}
