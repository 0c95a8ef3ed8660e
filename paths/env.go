package paths

import (
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/rootkey"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/staticrole"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/userauth"
)

// Env is the HTTP face of one mount: its paths' schemas and handlers. The
// handlers parse and check a request's fields, then ask the mount's token
// lifecycle (lifecycle.Mount) to act, and turn its answer into a response.
type Env struct {
	*lifecycle.Mount
	// Statics are the static roles, their schedule and rotations.
	*staticrole.Statics
	// Keys rotates the configs' own keys (config/:name/rotate).
	Keys *rootkey.Rotator
	// Authorizations are the user authorizations pending (userauth).
	*userauth.Authorizations
}

// NewEnv returns the face of a new mount with the real clock.
func NewEnv(logger hclog.Logger, system func() logical.SystemView) *Env {
	m := lifecycle.NewMount(logger, system)
	statics := staticrole.New(m)
	return &Env{Mount: m, Statics: statics, Keys: rootkey.New(m, statics), Authorizations: userauth.New(m, statics)}
}
