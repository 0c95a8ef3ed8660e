package backend_test

import (
	"context"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/hashicorp/vault/sdk/logical"
)

// The in-process hot path: a creds read on in-memory storage against the
// in-process emulator, with allocations. `go test -bench . -benchmem
// ./backend/` prints benchstat-friendly lines; make bench runs the figures
// through a real Vault.

func benchCreds(b *testing.B, h *plugintest.Harness, path string) {
	b.Helper()
	req := func() *logical.Request {
		return &logical.Request{Operation: logical.ReadOperation, Path: path, Storage: h.Storage}
	}
	if _, err := h.B.HandleRequest(context.Background(), req()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp, err := h.B.HandleRequest(context.Background(), req())
		if err != nil || resp.IsError() {
			b.Fatal(err, plugintest.ErrText(resp))
		}
	}
	b.StopTimer()
	h.Secrets = nil // tokens are not logged; keep the log scan cheap
}

func BenchmarkCredsCloud(b *testing.B) {
	h := plugintest.New(b)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/r", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID})
	benchCreds(b, h, "creds/r")
}

func BenchmarkCredsCDP(b *testing.B) {
	h := plugintest.New(b)
	h.CDPSetup(1<<20, h.Clock.Now().Add(365*24*time.Hour))
	benchCreds(b, h, "creds/sync")
}

func BenchmarkStaticCreds(b *testing.B) {
	h := plugintest.New(b)
	h.CloudConfig("c", nil)
	h.MustWrite("static-roles/s", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID})
	benchCreds(b, h, "static-creds/s")
}
