package backend_test

import (
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// The CDP behaviours no two sources agree on, each an emulator setting the
// plugin is run against.

func (h *harness) cdpConfigData(extra map[string]any) map[string]any {
	d := map[string]any{"provider": "cdp", "username": cdpUser, "password": cdpPass, "base_url": h.emu.URL()}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

// TestCDPUsersOwnTokenAndTheDefaultLimit: CDP makes a token when it
// creates the user and allows 3 on PROD. verify says the user holds one,
// and the default max_tokens (2) leaves room for it, so the plugin never
// disables it; on a tenant where every create disables every earlier
// token, verify says that may happen and leases whose token went cope.
func TestCDPUsersOwnTokenAndTheDefaultLimit(t *testing.T) {
	for _, disablesAll := range []bool{false, true} {
		name := "create disables past the limit"
		if disablesAll {
			name = "create disables every earlier token"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.emu.SetCDPCreateDisablesAll(disablesAll)
			h.emu.AddCDPUser(emulator.CDPUser{Username: cdpUser, Password: cdpPass, MaxTokens: 3})
			h.secrets = append(h.secrets, cdpPass)
			resp := h.mustWrite("config/cdp", h.cdpConfigData(nil))
			if resp == nil || !strings.Contains(strings.Join(resp.Warnings, " "), "already holds at least 1 live token") ||
				!strings.Contains(strings.Join(resp.Warnings, " "), "max_tokens (2)") {
				t.Fatalf("verify of a user holding a token: warnings %v", resp)
			}
			if d := h.mustRead("config/cdp").Data; d["max_tokens"] != 2 {
				t.Errorf("default max_tokens %v, want 2", d["max_tokens"])
			}
			h.mustWrite("roles/sync", map[string]any{"config": "cdp"})
			first := h.mustRead("creds/sync")
			second := h.mustRead("creds/sync")
			msg, ok := badRequest(h.read("creds/sync"))
			if !ok || !strings.Contains(msg, "max_tokens") {
				t.Fatalf("third read: %s", msg)
			}
			initialLive := h.emu.TokenLive(h.emu.CDPInitialToken(cdpUser))
			if !disablesAll {
				if !initialLive || h.emu.CDPDisabledByLimit() != 0 {
					t.Fatalf("the plugin disabled the user's own token (live %v, %d disabled)", initialLive, h.emu.CDPDisabledByLimit())
				}
				return
			}
			// Every create disabled the tokens before it: the first lease's
			// renew says its token is gone, and its revoke succeeds.
			if initialLive || h.emu.TokenLive(first.Data["access_token"].(string)) || !h.emu.TokenLive(second.Data["access_token"].(string)) {
				t.Fatal("the emulator did not disable every earlier token")
			}
			// Near its expiry a renew asks CDP to extend it.
			h.clock.Advance(180*24*time.Hour - 30*time.Minute)
			if msg, ok := badRequest(h.renew(first, h.clock.Now())); !ok || !strings.Contains(msg, "no longer exists") {
				t.Errorf("renew of a disabled token: %s", msg)
			}
			if r, err := h.revoke(first); err != nil || (r != nil && r.IsError()) {
				t.Errorf("revoke of a disabled token: %v %v", err, errText(r))
			}
		})
	}
	// A user without tokens: no warning.
	h := newHarness(t)
	h.emu.AddCDPUser(emulator.CDPUser{Username: cdpUser, Password: cdpPass})
	h.secrets = append(h.secrets, cdpPass)
	h.emu.DeleteCDPTokens(cdpUser)
	if resp := h.mustWrite("config/cdp", h.cdpConfigData(nil)); resp != nil && len(resp.Warnings) != 0 {
		t.Errorf("verify of a user without tokens warns: %v", resp.Warnings)
	}
}

// TestCDPAnswerWithoutExpiresIn: without expires_in a token is taken to
// live 90 days, the shortest documented lifetime (Customer Sandbox).
func TestCDPAnswerWithoutExpiresIn(t *testing.T) {
	h := newHarness(t)
	h.cdpSetup(2, h.clock.Now().Add(365*24*time.Hour))
	h.emu.SetCDPAnswer(emulator.CDPAnswer{OmitExpiresIn: true})
	h.mustWrite("roles/sync", map[string]any{"config": "cdp", "ttl": "1h", "max_ttl": "4000h"})
	issued := h.clock.Now()
	resp := h.mustRead("creds/sync")
	want := issued.Add(90 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if resp.Data["expires_at"] != want {
		t.Errorf("expires_at %v, want %s (90 days)", resp.Data["expires_at"], want)
	}
	// An extend answer without expires_in too (near the expiry, where a
	// renew extends).
	h.clock.Advance(90*24*time.Hour - 30*time.Minute)
	r, err := h.renew(resp, issued)
	if err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, errText(r))
	}
	if got, _ := r.Secret.InternalData["expires_at"].(string); !strings.HasPrefix(got, h.clock.Now().Add(90*24*time.Hour).UTC().Format("2006-01-02T15:04:05")) {
		t.Errorf("renewed expiry %s, want 90 days from the extend", got)
	}
}

