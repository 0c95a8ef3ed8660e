// Package backend wires the plugin's paths, secret types and background work
// into a Vault logical backend.
package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/paths"
)

// Version is the plugin's version, set at link time:
// -ldflags "-X .../backend.Version=v0.1.0".
var Version = "v0.0.0-dev"

const help = `
The Acquia secrets engine keeps long-lived upstream credentials (Acquia Cloud
API keys, Acquia Source OAuth clients, Acquia CDP integration users, Acronis
CyberApp clients) and hands out short-lived bearer tokens as Vault leases.

Write config/<name> for each upstream account, roles/<name> to say how tokens
are minted, then read creds/<role>.
`

// Backend is one mount of the plugin.
type Backend struct {
	*framework.Backend
	env *paths.Env
	sys *cachedSystemView
	// hook, when set (tests only), runs first in every guarded call with
	// its name, to inject a panic (guard.go).
	hook func(where string)
}

// Factory is the plugin's logical.Factory.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := New(conf)
	if err := b.Setup(ctx, conf); err != nil {
		return nil, fmt.Errorf("setting up the acquia backend: %w", err)
	}
	return b, nil
}

// New builds an unconfigured backend; Factory calls Setup on it.
func New(conf *logical.BackendConfig) *Backend {
	sys := &cachedSystemView{SystemView: conf.System, now: time.Now}
	b := &Backend{sys: sys}
	b.env = paths.NewEnv(conf.Logger, func() logical.SystemView { return sys })
	b.env.MountID = conf.BackendUUID
	b.Backend = &framework.Backend{
		Help:           strings.TrimSpace(help),
		BackendType:    logical.TypeLogical,
		RunningVersion: Version,
		PathsSpecial: &logical.Paths{
			SealWrapStorage: lifecycle.SealWrapStorage(),
			Unauthenticated: paths.Unauthenticated(),
			LocalStorage:    lifecycle.LocalStorage(),
		},
		Paths:        b.env.Paths(),
		Secrets:      b.env.Secrets(),
		Invalidate:   b.invalidate,
		WALRollback:  b.walRollback,
		PeriodicFunc: b.periodic,
		// Vault's rotation manager (Enterprise) calls this when a config's
		// automated rotation is due; on Vault Community periodic does.
		RotateCredential: b.env.Keys.RotateCredential,
		// 0 is Vault's default (10m); crash tests shorten it (wal_age.go).
		WALRollbackMinAge: walRollbackMinAge(conf.Logger),
		Clean:             b.clean,
		InitializeFunc:    b.initialize,
	}
	// The framework's check, on the snapshot Setup hands it: the active
	// node of a primary, or a local mount on a performance secondary.
	b.env.Writable = b.WriteSafeReplicationState
	return b
}

// Setup hands the framework the cached system view: the framework asks
// for the replication state on every request it routes (whether to refuse
// an operation marked for the active node), and for an external plugin each
// ask is a gRPC round trip to Vault.
func (b *Backend) Setup(ctx context.Context, conf *logical.BackendConfig) error {
	c := *conf
	if conf.System != nil {
		b.sys.SystemView = conf.System
		c.System = b.sys
	}
	return b.Backend.Setup(ctx, &c)
}

// periodic is Vault's periodic call (about once a minute, on every node):
// each task skips itself where storage cannot be written, and a panic in
// one (guard.go) does not skip the others.
func (b *Backend) periodic(ctx context.Context, req *logical.Request) error {
	// Config keys first: static roles then mint with the new one.
	roots := b.guard("periodic rotate-root", func() error {
		b.env.Keys.RotateRootsDue(ctx, req.Storage)
		return nil
	})
	statics := b.guard("periodic static rotation", func() error {
		b.env.RotateDue(ctx, req.Storage)
		return nil
	})
	prune := b.guard("periodic pruning of authorization states", func() error {
		return b.env.PruneStates(ctx, req)
	})
	return errors.Join(roots, statics, prune)
}

// Env exposes the shared handler state, for tests (clock seam).
func (b *Backend) Env() *paths.Env { return b.env }
