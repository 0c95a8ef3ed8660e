package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
	"github.com/hashicorp/vault/sdk/logical"
)

// RoleEntry is the stored form of roles/:name.
type RoleEntry struct {
	Config      string        `json:"config"`
	Scopes      []string      `json:"scopes,omitempty"`
	GrantType   string        `json:"grant_type"`
	RedirectURL string        `json:"redirect_url,omitempty"`
	TTL         time.Duration `json:"ttl"`
	MaxTTL      time.Duration `json:"max_ttl"`
	// Organizations (cloud) are the organization uuids a read may pick
	// with organization=<uuid>.
	Organizations []string `json:"organizations,omitempty"`
	// NoNarrowing is allow_narrowing=false: reads take no scopes or
	// organization. Stored negated so that roles written before narrowing
	// existed allow it, as the default does.
	NoNarrowing bool `json:"no_narrowing,omitempty"`
}

func (e *Mount) LoadRole(ctx context.Context, s logical.Storage, name string) (*RoleEntry, error) {
	return e.Roles.load(ctx, s, name, fmt.Sprintf("role %q", name))
}

const (
	// MinRotationPeriod is the shortest rotation_period accepted.
	MinRotationPeriod = 10 * time.Second
	// defaultGracePeriod is how long a rotated-out token stays valid where
	// the upstream can revoke it.
	defaultGracePeriod = time.Minute
)

// StaticRole is the stored form of static-roles/:name.
type StaticRole struct {
	Config string   `json:"config"`
	Scopes []string `json:"scopes,omitempty"`
	// RotationPeriod 0 means 80% of the upstream token's lifetime.
	RotationPeriod time.Duration `json:"rotation_period,omitempty"`
	// GracePeriod is nil when not set (the default applies).
	GracePeriod *time.Duration `json:"grace_period,omitempty"`
	// GrantType authorization_code (source, oauth2): the token comes from
	// a user's authorization (authorize/<name>), refreshed at each
	// rotation. Empty means client_credentials.
	GrantType   string `json:"grant_type,omitempty"`
	RedirectURL string `json:"redirect_url,omitempty"`
}

func (r *StaticRole) Grant() string {
	if r.GrantType == "" {
		return provider.GrantClientCredentials
	}
	return r.GrantType
}

func (e *Mount) LoadStaticRole(ctx context.Context, s logical.Storage, name string) (*StaticRole, error) {
	return GetJSON[StaticRole](ctx, s, StaticRolePrefix+name, fmt.Sprintf("static role %q", name))
}

// Grace is the role's grace period, its default applied.
func (r *StaticRole) Grace(revocable bool) time.Duration {
	if !revocable {
		return 0
	}
	if r.GracePeriod != nil {
		return *r.GracePeriod
	}
	return defaultGracePeriod
}

// Period is the role's rotation period for a token of lifetime.
func (r *StaticRole) Period(lifetime time.Duration) time.Duration {
	if r.RotationPeriod > 0 {
		return r.RotationPeriod
	}
	p := lifetime * 8 / 10
	if p < MinRotationPeriod {
		p = MinRotationPeriod
	}
	return p.Truncate(time.Second)
}

// StaticRolesUsing names the static roles that use config.
func (e *Mount) StaticRolesUsing(ctx context.Context, s logical.Storage, config string) ([]string, error) {
	return usersOf(ctx, s, StaticRolePrefix, config, func(n string) (string, error) {
		r, err := e.LoadStaticRole(ctx, s, n)
		if r == nil {
			return "", err
		}
		return r.Config, err
	})
}

// RolesUsing names the roles that use config name, as "role a, role b".
func (e *Mount) RolesUsing(ctx context.Context, s logical.Storage, config string) ([]string, error) {
	names, err := usersOf(ctx, s, RolePrefix, config, func(n string) (string, error) {
		r, err := e.LoadRole(ctx, s, n)
		if r == nil {
			return "", err
		}
		return r.Config, err
	})
	for i := range names {
		names[i] = "role " + names[i]
	}
	return names, err
}

// usersOf lists the entries under prefix whose config (as configOf reads
// it; "" for none) is config.
func usersOf(ctx context.Context, s logical.Storage, prefix, config string, configOf func(name string) (string, error)) ([]string, error) {
	names, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, n := range names {
		c, err := configOf(n)
		if err != nil {
			return nil, err
		}
		if c == config {
			users = append(users, n)
		}
	}
	return users, nil
}