// TestCDPVerifyWhenTheUserHoldsNoToken: what retrieve answers a user
// without a token is undocumented; each answer gives a clear result, and
// wrong credentials are still refused.
func TestCDPVerifyWhenTheUserHoldsNoToken(t *testing.T) {
	for _, status := range []int{404, 200, 401} {
		t.Run(noTokenCase(status), func(t *testing.T) {
			h := newHarness(t)
			h.emu.SetCDPNoTokenStatus(status)
			h.emu.AddCDPUser(emulator.CDPUser{Username: cdpUser, Password: cdpPass})
			h.secrets = append(h.secrets, cdpPass)
			h.emu.DeleteCDPTokens(cdpUser)
			resp := h.mustWrite("config/cdp", h.cdpConfigData(nil))
			if resp != nil && len(resp.Warnings) != 0 {
				t.Errorf("warnings %v", resp.Warnings)
			}
			if n := len(h.emu.LiveTokens("cdp")) + len(h.emu.LiveTokens("cdp-session")); n != 0 {
				t.Errorf("verify left %d tokens or sessions live", n)
			}
			msg, ok := badRequest(h.write("config/bad", h.cdpConfigData(map[string]any{"password": "wrong"})))
			if !ok || !strings.Contains(msg, "401") || !strings.Contains(msg, "username/password") {
				t.Errorf("wrong password: %s", msg)
			}
			if h.stored("config/bad") {
				t.Error("stored a config whose credentials failed")
			}
		})
	}
}

func noTokenCase(status int) string {
	return map[int]string{404: "404 NOT_FOUND", 200: "200 empty", 401: "401 INVALID_TOKEN"}[status]
}

// TestCDPRevokeAllOfAUserWithoutTokens: nothing left to delete is done,
// whatever CDP answers for it.
func TestCDPRevokeAllOfAUserWithoutTokens(t *testing.T) {
	for _, status := range []int{404, 200, 401} {
		t.Run(noTokenCase(status), func(t *testing.T) {
			h := newHarness(t)
			h.emu.SetCDPNoTokenStatus(status)
			h.cdpSetup(2, h.clock.Now().Add(365*24*time.Hour))
			h.mustRead("creds/sync")
			h.mustWrite("config/cdp/revoke-all", nil)
			if n := len(h.emu.LiveTokens("cdp")); n != 0 {
				t.Fatalf("%d tokens live after revoke-all", n)
			}
			if resp, err := h.write("config/cdp/revoke-all", nil); err != nil || resp.IsError() {
				t.Errorf("revoke-all of a user without tokens: %v %v", err, errText(resp))
			}
		})
	}
}

