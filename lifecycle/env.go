package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/metrics"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// Mount is the state the handlers share for one mount.
type Mount struct {
	Logger hclog.Logger
	// Now is the one clock seam: expiry and TTL logic read it.
	Now func() time.Time
	// System is the mount's system view (default and max lease TTLs).
	System func() logical.SystemView
	// MountID is the mount's backend UUID: it makes the labels of the API
	// keys a rotation creates unique to the mount.
	MountID string
	// RotateRootStep, when set, is called after each step of a rotation
	// of a config's key with the step's name (rootkey/rotate_root.go): crash
	// tests stop a rotation there.
	RotateRootStep func(step string)
	// Writable reports whether this node can write the mount's storage
	// (framework.Backend.WriteSafeReplicationState). Nothing is called
	// upstream where it cannot.
	Writable func() bool
	// Metrics counts this mount's work on this node (metrics.go).
	Metrics *metrics.Metrics

	// Locks, in the order they are taken (never the other way round):
	// configLocks → graph → staticLocks → issuerLocks → tokenLocks →
	// roleLocks; stateLocks are taken alone.
	//
	// Graph serialises writes that must see a consistent set of configs
	// and the roles that use them (role create vs config delete).
	Graph sync.Mutex
	// configLocks serialise writers of one config (a verify can take
	// request_timeout; other configs must not wait for it).
	configLocks []*locksutil.LockEntry
	// issuerLocks: a mint holds its config's for reading from loading the
	// config to tracking the token; a config write or delete holds it for
	// writing while it counts the tokens the old issuer minted and stores.
	issuerLocks []*locksutil.LockEntry
	// tokenLocks serialise minting per config, so a token limit is
	// checked and used atomically.
	tokenLocks []*locksutil.LockEntry
	// staticLocks serialise the writes and rotations of one static role.
	staticLocks []*locksutil.LockEntry
	// staticKeeps and invalidators are what other packages registered
	// (OnStaticKeeps, OnInvalidate).
	staticKeeps  func(ctx context.Context, s logical.Storage, static, token string) (bool, error)
	invalidators []func(key string)
	// roleLocks serialise the refresh-token rotation of one role.
	roleLocks []*locksutil.LockEntry
	// stateLocks make each authorization state single-use.
	stateLocks []*locksutil.LockEntry
	// expiryLogged remembers the day each config's password expiry was
	// last logged, so the server log says it once a day.
	expiryMu     sync.Mutex
	expiryLogged map[string]string
	// rollbacks are the WAL kinds other packages write, with their
	// rollbacks (OnRollback).
	rollbacks map[string]Rollback

	// configs, roles and metas are the decoded entries every creds read
	// needs (cache.go).
	configs *entryCache[ConfigEntry]
	Roles   *entryCache[RoleEntry]
	Metas   *entryCache[configMeta]
	// held indexes the token records of each config (held_tokens.go).
	held *heldIndex
	// forgets are the records of revoked tokens waiting for their delete
	// (forget_after.go).
	forgets *forgetQueue
	// lifetimes caches the longest token lifetime of each config
	// (lost_tokens.go).
	lifetimeMu sync.Mutex
	lifetimes  map[string]time.Duration

	clientsMu sync.RWMutex
	clients   map[string]cachedClient
	// latestGen is the newest config generation this node wrote; a client
	// built from an older one is never cached.
	latestGen map[string]uint64
}

// cachedClient is a client and the config generation it was built from.
type cachedClient struct {
	gen    uint64
	client provider.Client
}

// NewMount returns a Mount with the real clock.
func NewMount(logger hclog.Logger, system func() logical.SystemView) *Mount {
	m := &Mount{
		Logger:       logger,
		Now:          time.Now,
		System:       system,
		configLocks:  locksutil.CreateLocks(),
		issuerLocks:  locksutil.CreateLocks(),
		tokenLocks:   locksutil.CreateLocks(),
		staticLocks:  locksutil.CreateLocks(),
		configs:      newEntryCache[ConfigEntry](ConfigPrefix),
		Roles:        newEntryCache[RoleEntry](RolePrefix),
		Metas:        newEntryCache[configMeta](MetaPrefix),
		held:         newHeldIndex(),
		forgets:      &forgetQueue{},
		lifetimes:    map[string]time.Duration{},
		roleLocks:    locksutil.CreateLocks(),
		stateLocks:   locksutil.CreateLocks(),
		expiryLogged: map[string]string{},
		rollbacks:    map[string]Rollback{},
		clients:      map[string]cachedClient{},
		latestGen:    map[string]uint64{},
	}
	// Through the field: tests move the mount's clock.
	m.Metrics = metrics.New(func() time.Time { return m.Now() })
	return m
}

