package paths_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// pluginOperations are the operation names the plugin sends (the rest of
// the emulator's names are requests a browser or a consumer makes).
func emulatorOperations(h *plugintest.Harness) map[string]float64 {
	out := map[string]float64{}
	for service, ops := range h.Emu.Operations() {
		for op, n := range ops {
			switch op {
			case "authorize", "discovery", "resource", "jsonapi", "unknown":
				continue
			}
			if service == "unknown" {
				continue
			}
			out[op] += float64(n)
		}
	}
	return out
}

func sameCounts(a, b map[string]float64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// TestMetricsCountWhatTheUpstreamSaw: the upstream requests a scrape counts,
// per operation, are the ones the emulator received, a retried 503
// included; the token, rotation and limit series follow the work done.
func TestMetricsCountWhatTheUpstreamSaw(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/deploy", map[string]any{"config": "c", "ttl": "1h"})
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/auth/oauth/token", Status: 503, Times: 1})
	issued := h.Clock.Now()
	lease := h.MustRead("creds/deploy")
	if _, err := h.Renew(lease, issued); err != nil {
		t.Fatal(err)
	}
	h.CDPSetup(2, h.Clock.Now().Add(365*24*time.Hour))
	cdpLease := h.MustRead("creds/sync")
	if resp, err := h.Revoke(cdpLease); err != nil || resp.IsError() {
		t.Fatalf("revoke: %v %v", err, plugintest.ErrText(resp))
	}
	h.MustRead("creds/sync")
	h.MustWrite("static-roles/shared", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID, "rotation_period": "60s"})
	h.StaticToken("shared")

	body := h.Scrape()
	plugin := plugintest.Samples(t, body, "vault_acquia_upstream_requests_total", "operation")
	if emu := emulatorOperations(h); !sameCounts(plugin, emu) {
		t.Fatalf("upstream requests by operation: plugin %v, emulator %v", plugin, emu)
	}
	if n := plugintest.Samples(t, body, "vault_acquia_upstream_requests_total", "", `outcome="5xx"`, `config="c"`)[""]; n != 1 {
		t.Errorf("the retried 503 counted %v times", n)
	}
	for _, c := range []struct {
		family string
		match  []string
		want   float64
	}{
		{"vault_acquia_tokens_minted_total", []string{`config="c"`}, 2}, // the lease, the static role
		{"vault_acquia_tokens_minted_total", []string{`config="cdp"`}, 2},
		{"vault_acquia_tokens_renewed_total", []string{`config="c"`}, 1},
		{"vault_acquia_tokens_revoked_total", []string{`config="cdp"`}, 1},
		{"vault_acquia_token_revoke_failures_total", []string{`config="cdp"`}, 0},
		{"vault_acquia_held_tokens", []string{`config="cdp"`}, 1},
		{"vault_acquia_max_tokens", []string{`config="cdp"`}, 2},
		{"vault_acquia_static_rotations_total", []string{`role="shared"`, `outcome="ok"`}, 1},
		{"vault_acquia_static_rotation_period_seconds", []string{`role="shared"`}, 60},
		{"vault_acquia_static_seconds_to_rotation", []string{`role="shared"`}, 60},
		{"vault_acquia_static_seconds_since_rotation", []string{`role="shared"`}, 0},
	} {
		if got := plugintest.Samples(t, body, c.family, "", c.match...)[""]; got != c.want {
			t.Errorf("%s%v = %v, want %v", c.family, c.match, got, c.want)
		}
	}

	// A failed rotation counts, and a deleted config leaves no series.
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/auth/oauth/token", Status: 503, Times: 1000})
	h.Clock.Advance(61 * time.Second)
	h.RotateDue()
	h.Emu.ClearFaults()
	body = h.Scrape()
	if got := plugintest.Samples(t, body, "vault_acquia_static_rotations_total", "", `role="shared"`, `outcome="failed"`)[""]; got != 1 {
		t.Errorf("failed rotations = %v, want 1", got)
	}
	if plugin, emu := plugintest.Samples(t, body, "vault_acquia_upstream_requests_total", "operation"), emulatorOperations(h); !sameCounts(plugin, emu) {
		t.Fatalf("after the failed rotation: plugin %v, emulator %v", plugin, emu)
	}
	h.MustWrite("roles/sync", map[string]any{"config": "c"})
	if _, err := h.Do(logical.UpdateOperation, "config/cdp/revoke-all", nil); err != nil {
		t.Fatal(err)
	}
	if resp, err := h.Do(logical.DeleteOperation, "config/cdp", nil); err != nil || resp.IsError() {
		t.Fatalf("config delete: %v %v", err, plugintest.ErrText(resp))
	}
	if body := h.Scrape(); strings.Contains(body, `config="cdp"`) {
		t.Error("a deleted config keeps its series")
	}
}

