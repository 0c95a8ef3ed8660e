package backend_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/backend"
)

// countingStorage counts the storage calls a request makes: each is a gRPC
// round trip to Vault for an external plugin.
type countingStorage struct {
	logical.Storage
	mu                sync.Mutex
	gets, lists, puts int
}

func (c *countingStorage) Get(ctx context.Context, k string) (*logical.StorageEntry, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Storage.Get(ctx, k)
}

func (c *countingStorage) List(ctx context.Context, p string) ([]string, error) {
	c.mu.Lock()
	c.lists++
	c.mu.Unlock()
	return c.Storage.List(ctx, p)
}

func (c *countingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	c.mu.Lock()
	c.puts++
	c.mu.Unlock()
	return c.Storage.Put(ctx, e)
}

func (h *harness) readCounting(path string) *countingStorage {
	h.t.Helper()
	cs := &countingStorage{Storage: h.storage}
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: path, Storage: cs})
	if err != nil || resp.IsError() {
		h.t.Fatalf("%s: %v %v", path, err, errText(resp))
	}
	h.secrets = append(h.secrets, resp.Data["access_token"].(string))
	return cs
}

// TestCredsHotPathStorageCalls: once the role and config are known, a
// creds read reads nothing from storage; a cdp read writes only what
// covers its token (WAL entry, its rewrite, the token record), whatever the
// number of tokens held.
func TestCredsHotPathStorageCalls(t *testing.T) {
	h := newHarness(t)
	h.cloudConfig("c", nil)
	h.mustWrite("roles/r", map[string]any{"config": "c", "scopes": "organization:" + fedOrgUUID})
	h.mustRead("creds/r")
	if cs := h.readCounting("creds/r"); cs.gets+cs.lists+cs.puts != 0 {
		t.Errorf("cloud creds: %d gets, %d lists, %d puts; want none", cs.gets, cs.lists, cs.puts)
	}

	h.cdpSetup(500, h.clock.Now().Add(365*24*time.Hour))
	h.mustRead("creds/sync")
	first := h.readCounting("creds/sync")
	for range 100 {
		h.mustRead("creds/sync")
	}
	later := h.readCounting("creds/sync")
	if later.gets+later.lists != 0 || later.puts != first.puts || later.puts > 3 {
		t.Errorf("cdp creds with 2 then 102 tokens held: %d/%d gets, %d/%d lists, %d/%d puts; want no reads and the same few writes",
			first.gets, later.gets, first.lists, later.lists, first.puts, later.puts)
	}
}

// countingSystemView counts the system view questions a request asks that
// are a gRPC round trip to Vault for an external plugin.
type countingSystemView struct {
	communitySystemView
	calls atomic.Int64
}

func (c *countingSystemView) ReplicationState() consts.ReplicationState {
	c.calls.Add(1)
	return c.communitySystemView.ReplicationState()
}

func (c *countingSystemView) LocalMount() bool {
	c.calls.Add(1)
	return c.communitySystemView.LocalMount()
}

func (c *countingSystemView) DefaultLeaseTTL() time.Duration {
	c.calls.Add(1)
	return c.communitySystemView.DefaultLeaseTTL()
}

func (c *countingSystemView) MaxLeaseTTL() time.Duration {
	c.calls.Add(1)
	return c.communitySystemView.MaxLeaseTTL()
}

// TestHotPathAsksVaultAtMostOncePerSecond: the system view questions of a
// creds or static-creds read (the framework's replication check before an
// operation marked for the active node included) come from a snapshot at
// most a second old, not from Vault on every read.
func TestHotPathAsksVaultAtMostOncePerSecond(t *testing.T) {
	sys := &countingSystemView{}
	h := newHarness(t, func(c *logical.BackendConfig) {
		sys.communitySystemView = *c.System.(*communitySystemView)
		c.System = sys
	})
	h.cloudConfig("c", nil)
	h.mustWrite("roles/r", map[string]any{"config": "c"})
	h.mustWrite("static-roles/s", map[string]any{"config": "c"})
	const reads = 50
	start := time.Now()
	before := sys.calls.Load()
	for range reads {
		h.mustRead("creds/r")
		h.mustRead("static-creds/s")
	}
	calls := sys.calls.Load() - before
	// One snapshot asks 4 questions; one may be taken per second elapsed.
	if limit := 4 * (int64(time.Since(start)/time.Second) + 1); calls > limit {
		t.Errorf("%d creds and %d static-creds reads asked the system view %d times in %s; want at most %d",
			reads, reads, calls, time.Since(start).Round(time.Millisecond), limit)
	}
}

// switchingSystemView answers the replication state it is set to.
type switchingSystemView struct {
	communitySystemView
	state atomic.Uint32
}

func (s *switchingSystemView) ReplicationState() consts.ReplicationState {
	return consts.ReplicationState(s.state.Load())
}

// TestUnknownReplicationStateIsAskedAgain: the gRPC system view answers
// ReplicationUnknown when it could not ask Vault. That answer serves its
// request, as it would the framework's, but is not kept: the next request
// asks again and sees the node it runs on.
func TestUnknownReplicationStateIsAskedAgain(t *testing.T) {
	sys := &switchingSystemView{}
	sys.state.Store(uint32(consts.ReplicationDRDisabled | consts.ReplicationPerformanceDisabled))
	h := newHarness(t, func(c *logical.BackendConfig) {
		sys.communitySystemView = *c.System.(*communitySystemView)
		c.System = sys
	})
	h.cloudConfig("c", nil)
	h.mustWrite("roles/r", map[string]any{"config": "c"})
	// A new mount: no snapshot yet, and Vault cannot be asked.
	b, err := backend.Factory(context.Background(), &logical.BackendConfig{Logger: hclog.NewNullLogger(),
		StorageView: h.storage, System: sys})
	if err != nil {
		t.Fatal(err)
	}
	b.(*backend.Backend).Env().Now = h.clock.Now
	read := func() (*logical.Response, error) {
		return b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "creds/r", Storage: h.storage})
	}
	sys.state.Store(uint32(consts.ReplicationUnknown))
	if resp, err := read(); err != nil || resp.IsError() {
		t.Fatalf("creds with the state unknown: %v %v", err, errText(resp))
	} else {
		h.secrets = append(h.secrets, resp.Data["access_token"].(string))
	}
	sys.state.Store(uint32(consts.ReplicationPerformanceStandby))
	calls := h.emu.Requests("/api/auth/oauth/token")
	if _, err := read(); !errors.Is(err, logical.ErrReadOnly) {
		t.Errorf("creds on a performance standby right after an unknown state: %v; want ErrReadOnly", err)
	}
	if n := h.emu.Requests("/api/auth/oauth/token") - calls; n != 0 {
		t.Errorf("%d upstream token calls on a performance standby; want 0", n)
	}
}

// TestFactoryWithoutSystemView: a config without a system view (as some
// tools build one) still sets a backend up.
func TestFactoryWithoutSystemView(t *testing.T) {
	if _, err := backend.Factory(context.Background(), &logical.BackendConfig{Logger: hclog.NewNullLogger(),
		StorageView: &logical.InmemStorage{}}); err != nil {
		t.Fatal(err)
	}
}
