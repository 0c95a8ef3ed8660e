package plugintest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// countingStorage counts the storage calls a request makes: each is a gRPC
// round trip to Vault for an external plugin.
type CountingStorage struct {
	logical.Storage
	Mu                sync.Mutex
	Gets, Lists, Puts int
}

func (h *Harness) ReadCounting(path string) *CountingStorage {
	h.T.Helper()
	cs := &CountingStorage{Storage: h.Storage}
	resp, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: path, Storage: cs})
	if err != nil || resp.IsError() {
		h.T.Fatalf("%s: %v %v", path, err, ErrText(resp))
	}
	h.Secrets = append(h.Secrets, resp.Data["access_token"].(string))
	return cs
}

// panicStorage panics, as a nil dereference would, on a Get of a key under
// prefix while armed: a defect in whatever handler reads it.
type PanicStorage struct {
	logical.Storage
	Prefix string
	Armed  *atomic.Bool
}

func (h *Harness) Panicky(prefix string) (logical.Storage, *atomic.Bool) {
	armed := &atomic.Bool{}
	armed.Store(true)
	return PanicStorage{Storage: h.Storage, Prefix: prefix, Armed: armed}, armed
}

func WaitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (c *CountingStorage) Get(ctx context.Context, k string) (*logical.StorageEntry, error) {
	c.Mu.Lock()
	c.Gets++
	c.Mu.Unlock()
	return c.Storage.Get(ctx, k)
}

func (c *CountingStorage) List(ctx context.Context, p string) ([]string, error) {
	c.Mu.Lock()
	c.Lists++
	c.Mu.Unlock()
	return c.Storage.List(ctx, p)
}

func (c *CountingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	c.Mu.Lock()
	c.Puts++
	c.Mu.Unlock()
	return c.Storage.Put(ctx, e)
}

func (p PanicStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if p.Armed.Load() && strings.HasPrefix(key, p.Prefix) {
		var e *logical.StorageEntry
		_ = e.Key
	}
	return p.Storage.Get(ctx, key)
}

func (ReadOnlyStorage) Put(context.Context, *logical.StorageEntry) error {
	return logical.ErrReadOnly
}
func (ReadOnlyStorage) Delete(context.Context, string) error { return logical.ErrReadOnly }
