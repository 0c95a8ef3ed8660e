package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// TestCacheNeverKeepsAStaleEntry: a load that read an entry just before a
// write (and its drop) must not put the old value in the cache.
func TestCacheNeverKeepsAStaleEntry(t *testing.T) {
	ctx := context.Background()
	s := &logical.InmemStorage{}
	put := func(v string) {
		e, _ := logical.StorageEntryJSON("roles/r", RoleEntry{Config: v})
		_ = s.Put(ctx, e)
	}
	c := newEntryCache[RoleEntry](RolePrefix)
	put("old")
	hs := &testutil.HookStorage{Storage: s, After: func() { put("new"); c.Drop("r") }}
	got, err := c.load(ctx, hs, "r", "role")
	if err != nil || got.Config != "old" {
		t.Fatalf("the racing load: %v %v", got, err)
	}
	if got, _ := c.load(ctx, s, "r", "role"); got.Config != "new" {
		t.Fatalf("the cache kept the value read before the write: %q", got.Config)
	}
	// Cached now: a change through storage alone is not seen until a drop
	// (a write through this node) or Invalidate (a write elsewhere).
	put("newer")
	if got, _ := c.load(ctx, s, "r", "role"); got.Config != "new" {
		t.Fatalf("not cached: %q", got.Config)
	}
	c.invalidate("roles/r")
	if got, _ := c.load(ctx, s, "r", "role"); got.Config != "newer" {
		t.Fatalf("after invalidate: %q", got.Config)
	}
	// A caller's copy is its own.
	got, _ = c.load(ctx, s, "r", "role")
	got.Config = "mutated"
	if again, _ := c.load(ctx, s, "r", "role"); again.Config != "newer" {
		t.Fatal("a caller's change reached the cache")
	}
	// Absence is cached too, and dropped the same way.
	if got, _ := c.load(ctx, s, "gone", "role"); got != nil {
		t.Fatal("absent entry")
	}
	e, _ := logical.StorageEntryJSON("roles/gone", RoleEntry{Config: "x"})
	_ = s.Put(ctx, e)
	c.Drop("gone")
	if got, _ := c.load(ctx, s, "gone", "role"); got == nil {
		t.Fatal("a dropped absence kept")
	}
}

// TestHeldIndexFollowsEveryChange: the in-memory records of a config match
// storage after tracking, forgetting, pruning and Invalidate, and a count
// costs no storage call once loaded.
func TestHeldIndexFollowsEveryChange(t *testing.T) {
	ctx := context.Background()
	e := NewMount(nil, nil)
	s := &countingStorage{Storage: &logical.InmemStorage{}}
	now := time.Now()
	e.Now = func() time.Time { return now }
	for i := range 50 {
		if err := e.trackToken(ctx, s, "c", fmt.Sprint("tok", i), heldToken{ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if live, _ := e.LiveHeld(ctx, s, "c", true); len(live) != 50 {
		t.Fatalf("%d live", len(live))
	}
	s.reads = 0
	for range 10 {
		_, _ = e.LiveHeld(ctx, s, "c", true)
	}
	if s.reads != 0 {
		t.Errorf("counting 50 records 10 times made %d storage reads", s.reads)
	}
	_ = e.ForgetToken(ctx, s, "c", "tok0")
	_ = e.trackToken(ctx, s, "c", "short", heldToken{ExpiresAt: now.Add(time.Minute)})
	now = now.Add(2 * time.Minute)
	if live, _ := e.LiveHeld(ctx, s, "c", true); len(live) != 49 {
		t.Fatalf("after forget and expiry: %d live, want 49", len(live))
	}
	if keys, _ := s.List(ctx, "tokens/c/"); len(keys) != 49 {
		t.Errorf("the expired record was not dropped from storage: %d", len(keys))
	}
	// Written elsewhere: Invalidate reloads.
	entry, _ := logical.StorageEntryJSON(heldKey("c", "other"), heldToken{ExpiresAt: now.Add(time.Hour)})
	_ = s.Put(ctx, entry)
	e.Invalidate(ctx, heldKey("c", "other"))
	if live, _ := e.LiveHeld(ctx, s, "c", true); len(live) != 50 {
		t.Errorf("after Invalidate: %d live, want 50", len(live))
	}
}

type countingStorage struct {
	logical.Storage
	reads int
}

func (c *countingStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	c.reads++
	return c.Storage.Get(ctx, key)
}

func (c *countingStorage) List(ctx context.Context, prefix string) ([]string, error) {
	c.reads++
	return c.Storage.List(ctx, prefix)
}

// TestCacheBoundsAbsentNames: any caller may look up any name, so the
// names found absent take bounded memory, and never push out an entry.
func TestCacheBoundsAbsentNames(t *testing.T) {
	ctx := context.Background()
	s := &logical.InmemStorage{}
	e, _ := logical.StorageEntryJSON("roles/real", RoleEntry{Config: "c"})
	_ = s.Put(ctx, e)
	c := newEntryCache[RoleEntry](RolePrefix)
	if got, _ := c.load(ctx, s, "real", "role"); got == nil {
		t.Fatal("no entry")
	}
	if got, _ := c.load(ctx, s, strings.Repeat("x", 256<<10), "role"); got != nil {
		t.Fatal("an absent name loaded an entry")
	}
	for i := range 5 * maxAbsent {
		if got, _ := c.load(ctx, s, fmt.Sprintf("absent-%d", i), "role"); got != nil {
			t.Fatal("an absent name loaded an entry")
		}
	}
	c.mu.RLock()
	n, long := len(c.m), 0
	for name := range c.m {
		long = max(long, len(name))
	}
	_, real := c.m["real"]
	c.mu.RUnlock()
	if n > maxAbsent+1 || long > MaxNameLength || !real {
		t.Errorf("%d names cached (want at most %d), the longest %d bytes, the entry kept: %v", n, maxAbsent+1, long, real)
	}
	// A bounded cache still answers right.
	if got, _ := c.load(ctx, s, "real", "role"); got == nil || got.Config != "c" {
		t.Error("the entry was lost")
	}
}
