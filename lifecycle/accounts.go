package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
	"github.com/hashicorp/vault/sdk/helper/automatedrotationutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// ConfigEntry is the stored form of config/:name (seal-wrapped).
type ConfigEntry struct {
	provider.Config
	UpdatedAt time.Time `json:"updated_at"`
	// Generation changes on every write, and never repeats for a name
	// (even across delete and create): cached clients are keyed on it.
	Generation uint64 `json:"generation,omitempty"`
	// IssuerChangedAt is when an issuer field last changed: tokens and
	// authorizations from before it, recorded without their issuer, are
	// not sent to the new one.
	IssuerChangedAt time.Time `json:"issuer_changed_at,omitempty"`

	// Automated rotation of the config's own credential (cloud; see
	// rootkey/schedule.go): Vault's settings, whether Vault's rotation
	// manager runs them (else the plugin's periodic function does), and
	// when the current key was written or created.
	Rotation        automatedrotationutil.AutomatedRotationParams `json:"rotation"`
	RotationManaged bool                                          `json:"rotation_managed,omitempty"`
	LastRotated     time.Time                                     `json:"last_rotated,omitempty"`
}

func (e *Mount) LoadConfig(ctx context.Context, s logical.Storage, name string) (*ConfigEntry, error) {
	c, err := e.configs.load(ctx, s, name, fmt.Sprintf("config %q", name))
	if err != nil || c == nil {
		return nil, err
	}
	if _, ok := provider.Lookup(c.Provider); !ok {
		// Written by a newer plugin version, then downgraded.
		return nil, fmt.Errorf("config %q uses provider %q, which this plugin version (%s) does not know; "+
			"run a plugin version that does, or delete the config", name, c.Provider, strings.Join(provider.Names(), ", "))
	}
	return c, nil
}

// StoreConfig stores cfg as the new version of config name; existing is
// the stored version (nil on create), oldEff and eff the effective forms of
// both. It gives cfg a new generation and drops the cached client, and
// where an issuer field changed it drops the user authorizations the old
// issuer granted, saying so in the warnings it returns. The caller holds
// the config's lock.
func (e *Mount) StoreConfig(ctx context.Context, s logical.Storage, name string, existing, cfg *ConfigEntry,
	oldEff, eff provider.Config) ([]string, error) {
	cfg.UpdatedAt = e.Now().UTC()
	issuerChanged := existing != nil && issuerChange(oldEff, eff) != ""
	if issuerChanged {
		cfg.IssuerChangedAt = cfg.UpdatedAt
	}
	cfg.Generation = uint64(time.Now().UnixNano())
	if existing != nil && existing.Generation >= cfg.Generation {
		cfg.Generation = existing.Generation + 1
	}
	entry, err := logical.StorageEntryJSON(ConfigPrefix+name, cfg)
	if err != nil {
		return nil, err
	}
	// No mint runs between counting the old issuer's tokens and storing.
	issuerLock := e.IssuerLock(name)
	issuerLock.Lock()
	defer issuerLock.Unlock()
	if existing != nil {
		if err := e.IssuerChangeRefusal(ctx, s, name, oldEff, eff); err != nil {
			return nil, err
		}
	}
	err = s.Put(ctx, entry)
	e.ConfigChanged(name, cfg.Generation)
	if err != nil {
		return nil, fmt.Errorf("storing config %q: %w", name, err)
	}
	if !issuerChanged {
		return nil, nil
	}
	// Still under the issuer lock: no refresh runs in between.
	dropped, err := e.dropAuthorizations(ctx, s, name, existing)
	if err != nil {
		return nil, err
	}
	if len(dropped) == 0 {
		return nil, nil
	}
	return []string{fmt.Sprintf("the issuer changed: the user authorizations of %s were revoked at the "+
		"previous issuer and dropped; run authorize/<role> again for each", strings.Join(dropped, ", "))}, nil
}

// KillAllTokens deletes every upstream token of a capped config's user and
// forgets the plugin's records of them, under the config's token lock.
func (e *Mount) KillAllTokens(ctx context.Context, s logical.Storage, name string, ur provider.UserRevoker) ([]string, error) {
	lock := e.TokenLock(name)
	lock.Lock()
	defer lock.Unlock()
	if err := ur.RevokeAll(ctx); err != nil {
		countRevoke(ur, err)
		return nil, err
	}
	held, err := s.List(ctx, tokenPrefix+name+"/")
	if err != nil {
		return nil, err
	}
	defer e.dropHeldIndex(name)
	for _, id := range held {
		countRevoke(ur, nil)
		if err := s.Delete(ctx, heldKey(name, id)); err != nil {
			return nil, err
		}
	}
	return held, nil
}

// ProviderOf is the provider of a stored config, "" when unknown.
func (e *Mount) ProviderOf(ctx context.Context, s logical.Storage, name string) string {
	c, err := e.LoadConfig(ctx, s, name)
	if err != nil || c == nil {
		return ""
	}
	return c.Provider
}

// ErrNoConfig is returned when a role names a config that is gone.
var ErrNoConfig = errors.New("config not found")

// IssuerChangeRefusal refuses a change of the config's issuer while
// revocable tokens another issuer minted for it live.
func (e *Mount) IssuerChangeRefusal(ctx context.Context, s logical.Storage, name string, old, new provider.Config) error {
	field := issuerChange(old, new)
	if field == "" {
		return nil
	}
	n, err := e.heldByOthers(ctx, s, name, IssuerOf(new))
	if err != nil || n == 0 {
		return err
	}
	return BadField(field, "cannot change while %d revocable token(s) that config %q issued are live: "+
		"their revokes must reach the account and URLs that issued them; revoke them first "+
		"(vault lease revoke -prefix <mount>/creds/), or wait for them to expire", n, name)
}

// Account is one config as the lifecycle acts on it: the stored entry, its
// effective (defaulted) form, and its upstream client.
type Account struct {
	Name   string
	Entry  *ConfigEntry
	Eff    provider.Config
	Client provider.Client
}

// Account loads config name with its effective form and its client, the
// one lookup every upstream action starts with; nil, nil when there is no
// such config.
func (e *Mount) Account(ctx context.Context, s logical.Storage, name string) (*Account, error) {
	cfg, err := e.LoadConfig(ctx, s, name)
	if err != nil || cfg == nil {
		return nil, err
	}
	eff, err := provider.Effective(cfg.Config)
	if err != nil {
		return nil, err
	}
	client, err := e.Client(name, cfg)
	if err != nil {
		return nil, err
	}
	return &Account{Name: name, Entry: cfg, Eff: eff, Client: client}, nil
}

// Issued reports whether a token minted by issuer at issued may be sent to
// this account: revoked, extended or refreshed there (sameIssuer).
func (a *Account) Issued(issuer string, issued time.Time) bool {
	return sameIssuer(a.Entry, a.Eff, issuer, issued)
}

// Issuer fingerprints where, and as whom, the account mints tokens.
func (a *Account) Issuer() string { return IssuerOf(a.Eff) }

// CodeGranter is the account's client for a user's authorization: its
// code exchange and refresh.
func (a *Account) CodeGranter() (provider.CodeGranter, error) {
	cg, ok := a.Client.(provider.CodeGranter)
	if !ok {
		return nil, fmt.Errorf("config %q: provider %s has no authorization code grant", a.Name, a.Entry.Provider)
	}
	return cg, nil
}
