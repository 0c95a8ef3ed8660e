package backend_test

import (
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// cdpShortSetup: a CDP user whose tokens live 2 h, and a role with 1 h
// leases, so renews reach the token's end.
func (h *harness) cdpShortSetup() {
	h.t.Helper()
	h.emu.AddCDPUser(emulator.CDPUser{Username: cdpUser, Password: cdpPass, TenantID: "t", UserType: "CLIENT",
		PasswordExpiry: h.clock.Now().Add(365 * 24 * time.Hour), MaxTokens: 3, Lifetime: 2 * time.Hour})
	h.secrets = append(h.secrets, cdpPass)
	h.mustWrite("config/cdp", map[string]any{"provider": "cdp", "username": cdpUser, "password": cdpPass,
		"base_url": h.emu.URL(), "max_tokens": 2})
	h.mustWrite("roles/sync", map[string]any{"config": "cdp", "ttl": "1h", "max_ttl": "24h"})
}

// Renew extends upstream only when the renewed lease would outlive the
// token: CDP documents extend for a token about to expire.
func TestCDPRenewExtendsOnlyWhenTheLeaseWouldOutliveTheToken(t *testing.T) {
	h := newHarness(t)
	h.cdpShortSetup()
	issued := h.clock.Now()
	lease := h.mustRead("creds/sync")
	tok := lease.Data["access_token"].(string)
	before, _ := h.emu.Token(tok)

	h.clock.Advance(30 * time.Minute) // 90 minutes left: a 1 h lease fits
	calls := h.emu.Requests("/token")
	r, err := h.renew(lease, issued)
	if err != nil || r.IsError() || r.Secret.TTL != time.Hour || h.emu.Requests("/token") != calls {
		t.Fatalf("renew within the token's life: %v %v, TTL %v, %d upstream calls", err, errText(r), r.Secret.TTL, h.emu.Requests("/token")-calls)
	}
	h.clock.Advance(40 * time.Minute) // 50 minutes left
	r, err = h.renew(lease, issued)
	if err != nil || r.IsError() || r.Secret.TTL != time.Hour {
		t.Fatalf("renew near the token's end: %v %v", err, errText(r))
	}
	if after, _ := h.emu.Token(tok); !after.ExpiresAt.After(before.ExpiresAt) {
		t.Error("the renew near the token's end did not extend it")
	}
}

// Extend refused outside a window before expiry (undocumented: a switch):
// the renew runs the lease to the token's expiry and says so; a renew
// inside the window extends.
func TestCDPExtendRefusedOutsideItsWindow(t *testing.T) {
	h := newHarness(t)
	h.cdpShortSetup()
	h.emu.SetCDPExtend(emulator.CDPExtend{Window: 10 * time.Minute})
	issued := h.clock.Now()
	lease := h.mustRead("creds/sync")
	h.clock.Advance(70 * time.Minute) // 50 minutes left, outside the window
	r, err := h.renew(lease, issued)
	if err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, errText(r))
	}
	if r.Secret.TTL != 50*time.Minute || !strings.Contains(strings.Join(r.Warnings, " "), "did not extend") {
		t.Errorf("TTL %s, warnings %v; want the lease cut to the token's expiry, and a warning", r.Secret.TTL, r.Warnings)
	}
	h.clock.Advance(45 * time.Minute) // 5 minutes left, inside the window
	r, err = h.renew(lease, issued)
	if err != nil || r.IsError() || r.Secret.TTL != time.Hour {
		t.Errorf("renew inside the window: %v %v, TTL %v", err, errText(r), r.Secret.TTL)
	}
}

// Extend answering a new token: the lease adopts it, it is tracked, the
// previous one is deleted upstream, and the lease's revoke deletes the new
// one. Nothing is left untracked.
func TestCDPExtendAnsweringANewToken(t *testing.T) {
	h := newHarness(t)
	h.cdpShortSetup()
	h.emu.SetCDPExtend(emulator.CDPExtend{NewToken: true})
	issued := h.clock.Now()
	lease := h.mustRead("creds/sync")
	old := lease.Data["access_token"].(string)
	h.clock.Advance(70 * time.Minute)
	r, err := h.renew(lease, issued)
	if err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, errText(r))
	}
	next, _ := r.Secret.InternalData["access_token"].(string)
	h.secrets = append(h.secrets, next)
	if next == "" || next == old || !h.emu.TokenLive(next) || h.emu.TokenLive(old) {
		t.Fatal("the lease does not hold the new live token, or the old one lives")
	}
	if r.Secret.TTL != time.Hour || !strings.Contains(strings.Join(r.Warnings, " "), "new token") {
		t.Errorf("TTL %s, warnings %v", r.Secret.TTL, r.Warnings)
	}
	if n := h.cdpLive(); n != 1 {
		t.Errorf("%d live tokens upstream, want the new one", n)
	}
	// Two reads fill max_tokens=2 only if the new token is counted once.
	h.mustRead("creds/sync")
	if msg, ok := badRequest(h.read("creds/sync")); !ok || !strings.Contains(msg, "max_tokens") {
		t.Errorf("a third token: %q, want max_tokens", msg)
	}
	if _, err := h.revoke(r); err != nil {
		t.Fatal(err)
	}
	if h.emu.TokenLive(next) {
		t.Error("the lease's revoke left its adopted token alive")
	}
}

// Extend answering no body: the lease keeps the token's known expiry.
func TestCDPExtendAnsweringNoBody(t *testing.T) {
	h := newHarness(t)
	h.cdpShortSetup()
	h.emu.SetCDPExtend(emulator.CDPExtend{NoBody: true})
	issued := h.clock.Now()
	lease := h.mustRead("creds/sync")
	h.clock.Advance(70 * time.Minute)
	r, err := h.renew(lease, issued)
	if err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, errText(r))
	}
	if r.Secret.TTL != 50*time.Minute || !strings.Contains(strings.Join(r.Warnings, " "), "without saying until when") {
		t.Errorf("TTL %s, warnings %v; want the known expiry kept, and a warning", r.Secret.TTL, r.Warnings)
	}
}
