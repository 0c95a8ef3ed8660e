package staticrole

import (
	"context"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/hashicorp/vault/sdk/logical"
)

// TestStaticCacheNeverKeepsADeletedToken: a read that loaded a static
// token just before its role was deleted does not put it back in memory.
func TestStaticCacheNeverKeepsADeletedToken(t *testing.T) {
	ctx := context.Background()
	e := New(lifecycle.NewMount(nil, nil))
	s := &logical.InmemStorage{}
	st := &staticToken{AccessToken: "old", ExpiresAt: time.Now().Add(time.Hour)}
	if err := e.StoreStaticToken(ctx, s, "r", st); err != nil {
		t.Fatal(err)
	}
	e.StaticChanged("r") // a cold cache: a restart, or Invalidate
	hs := &testutil.HookStorage{Storage: s, After: func() {
		_ = s.Delete(ctx, lifecycle.StaticTokenPrefix+"r")
		e.StaticChanged("r")
	}}
	_, _ = e.CachedStaticToken(ctx, hs, "r")
	if got, _ := e.CachedStaticToken(ctx, s, "r"); got != nil {
		t.Fatalf("a deleted static role's token is still served: %q", got.AccessToken)
	}
}

// TestStaticCacheInvalidateNeverKeepsADeletedToken: on a node that learns
// of a write only through Invalidate (a performance standby), a read that
// loaded a static token just before its role was deleted elsewhere does
// not put it back in memory, whichever of the role's keys Invalidate names.
func TestStaticCacheInvalidateNeverKeepsADeletedToken(t *testing.T) {
	for _, key := range []string{lifecycle.StaticTokenPrefix + "r", lifecycle.StaticRolePrefix + "r"} {
		t.Run(key, func(t *testing.T) {
			ctx := context.Background()
			e := New(lifecycle.NewMount(nil, nil))
			s := &logical.InmemStorage{}
			for k, v := range map[string]any{
				lifecycle.StaticTokenPrefix + "r": &staticToken{AccessToken: "old", ExpiresAt: time.Now().Add(time.Hour)},
				lifecycle.StaticRolePrefix + "r":  &lifecycle.StaticRole{Config: "c"},
			} {
				entry, _ := logical.StorageEntryJSON(k, v)
				if err := s.Put(ctx, entry); err != nil {
					t.Fatal(err)
				}
			}
			hs := &testutil.HookStorage{Storage: s, After: func() {
				// The active node deletes the role; this node hears of it.
				_ = s.Delete(ctx, lifecycle.StaticTokenPrefix+"r")
				_ = s.Delete(ctx, lifecycle.StaticRolePrefix+"r")
				e.Invalidate(ctx, key)
			}}
			_, _ = e.CachedStaticToken(ctx, hs, "r")
			if got, _ := e.CachedStaticToken(ctx, s, "r"); got != nil {
				t.Fatalf("a deleted static role's token is still served: %q", got.AccessToken)
			}
		})
	}
}
