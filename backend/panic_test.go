package backend_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// panicStorage panics, as a nil dereference would, on a Get of a key under
// prefix while armed: a defect in whatever handler reads it.
type panicStorage struct {
	logical.Storage
	prefix string
	armed  *atomic.Bool
}

func (p panicStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if p.armed.Load() && strings.HasPrefix(key, p.prefix) {
		var e *logical.StorageEntry
		_ = e.Key
	}
	return p.Storage.Get(ctx, key)
}

func (h *harness) panicky(prefix string) (logical.Storage, *atomic.Bool) {
	armed := &atomic.Bool{}
	armed.Store(true)
	return panicStorage{Storage: h.storage, prefix: prefix, armed: armed}, armed
}

func status500(err error) bool {
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code() == 500
}

// A panic in a handler is a 500 with its stack in the log, and the mount
// serves the next request.
func TestPanicInAHandlerIsA500(t *testing.T) {
	h := newHarness(t)
	h.cloudConfig("c", nil)
	h.mustWrite("roles/r", map[string]any{"config": "c"})
	s, _ := h.panicky("roles/")
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "creds/r", Storage: s})
	if resp != nil || !status500(err) {
		t.Fatalf("a handler's panic answered resp=%v err=%v, want a 500", errText(resp), err)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "recovered from a panic") || !strings.Contains(logs, "paths.(*Env).credsRead") {
		t.Errorf("the log lacks the panic's stack:\n%s", logs)
	}
	tok := h.mustRead("creds/r").Data["access_token"].(string)
	if tok == "" {
		t.Error("no token after the panic")
	}
	if n := samples(t, h.scrape(), "vault_acquia_panics_recovered_total", "")[""]; n != 1 {
		t.Errorf("panics recovered = %v, want 1", n)
	}
}

// Every entry point Vault calls recovers: requests, existence checks, the
// periodic tasks, WAL rollback, Invalidate, Initialize and Cleanup.
func TestPanicInAnyEntryPointLeavesTheMountServing(t *testing.T) {
	h := newHarness(t)
	h.cloudConfig("c", nil)
	h.mustWrite("roles/r", map[string]any{"config": "c"})
	ctx := context.Background()
	only := func(prefix string) func(string) bool {
		return func(w string) bool { return strings.HasPrefix(w, prefix) }
	}

	h.b.InjectPanic(only("read creds/r"))
	if _, err := h.read("creds/r"); !status500(err) {
		t.Errorf("request: %v, want a 500", err)
	}
	h.b.InjectPanic(only("an existence check"))
	if _, _, err := h.b.HandleExistenceCheck(ctx, &logical.Request{Operation: logical.CreateOperation, Path: "roles/r",
		Storage: h.storage}); !status500(err) {
		t.Errorf("existence check: %v, want a 500", err)
	}
	h.b.InjectPanic(only("invalidate"))
	h.b.InvalidateKey(ctx, "roles/r")
	h.b.InjectPanic(only("initialize"))
	if err := h.b.Initialize(ctx, &logical.InitializationRequest{Storage: h.storage}); err == nil {
		t.Error("initialize: no error from a panic")
	}

	// Each periodic task is guarded alone: a panic in one does not skip
	// the WAL rollback that follows.
	wal, err := framework.PutWAL(ctx, h.storage, "upstream_token", map[string]any{"config": "c", "role": "r"})
	if err != nil {
		t.Fatal(err)
	}
	rollback := func() error {
		resp, err := h.b.HandleRequest(ctx, &logical.Request{Operation: logical.RollbackOperation, Path: "",
			Storage: h.storage, Data: map[string]any{"immediate": true}})
		if err == nil && resp.IsError() {
			err = resp.Error()
		}
		return err
	}
	h.b.InjectPanic(only("periodic"))
	if err := rollback(); err == nil || h.stored(framework.WALPrefix+wal) {
		t.Errorf("a periodic task's panic: err=%v, WAL entry rolled back: %v", err, !h.stored(framework.WALPrefix+wal))
	}
	wal, _ = framework.PutWAL(ctx, h.storage, "upstream_token", map[string]any{"config": "c", "role": "r"})
	h.b.InjectPanic(only("WAL rollback"))
	if err := rollback(); err == nil || !h.stored(framework.WALPrefix+wal) {
		t.Errorf("a rollback's panic: err=%v; the entry must stay for the next try", err)
	}
	h.b.InjectPanic(only("cleanup"))
	h.b.Cleanup(ctx)

	h.b.InjectPanic(nil)
	if err := rollback(); err != nil || h.stored(framework.WALPrefix+wal) {
		t.Errorf("the rollback after the panic: err=%v, entry kept: %v", err, h.stored(framework.WALPrefix+wal))
	}
	h.mustRead("creds/r")
	if n := strings.Count(h.logs.String(), "recovered from a panic"); n < 8 {
		t.Errorf("%d panics logged, want 8", n)
	}
}

// A panic in one static role's rotation, from the ticker or Vault's
// periodic call, leaves the ticker running and the role scheduled.
func TestPanicInARotationKeepsTheTickerAndTheRole(t *testing.T) {
	h := newHarness(t)
	h.cloudConfig("c", nil)
	h.mustWrite("static-roles/s", map[string]any{"config": "c", "scopes": "organization:" + fedOrgUUID, "rotation_period": "60s"})
	first := h.staticToken("s")
	s, armed := h.panicky("static-roles/")
	ctx := context.Background()
	if err := h.b.Initialize(ctx, &logical.InitializationRequest{Storage: s}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.b.Cleanup(ctx) })
	h.clock.Advance(61 * time.Second)
	waitFor(t, "the ticker's panic", func() bool { return strings.Contains(h.logs.String(), "recovered from a panic") })
	armed.Store(false)
	if h.staticToken("s") != first {
		t.Fatal("rotated while every rotation panicked")
	}
	h.clock.Advance(31 * time.Second)
	waitFor(t, "a rotation by the ticker after the panic", func() bool {
		resp, err := h.read("static-creds/s")
		return err == nil && !resp.IsError() && resp.Data["access_token"] != first
	})
	h.secrets = append(h.secrets, h.mustRead("static-creds/s").Data["access_token"].(string))
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
