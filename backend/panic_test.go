package backend_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func status500(err error) bool {
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code() == 500
}

// A panic in a handler is a 500 with its stack in the log, and the mount
// serves the next request.
func TestPanicInAHandlerIsA500(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/r", map[string]any{"config": "c"})
	s, _ := h.Panicky("roles/")
	resp, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "creds/r", Storage: s})
	if resp != nil || !status500(err) {
		t.Fatalf("a handler's panic answered resp=%v err=%v, want a 500", plugintest.ErrText(resp), err)
	}
	logs := h.Logs.String()
	if !strings.Contains(logs, "recovered from a panic") || !strings.Contains(logs, "paths.(*Env).credsRead") {
		t.Errorf("the log lacks the panic's stack:\n%s", logs)
	}
	tok := h.MustRead("creds/r").Data["access_token"].(string)
	if tok == "" {
		t.Error("no token after the panic")
	}
	if n := plugintest.Samples(t, h.Scrape(), "vault_acquia_panics_recovered_total", "")[""]; n != 1 {
		t.Errorf("panics recovered = %v, want 1", n)
	}
}

// Every entry point Vault calls recovers: requests, existence checks, the
// periodic tasks, WAL rollback, Invalidate, Initialize and Cleanup.
func TestPanicInAnyEntryPointLeavesTheMountServing(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/r", map[string]any{"config": "c"})
	ctx := context.Background()
	only := func(prefix string) func(string) bool {
		return func(w string) bool { return strings.HasPrefix(w, prefix) }
	}

	h.B.InjectPanic(only("read creds/r"))
	if _, err := h.Read("creds/r"); !status500(err) {
		t.Errorf("request: %v, want a 500", err)
	}
	h.B.InjectPanic(only("an existence check"))
	if _, _, err := h.B.HandleExistenceCheck(ctx, &logical.Request{Operation: logical.CreateOperation, Path: "roles/r",
		Storage: h.Storage}); !status500(err) {
		t.Errorf("existence check: %v, want a 500", err)
	}
	h.B.InjectPanic(only("invalidate"))
	h.B.InvalidateKey(ctx, "roles/r")
	h.B.InjectPanic(only("initialize"))
	if err := h.B.Initialize(ctx, &logical.InitializationRequest{Storage: h.Storage}); err == nil {
		t.Error("initialize: no error from a panic")
	}

	// Each periodic task is guarded alone: a panic in one does not skip
	// the WAL rollback that follows.
	wal, err := framework.PutWAL(ctx, h.Storage, "upstream_token", map[string]any{"config": "c", "role": "r"})
	if err != nil {
		t.Fatal(err)
	}
	rollback := func() error {
		resp, err := h.B.HandleRequest(ctx, &logical.Request{Operation: logical.RollbackOperation, Path: "",
			Storage: h.Storage, Data: map[string]any{"immediate": true}})
		if err == nil && resp.IsError() {
			err = resp.Error()
		}
		return err
	}
	h.B.InjectPanic(only("periodic"))
	if err := rollback(); err == nil || h.Stored(framework.WALPrefix+wal) {
		t.Errorf("a periodic task's panic: err=%v, WAL entry rolled back: %v", err, !h.Stored(framework.WALPrefix+wal))
	}
	wal, _ = framework.PutWAL(ctx, h.Storage, "upstream_token", map[string]any{"config": "c", "role": "r"})
	h.B.InjectPanic(only("WAL rollback"))
	if err := rollback(); err == nil || !h.Stored(framework.WALPrefix+wal) {
		t.Errorf("a rollback's panic: err=%v; the entry must stay for the next try", err)
	}
	h.B.InjectPanic(only("cleanup"))
	h.B.Cleanup(ctx)

	h.B.InjectPanic(nil)
	if err := rollback(); err != nil || h.Stored(framework.WALPrefix+wal) {
		t.Errorf("the rollback after the panic: err=%v, entry kept: %v", err, h.Stored(framework.WALPrefix+wal))
	}
	h.MustRead("creds/r")
	if n := strings.Count(h.Logs.String(), "recovered from a panic"); n < 8 {
		t.Errorf("%d panics logged, want 8", n)
	}
}

// A panic in one static role's rotation, from the ticker or Vault's
// periodic call, leaves the ticker running and the role scheduled.
func TestPanicInARotationKeepsTheTickerAndTheRole(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("static-roles/s", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID, "rotation_period": "60s"})
	first := h.StaticToken("s")
	s, armed := h.Panicky("static-roles/")
	ctx := context.Background()
	if err := h.B.Initialize(ctx, &logical.InitializationRequest{Storage: s}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.B.Cleanup(ctx) })
	h.Clock.Advance(61 * time.Second)
	plugintest.WaitFor(t, "the ticker's panic", func() bool { return strings.Contains(h.Logs.String(), "recovered from a panic") })
	armed.Store(false)
	if h.StaticToken("s") != first {
		t.Fatal("rotated while every rotation panicked")
	}
	h.Clock.Advance(31 * time.Second)
	plugintest.WaitFor(t, "a rotation by the ticker after the panic", func() bool {
		resp, err := h.Read("static-creds/s")
		return err == nil && !resp.IsError() && resp.Data["access_token"] != first
	})
	h.Secrets = append(h.Secrets, h.MustRead("static-creds/s").Data["access_token"].(string))
}