func locksFor(locks []*locksutil.LockEntry, key string) *sync.RWMutex {
	return &locksutil.LockForKey(locks, key).RWMutex
}

// ConfigLock serialises the writers of config name.
func (e *Mount) ConfigLock(name string) *sync.RWMutex { return locksFor(e.configLocks, name) }

// IssuerLock is held for reading from loading config name to tracking a
// token it minted, and for writing while a write counts the old issuer's
// tokens.
func (e *Mount) IssuerLock(name string) *sync.RWMutex { return locksFor(e.issuerLocks, name) }

// TokenLock serialises minting from config name.
func (e *Mount) TokenLock(name string) *sync.RWMutex { return locksFor(e.tokenLocks, name) }

// StaticLock serialises the writes and rotations of static role name.
func (e *Mount) StaticLock(name string) *sync.RWMutex { return locksFor(e.staticLocks, name) }

// RoleLock serialises the refresh-token rotation of role name.
func (e *Mount) RoleLock(name string) *sync.RWMutex { return locksFor(e.roleLocks, name) }

// StateLock makes authorization state key single-use.
func (e *Mount) StateLock(key string) *sync.RWMutex { return locksFor(e.stateLocks, key) }

// Client returns the upstream client of cfg, as loaded from storage,
// cached by config generation: a reader that loaded the config just before
// a write never hands its stale client to a reader of the new one, and
// never caches it over a newer one.
func (e *Mount) Client(name string, cfg *ConfigEntry) (provider.Client, error) {
	e.clientsMu.RLock()
	c, ok := e.clients[name]
	e.clientsMu.RUnlock()
	if ok && c.gen == cfg.Generation {
		return c.client, nil
	}
	built, err := provider.New(cfg.Config, e.ClientOptions(cfg.Provider, name))
	if err != nil {
		return nil, fmt.Errorf("config %q: %w", name, err)
	}
	e.clientsMu.Lock()
	defer e.clientsMu.Unlock()
	if cur, ok := e.clients[name]; ok && cur.gen == cfg.Generation {
		return cur.client, nil
	}
	if cur, ok := e.clients[name]; (!ok || cur.gen < cfg.Generation) && cfg.Generation >= e.latestGen[name] {
		e.clients[name] = cachedClient{gen: cfg.Generation, client: built}
	}
	return built, nil
}

// ConfigChanged drops the client of a config this node just wrote (gen)
// or deleted (0), or that another node changed (Invalidate, 0).
func (e *Mount) ConfigChanged(name string, gen uint64) {
	e.configs.Drop(name)
	e.clientsMu.Lock()
	defer e.clientsMu.Unlock()
	delete(e.clients, name)
	if gen > e.latestGen[name] {
		e.latestGen[name] = gen
	}
}

// Invalidate drops cached state for a storage key another node changed
// (performance standbys and replicated clusters see writes only this way).
func (e *Mount) Invalidate(_ context.Context, key string) {
	if name, ok := strings.CutPrefix(key, ConfigPrefix); ok {
		e.ConfigChanged(name, 0)
	}
	e.Roles.invalidate(key)
	e.Metas.invalidate(key)
	if rest, ok := strings.CutPrefix(key, tokenPrefix); ok {
		if config, _, ok := strings.Cut(rest, "/"); ok {
			e.dropHeldIndex(config)
		}
	}
	if name, ok := strings.CutPrefix(key, lifetimePrefix); ok {
		e.forgetLifetime(name)
	}
	for _, f := range e.invalidators {
		f(key)
	}
}

// Reset drops every cached client (plugin reload, mount tune).
func (e *Mount) Reset() {
	e.clientsMu.Lock()
	defer e.clientsMu.Unlock()
	e.clients = map[string]cachedClient{}
	e.latestGen = map[string]uint64{}
	e.configs.reset()
	e.Roles.reset()
	e.Metas.reset()
	e.held.reset()
	e.forgetLifetime("")
}
