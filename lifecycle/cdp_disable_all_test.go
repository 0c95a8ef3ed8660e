package lifecycle_test

import (
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// token_limit_mode=disable_all: the tenant disables every earlier token of
// the user on each create. max_tokens must be 1 (its default there), a
// create is refused while CDP shows a live token Vault does not hold, and
// the config serves leases or one static role, not both.
func TestCDPDisableAllLeases(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.SetCDPCreateDisablesAll(true)
	h.Emu.AddCDPUser(emulator.CDPUser{Username: plugintest.CDPUser, Password: plugintest.CDPPass, MaxTokens: plugintest.CDPTenantLimit,
		PasswordExpiry: h.Clock.Now().Add(365 * 24 * time.Hour)})
	h.Secrets = append(h.Secrets, plugintest.CDPPass)
	base := map[string]any{"provider": "cdp", "username": plugintest.CDPUser, "password": plugintest.CDPPass, "base_url": h.Emu.URL()}
	with := func(extra map[string]any) map[string]any {
		d := map[string]any{}
		for k, v := range base {
			d[k] = v
		}
		for k, v := range extra {
			d[k] = v
		}
		return d
	}
	if msg, ok := plugintest.BadRequest(h.Write("config/cdp", with(map[string]any{"token_limit_mode": "disable_all", "max_tokens": 2}))); !ok ||
		!strings.HasPrefix(msg, "max_tokens: must be 1") {
		t.Errorf("disable_all with max_tokens 2: %q", msg)
	}
	if msg, ok := plugintest.BadRequest(h.Write("config/cdp", with(map[string]any{"token_limit_mode": "some"}))); !ok ||
		!strings.HasPrefix(msg, "token_limit_mode:") {
		t.Errorf("an unknown mode: %q", msg)
	}
	if h.Stored("config/cdp") {
		t.Fatal("a refused write stored the config")
	}
	h.MustWrite("config/cdp", with(map[string]any{"token_limit_mode": "disable_all"}))
	if d := h.MustRead("config/cdp").Data; d["max_tokens"] != 1 || d["token_limit_mode"] != "disable_all" {
		t.Errorf("config reads max_tokens %v, token_limit_mode %v; want 1 and disable_all", d["max_tokens"], d["token_limit_mode"])
	}
	h.MustWrite("roles/sync", map[string]any{"config": "cdp", "ttl": "1h"})

	// CDP made a token with the user: a create would disable it.
	initial := h.Emu.CDPInitialToken(plugintest.CDPUser)
	if msg, ok := plugintest.BadRequest(h.Read("creds/sync")); !ok || !strings.Contains(msg, "token_limit_mode=disable_all") ||
		!strings.Contains(msg, "revoke-all") {
		t.Errorf("a read while CDP shows another token: %q", msg)
	}
	if !h.Emu.TokenLive(initial) {
		t.Fatal("the refused read disabled the user's own token")
	}
	h.MustWrite("config/cdp/revoke-all", nil)
	lease := h.MustRead("creds/sync")
	if msg, ok := plugintest.BadRequest(h.Read("creds/sync")); !ok || !strings.Contains(msg, "max_tokens") {
		t.Errorf("a second lease: %q, want max_tokens", msg)
	}
	if !h.Emu.TokenLive(lease.Data["access_token"].(string)) {
		t.Error("the lease's token is not live")
	}
	// Leases or one static role, not both.
	if msg, ok := plugintest.BadRequest(h.Write("static-roles/feed", map[string]any{"config": "cdp"})); !ok || !strings.HasPrefix(msg, "config:") {
		t.Errorf("a static role beside leases: %q", msg)
	}
}

// A static role on a disable_all tenant: each rotation's create disables
// the previous token, so it is retired with no grace period, the rotation
// says so, and max_tokens 1 is enough to rotate.
func TestCDPDisableAllStaticRole(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.SetCDPCreateDisablesAll(true)
	h.Emu.AddCDPUser(emulator.CDPUser{Username: plugintest.CDPUser, Password: plugintest.CDPPass, MaxTokens: plugintest.CDPTenantLimit,
		PasswordExpiry: h.Clock.Now().Add(365 * 24 * time.Hour)})
	h.Secrets = append(h.Secrets, plugintest.CDPPass)
	h.Emu.DeleteCDPTokens(plugintest.CDPUser)
	h.MustWrite("config/cdp", map[string]any{"provider": "cdp", "username": plugintest.CDPUser, "password": plugintest.CDPPass,
		"base_url": h.Emu.URL(), "token_limit_mode": "disable_all"})
	h.MustWrite("static-roles/feed", map[string]any{"config": "cdp"})
	first := h.StaticToken("feed")
	if msg, ok := plugintest.BadRequest(h.Write("roles/sync", map[string]any{"config": "cdp"})); !ok || !strings.HasPrefix(msg, "config:") {
		t.Errorf("a role beside the static role: %q", msg)
	}
	for i := range 2 {
		resp := h.MustWrite("rotate-role/feed", nil)
		if resp == nil || !strings.Contains(strings.Join(resp.Warnings, " "), "no grace period") {
			t.Errorf("rotation %d: warnings %v, want the previous token's end said", i+1, resp)
		}
		next := h.StaticToken("feed")
		if next == first || !h.Emu.TokenLive(next) || h.Emu.TokenLive(first) {
			t.Fatalf("rotation %d: the new token must live and the previous be dead", i+1)
		}
		if n := h.CDPLive(); n != 1 {
			t.Errorf("rotation %d: %d live tokens upstream, want 1", i+1, n)
		}
		first = next
	}
}
