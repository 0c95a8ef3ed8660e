package lifecycle_test

import (
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// Renew extends upstream only when the renewed lease would outlive the
// token: CDP documents extend for a token about to expire.
func TestCDPRenewExtendsOnlyWhenTheLeaseWouldOutliveTheToken(t *testing.T) {
	h := plugintest.New(t)
	h.CDPShortSetup()
	issued := h.Clock.Now()
	lease := h.MustRead("creds/sync")
	tok := lease.Data["access_token"].(string)
	before, _ := h.Emu.Token(tok)

	h.Clock.Advance(30 * time.Minute) // 90 minutes left: a 1 h lease fits
	calls := h.Emu.Requests("/token")
	r, err := h.Renew(lease, issued)
	if err != nil || r.IsError() || r.Secret.TTL != time.Hour || h.Emu.Requests("/token") != calls {
		t.Fatalf("renew within the token's life: %v %v, TTL %v, %d upstream calls", err, plugintest.ErrText(r), r.Secret.TTL, h.Emu.Requests("/token")-calls)
	}
	h.Clock.Advance(40 * time.Minute) // 50 minutes left
	r, err = h.Renew(lease, issued)
	if err != nil || r.IsError() || r.Secret.TTL != time.Hour {
		t.Fatalf("renew near the token's end: %v %v", err, plugintest.ErrText(r))
	}
	if after, _ := h.Emu.Token(tok); !after.ExpiresAt.After(before.ExpiresAt) {
		t.Error("the renew near the token's end did not extend it")
	}
}

// Extend refused outside a window before expiry (undocumented: a switch):
// the renew runs the lease to the token's expiry and says so; a renew
// inside the window extends.
func TestCDPExtendRefusedOutsideItsWindow(t *testing.T) {
	h := plugintest.New(t)
	h.CDPShortSetup()
	h.Emu.SetCDPExtend(emulator.CDPExtend{Window: 10 * time.Minute})
	issued := h.Clock.Now()
	lease := h.MustRead("creds/sync")
	h.Clock.Advance(70 * time.Minute) // 50 minutes left, outside the window
	r, err := h.Renew(lease, issued)
	if err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, plugintest.ErrText(r))
	}
	if r.Secret.TTL != 50*time.Minute || !strings.Contains(strings.Join(r.Warnings, " "), "did not extend") {
		t.Errorf("TTL %s, warnings %v; want the lease cut to the token's expiry, and a warning", r.Secret.TTL, r.Warnings)
	}
	h.Clock.Advance(45 * time.Minute) // 5 minutes left, inside the window
	r, err = h.Renew(lease, issued)
	if err != nil || r.IsError() || r.Secret.TTL != time.Hour {
		t.Errorf("renew inside the window: %v %v, TTL %v", err, plugintest.ErrText(r), r.Secret.TTL)
	}
}

// Extend answering a new token: the lease adopts it, it is tracked, the
// previous one is deleted upstream, and the lease's revoke deletes the new
// one. Nothing is left untracked.
func TestCDPExtendAnsweringANewToken(t *testing.T) {
	h := plugintest.New(t)
	h.CDPShortSetup()
	h.Emu.SetCDPExtend(emulator.CDPExtend{NewToken: true})
	issued := h.Clock.Now()
	lease := h.MustRead("creds/sync")
	old := lease.Data["access_token"].(string)
	h.Clock.Advance(70 * time.Minute)
	r, err := h.Renew(lease, issued)
	if err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, plugintest.ErrText(r))
	}
	next, _ := r.Secret.InternalData["access_token"].(string)
	h.Secrets = append(h.Secrets, next)
	if next == "" || next == old || !h.Emu.TokenLive(next) || h.Emu.TokenLive(old) {
		t.Fatal("the lease does not hold the new live token, or the old one lives")
	}
	if r.Secret.TTL != time.Hour || !strings.Contains(strings.Join(r.Warnings, " "), "new token") {
		t.Errorf("TTL %s, warnings %v", r.Secret.TTL, r.Warnings)
	}
	if n := h.CDPLive(); n != 1 {
		t.Errorf("%d live tokens upstream, want the new one", n)
	}
	// Two reads fill max_tokens=2 only if the new token is counted once.
	h.MustRead("creds/sync")
	if msg, ok := plugintest.BadRequest(h.Read("creds/sync")); !ok || !strings.Contains(msg, "max_tokens") {
		t.Errorf("a third token: %q, want max_tokens", msg)
	}
	if _, err := h.Revoke(r); err != nil {
		t.Fatal(err)
	}
	if h.Emu.TokenLive(next) {
		t.Error("the lease's revoke left its adopted token alive")
	}
}

// Extend answering no body: the lease keeps the token's known expiry.
func TestCDPExtendAnsweringNoBody(t *testing.T) {
	h := plugintest.New(t)
	h.CDPShortSetup()
	h.Emu.SetCDPExtend(emulator.CDPExtend{NoBody: true})
	issued := h.Clock.Now()
	lease := h.MustRead("creds/sync")
	h.Clock.Advance(70 * time.Minute)
	r, err := h.Renew(lease, issued)
	if err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, plugintest.ErrText(r))
	}
	if r.Secret.TTL != 50*time.Minute || !strings.Contains(strings.Join(r.Warnings, " "), "without saying until when") {
		t.Errorf("TTL %s, warnings %v; want the known expiry kept, and a warning", r.Secret.TTL, r.Warnings)
	}
}
