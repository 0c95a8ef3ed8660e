package lifecycle

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Storage layout of a mount: every key prefix, and which of them hold
// credentials (seal-wrapped) or belong to one cluster (local).
const (
	// ConfigPrefix holds config/<name>: an upstream account's credentials.
	ConfigPrefix = "config/"
	// MetaPrefix holds config-meta/<name>: what the plugin last learned
	// from the upstream about a config (CDP passwordExpiryDate), apart from
	// the seal-wrapped credentials so that recording it never rewrites them.
	MetaPrefix = "config-meta/"
	// RolePrefix holds roles/<name>.
	RolePrefix = "roles/"
	// RoleTokenPrefix holds role-tokens/<role>: the refresh token of an
	// authorization_code role, apart from the role so that reading or
	// rewriting the role never touches it.
	RoleTokenPrefix = "role-tokens/"
	// StatePrefix holds pending authorizations under the sha256 of their
	// state, so the state itself is never a storage key.
	StatePrefix = "oauth-state/"
	// tokenPrefix holds tokens/<config>/<sha256 of token>: a record of
	// each revocable upstream token a lease holds (held_tokens.go). The key
	// is a hash; the token itself lives only in the lease.
	tokenPrefix = "tokens/"
	// lostTokenPrefix holds lost-tokens/<config>/<random id>: a token
	// request whose answer was lost, counted for one token lifetime
	// (lost_tokens.go).
	lostTokenPrefix = "lost-tokens/"
	// lifetimePrefix holds token-lifetimes/<config>: the longest lifetime
	// a token of the config has had, the bound on a lost one's.
	lifetimePrefix = "token-lifetimes/"
	// StaticRolePrefix holds static-roles/<name>: a static role's settings.
	StaticRolePrefix = "static-roles/"
	// staticTokenPrefix holds static-tokens/<name>: a static role's current
	// token and the one in its grace period (staticrole/rotation.go).
	StaticTokenPrefix = "static-tokens/"
)

// SealWrapStorage lists storage prefixes holding credentials.
func SealWrapStorage() []string {
	return []string{ConfigPrefix, RoleTokenPrefix, StatePrefix, StaticTokenPrefix, framework.WALPrefix}
}

// LocalStorage lists prefixes that are not replicated: a WAL entry belongs
// to the cluster whose request wrote it.
func LocalStorage() []string {
	return []string{framework.WALPrefix}
}

// PutJSON stores v as the JSON entry at key; what names the entry in
// errors.
func PutJSON(ctx context.Context, s logical.Storage, key, what string, v any) error {
	entry, err := logical.StorageEntryJSON(key, v)
	if err == nil {
		err = s.Put(ctx, entry)
	}
	if err != nil {
		return fmt.Errorf("storing %s: %w", what, err)
	}
	return nil
}

// GetJSON reads the JSON entry at key; nil when there is none. what names
// the entry in errors.
func GetJSON[T any](ctx context.Context, s logical.Storage, key, what string) (*T, error) {
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

// MaxNameLength bounds config and role names.
const MaxNameLength = 128