// TestConfigStatusShowsAFailingStaticRole: status names the issuer, the
// last success and failure with their status, the static role's error and
// next try, cloud's key age and next rotate-root, and cdp's held tokens.
func TestConfigStatusShowsAFailingStaticRole(t *testing.T) {
	h := plugintest.New(t)
	h.RotatableConfig("c", map[string]any{"rotation_period": "24h"})
	h.MustWrite("static-roles/shared", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID, "rotation_period": "60s"})
	h.StaticToken("shared")
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/auth/oauth/token", Status: 503, Times: 1000})
	h.Clock.Advance(61 * time.Second)
	h.RotateDue()
	h.Emu.ClearFaults()

	d := h.MustRead("config/c/status").Data
	if d["provider"] != "cloud" || !strings.HasSuffix(d["issuer"].(string), "/api/auth/oauth/token") {
		t.Errorf("provider, issuer: %v %v", d["provider"], d["issuer"])
	}
	ok, _ := d["last_success"].(map[string]any)
	if ok == nil || ok["operation"] != "token" || ok["status"] != 200 {
		t.Errorf("last_success = %v", d["last_success"])
	}
	failed, _ := d["last_failure"].(map[string]any)
	if failed == nil || failed["operation"] != "token" || failed["status"] != 503 || failed["outcome"] != "5xx" {
		t.Errorf("last_failure = %v", d["last_failure"])
	}
	role, _ := d["static_roles"].(map[string]any)["shared"].(map[string]any)
	if role == nil || !strings.Contains(role["last_error"].(string), "503") || role["last_error_at"] == "" ||
		role["next_rotation"] == "" || role["failures"] != 1 {
		t.Errorf("static role = %v", role)
	}
	if age := d["key_age"].(int64); age < 61 || age > 62 {
		t.Errorf("key_age = %d", age)
	}
	if d["rotate_root_by"] != "plugin" || d["next_rotate_root"] == "" {
		t.Errorf("rotate-root: %v %v", d["rotate_root_by"], d["next_rotate_root"])
	}
	if _, ok := d["held_tokens"]; ok {
		t.Error("a cloud config shows held_tokens")
	}
	if !strings.Contains(h.Logs.String(), `static role rotation failed`) || !strings.Contains(h.Logs.String(), "status=503") ||
		!strings.Contains(h.Logs.String(), "next_try=") {
		t.Error("the failed rotation's warn line lacks its status or next try")
	}

	h.CDPSetup(2, h.Clock.Now().Add(365*24*time.Hour))
	h.MustRead("creds/sync")
	d = h.MustRead("config/cdp/status").Data
	if d["held_tokens"] != 1 || d["max_tokens"] != 2 {
		t.Errorf("cdp held %v of %v", d["held_tokens"], d["max_tokens"])
	}
	if _, ok := d["key_age"]; ok {
		t.Error("a cdp config shows key_age")
	}
	if resp, err := h.Read("config/none/status"); err != nil || resp != nil {
		t.Errorf("status of a missing config: %v %v", resp, err)
	}
}

// TestRollbackFailureCountsAndLogs: a WAL rollback that fails counts as
// failed and logs one warn line naming its config, role and next try; one
// that succeeds counts as ok.
func TestRollbackFailureCountsAndLogs(t *testing.T) {
	h := plugintest.New(t)
	ctx := context.Background()
	// The config that minted it is gone: nothing can revoke the token yet.
	if _, err := framework.PutWAL(ctx, h.Storage, "upstream_token", map[string]any{"config": "gone", "role": "r",
		"token": "tok-of-gone", "expires_at": h.Clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	// An expired token is simply forgotten.
	if _, err := framework.PutWAL(ctx, h.Storage, "upstream_token", map[string]any{"config": "gone", "role": "r",
		"token": "tok-expired", "expires_at": h.Clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	_, _ = h.B.HandleRequest(ctx, &logical.Request{Operation: logical.RollbackOperation, Storage: h.Storage,
		Data: map[string]any{"immediate": true}})
	body := h.Scrape()
	for outcome, want := range map[string]float64{"failed": 1, "ok": 1} {
		if got := plugintest.Samples(t, body, "vault_acquia_wal_rollbacks_total", "", `kind="upstream_token"`, `outcome="`+outcome+`"`)[""]; got != want {
			t.Errorf("rollbacks %s = %v, want %v", outcome, got, want)
		}
	}
	var lines []string
	for _, l := range strings.Split(h.Logs.String(), "\n") {
		if strings.Contains(l, "WAL rollback failed") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "[WARN]") || !strings.Contains(lines[0], "config=gone") ||
		!strings.Contains(lines[0], "role=r") || !strings.Contains(lines[0], "next_try=") {
		t.Errorf("rollback failure lines: %q", lines)
	}
}
