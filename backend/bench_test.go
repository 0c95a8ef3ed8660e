package backend_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// The in-process hot path: a creds read on in-memory storage against the
// in-process emulator, with allocations. `go test -bench . -benchmem
// ./backend/` prints benchstat-friendly lines; make bench runs the figures
// through a real Vault.

func benchCreds(b *testing.B, h *harness, path string) {
	b.Helper()
	req := func() *logical.Request {
		return &logical.Request{Operation: logical.ReadOperation, Path: path, Storage: h.storage}
	}
	if _, err := h.b.HandleRequest(context.Background(), req()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp, err := h.b.HandleRequest(context.Background(), req())
		if err != nil || resp.IsError() {
			b.Fatal(err, errText(resp))
		}
	}
	b.StopTimer()
	h.secrets = nil // tokens are not logged; keep the log scan cheap
}

func BenchmarkCredsCloud(b *testing.B) {
	h := newHarness(b)
	h.cloudConfig("c", nil)
	h.mustWrite("roles/r", map[string]any{"config": "c", "scopes": "organization:" + fedOrgUUID})
	benchCreds(b, h, "creds/r")
}

func BenchmarkCredsCDP(b *testing.B) {
	h := newHarness(b)
	h.cdpSetup(1<<20, h.clock.Now().Add(365*24*time.Hour))
	benchCreds(b, h, "creds/sync")
}

func BenchmarkStaticCreds(b *testing.B) {
	h := newHarness(b)
	h.cloudConfig("c", nil)
	h.mustWrite("static-roles/s", map[string]any{"config": "c", "scopes": "organization:" + fedOrgUUID})
	benchCreds(b, h, "static-creds/s")
}