// TestCDPPasswordExpiryDateForms: passwordExpiryDate in the ISO 8601 forms
// a tenant may send still warns ahead of the expiry; one that cannot be
// read is logged, not dropped silently.
func TestCDPPasswordExpiryDateForms(t *testing.T) {
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04:05.000", time.RFC3339, time.RFC3339Nano,
		"2006-01-02T15:04:05.000-07:00", "2006-01-02T15:04:05-0700", "2006-01-02"} {
		t.Run(layout, func(t *testing.T) {
			h := newHarness(t)
			h.emu.SetCDPAnswer(emulator.CDPAnswer{PasswordExpiryLayout: layout})
			h.cdpSetup(2, h.clock.Now().Add(5*24*time.Hour))
			resp := h.mustRead("creds/sync")
			if !strings.Contains(strings.Join(resp.Warnings, " "), "password expires on") {
				t.Errorf("passwordExpiryDate %v: warnings %v", resp.Data["password_expiry_date"], resp.Warnings)
			}
		})
	}
	h := newHarness(t)
	h.emu.SetCDPAnswer(emulator.CDPAnswer{PasswordExpiryLayout: "01/02/2006"})
	h.cdpSetup(2, h.clock.Now().Add(5*24*time.Hour))
	h.mustRead("creds/sync")
	h.mustRead("creds/sync")
	if n := strings.Count(h.logs.String(), "cannot read the integration user's passwordExpiryDate"); n != 1 {
		t.Errorf("an unreadable passwordExpiryDate was logged %d times, want once a day", n)
	}
}

// TestCDPAnswerFieldForms: expires_in as a string and a numeric tenantId
// read as the documented forms do.
func TestCDPAnswerFieldForms(t *testing.T) {
	h := newHarness(t)
	h.emu.AddCDPUser(emulator.CDPUser{Username: cdpUser, Password: cdpPass, TenantID: "7123", MaxTokens: 3})
	h.secrets = append(h.secrets, cdpPass)
	h.emu.SetCDPAnswer(emulator.CDPAnswer{ExpiresInString: true, NumericTenantID: true})
	h.mustWrite("config/cdp", h.cdpConfigData(nil))
	h.mustWrite("roles/sync", map[string]any{"config": "cdp"})
	issued := h.clock.Now()
	resp := h.mustRead("creds/sync")
	if resp.Data["tenant_id"] != "7123" || resp.Data["expires_at"] != issued.Add(180*24*time.Hour).UTC().Format(time.RFC3339) {
		t.Errorf("tenant_id %v, expires_at %v", resp.Data["tenant_id"], resp.Data["expires_at"])
	}
}

// TestCDPCallsCarryNoBody: the vendor's POST and DELETE requests have no
// body; against a server that refuses one, every call still works.
func TestCDPCallsCarryNoBody(t *testing.T) {
	h := newHarness(t)
	h.emu.SetCDPRefuseBody(true)
	h.emu.SetCDPNoTokenStatus(401) // verify then also logs in and out
	h.emu.AddCDPUser(emulator.CDPUser{Username: cdpUser, Password: cdpPass, MaxTokens: 3})
	h.secrets = append(h.secrets, cdpPass)
	h.emu.DeleteCDPTokens(cdpUser)
	h.mustWrite("config/cdp", h.cdpConfigData(nil))
	h.mustWrite("roles/sync", map[string]any{"config": "cdp", "ttl": "1h"})
	issued := h.clock.Now()
	resp := h.mustRead("creds/sync")
	h.clock.Advance(time.Hour)
	if r, err := h.renew(resp, issued); err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, errText(r))
	}
	if r, err := h.revoke(resp); err != nil || (r != nil && r.IsError()) {
		t.Fatalf("revoke: %v %v", err, errText(r))
	}
	if h.emu.TokenLive(resp.Data["access_token"].(string)) {
		t.Error("the lease's token is live after revoke")
	}
	h.mustRead("creds/sync")
	h.mustWrite("config/cdp/revoke-all", nil)
	if n := len(h.emu.LiveTokens("cdp")); n != 0 {
		t.Errorf("%d tokens live after revoke-all", n)
	}
}
