package backend_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/backend"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// TestCredsHotPathStorageCalls: once the role and config are known, a
// creds read reads nothing from storage; a cdp read writes only what
// covers its token (WAL entry, its rewrite, the token record), whatever the
// number of tokens held.
func TestCredsHotPathStorageCalls(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/r", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID})
	h.MustRead("creds/r")
	if cs := h.ReadCounting("creds/r"); cs.Gets+cs.Lists+cs.Puts != 0 {
		t.Errorf("cloud creds: %d gets, %d lists, %d puts; want none", cs.Gets, cs.Lists, cs.Puts)
	}

	h.CDPSetup(500, h.Clock.Now().Add(365*24*time.Hour))
	h.MustRead("creds/sync")
	first := h.ReadCounting("creds/sync")
	for range 100 {
		h.MustRead("creds/sync")
	}
	later := h.ReadCounting("creds/sync")
	if later.Gets+later.Lists != 0 || later.Puts != first.Puts || later.Puts > 3 {
		t.Errorf("cdp creds with 2 then 102 tokens held: %d/%d gets, %d/%d lists, %d/%d puts; want no reads and the same few writes",
			first.Gets, later.Gets, first.Lists, later.Lists, first.Puts, later.Puts)
	}
}

// countingSystemView counts the system view questions a request asks that
// are a gRPC round trip to Vault for an external plugin.
type countingSystemView struct {
	plugintest.CommunitySystemView
	calls atomic.Int64
}

func (c *countingSystemView) ReplicationState() consts.ReplicationState {
	c.calls.Add(1)
	return c.CommunitySystemView.ReplicationState()
}

func (c *countingSystemView) LocalMount() bool {
	c.calls.Add(1)
	return c.CommunitySystemView.LocalMount()
}

func (c *countingSystemView) DefaultLeaseTTL() time.Duration {
	c.calls.Add(1)
	return c.CommunitySystemView.DefaultLeaseTTL()
}

func (c *countingSystemView) MaxLeaseTTL() time.Duration {
	c.calls.Add(1)
	return c.CommunitySystemView.MaxLeaseTTL()
}

// TestHotPathAsksVaultAtMostOncePerSecond: the system view questions of a
// creds or static-creds read (the framework's replication check before an
// operation marked for the active node included) come from a snapshot at
// most a second old, not from Vault on every read.
func TestHotPathAsksVaultAtMostOncePerSecond(t *testing.T) {
	sys := &countingSystemView{}
	h := plugintest.New(t, func(c *logical.BackendConfig) {
		sys.CommunitySystemView = *c.System.(*plugintest.CommunitySystemView)
		c.System = sys
	})
	h.CloudConfig("c", nil)
	h.MustWrite("roles/r", map[string]any{"config": "c"})
	h.MustWrite("static-roles/s", map[string]any{"config": "c"})
	const reads = 50
	start := time.Now()
	before := sys.calls.Load()
	for range reads {
		h.MustRead("creds/r")
		h.MustRead("static-creds/s")
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
	plugintest.CommunitySystemView
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
	h := plugintest.New(t, func(c *logical.BackendConfig) {
		sys.CommunitySystemView = *c.System.(*plugintest.CommunitySystemView)
		c.System = sys
	})
	h.CloudConfig("c", nil)
	h.MustWrite("roles/r", map[string]any{"config": "c"})
	// A new mount: no snapshot yet, and Vault cannot be asked.
	b, err := backend.Factory(context.Background(), &logical.BackendConfig{Logger: hclog.NewNullLogger(),
		StorageView: h.Storage, System: sys})
	if err != nil {
		t.Fatal(err)
	}
	b.(*backend.Backend).Env().Now = h.Clock.Now
	read := func() (*logical.Response, error) {
		return b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "creds/r", Storage: h.Storage})
	}
	sys.state.Store(uint32(consts.ReplicationUnknown))
	if resp, err := read(); err != nil || resp.IsError() {
		t.Fatalf("creds with the state unknown: %v %v", err, plugintest.ErrText(resp))
	} else {
		h.Secrets = append(h.Secrets, resp.Data["access_token"].(string))
	}
	sys.state.Store(uint32(consts.ReplicationPerformanceStandby))
	calls := h.Emu.Requests("/api/auth/oauth/token")
	if _, err := read(); !errors.Is(err, logical.ErrReadOnly) {
		t.Errorf("creds on a performance standby right after an unknown state: %v; want ErrReadOnly", err)
	}
	if n := h.Emu.Requests("/api/auth/oauth/token") - calls; n != 0 {
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
