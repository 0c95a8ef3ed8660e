package lifecycle

import (
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// TestStaleClientIsNeverCached plays, in a fixed order, the interleaving of
// a creds read that loaded a config just before a write replaced it: the
// read builds its client from the old config after the write dropped the
// cache. That client must neither be cached nor handed to a reader of the
// new config, or a rotated secret, new token_url or ca_cert would be
// ignored until the next write.
func TestStaleClientIsNeverCached(t *testing.T) {
	e := NewMount(hclog.NewNullLogger(), func() logical.SystemView { return &logical.StaticSystemView{} })
	cfg := func(secret string, gen uint64) *ConfigEntry {
		return &ConfigEntry{Config: provider.Config{Provider: "cloud", ClientID: "id", ClientSecret: secret}, Generation: gen}
	}
	old, new := cfg("old-secret", 10), cfg("new-secret", 11)

	if _, err := e.Client("c", old); err != nil { // cached before the write
		t.Fatal(err)
	}
	e.ConfigChanged("c", new.Generation) // the write stores gen 11, drops the cache
	stale, err := e.Client("c", old)     // the reader that loaded gen 10
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := e.clients["c"]; ok && c.gen != new.Generation {
		t.Fatalf("a client of generation %d was cached after generation %d was written", c.gen, new.Generation)
	}
	fresh, err := e.Client("c", new)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == stale {
		t.Fatal("a reader of the new config got the stale client")
	}
	if again, _ := e.Client("c", new); again != fresh {
		t.Error("the new config's client is not cached")
	}

	// Another node wrote (Invalidate: generation unknown here): a stale
	// client may be cached, but is never handed to the new generation.
	e.ConfigChanged("c", 0)
	stale2, _ := e.Client("c", new)
	newer := cfg("newer-secret", 12)
	if got, _ := e.Client("c", newer); got == stale2 {
		t.Fatal("a reader of generation 12 got generation 11's client")
	}
}
