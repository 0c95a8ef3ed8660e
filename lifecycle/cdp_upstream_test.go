package lifecycle_test

import (
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// The CDP behaviours no two sources agree on, each an emulator setting the
// plugin is run against.

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
			h := plugintest.New(t)
			h.Emu.SetCDPCreateDisablesAll(disablesAll)
			h.Emu.AddCDPUser(emulator.CDPUser{Username: plugintest.CDPUser, Password: plugintest.CDPPass, MaxTokens: 3})
			h.Secrets = append(h.Secrets, plugintest.CDPPass)
			resp := h.MustWrite("config/cdp", h.CDPConfigData(nil))
			if resp == nil || !strings.Contains(strings.Join(resp.Warnings, " "), "already holds at least 1 live token") ||
				!strings.Contains(strings.Join(resp.Warnings, " "), "max_tokens (2)") {
				t.Fatalf("verify of a user holding a token: warnings %v", resp)
			}
			if d := h.MustRead("config/cdp").Data; d["max_tokens"] != 2 {
				t.Errorf("default max_tokens %v, want 2", d["max_tokens"])
			}
			h.MustWrite("roles/sync", map[string]any{"config": "cdp"})
			first := h.MustRead("creds/sync")
			second := h.MustRead("creds/sync")
			msg, ok := plugintest.BadRequest(h.Read("creds/sync"))
			if !ok || !strings.Contains(msg, "max_tokens") {
				t.Fatalf("third read: %s", msg)
			}
			initialLive := h.Emu.TokenLive(h.Emu.CDPInitialToken(plugintest.CDPUser))
			if !disablesAll {
				if !initialLive || h.Emu.CDPDisabledByLimit() != 0 {
					t.Fatalf("the plugin disabled the user's own token (live %v, %d disabled)", initialLive, h.Emu.CDPDisabledByLimit())
				}
				return
			}
			// Every create disabled the tokens before it: the first lease's
			// renew says its token is gone, and its revoke succeeds.
			if initialLive || h.Emu.TokenLive(first.Data["access_token"].(string)) || !h.Emu.TokenLive(second.Data["access_token"].(string)) {
				t.Fatal("the emulator did not disable every earlier token")
			}
			// Near its expiry a renew asks CDP to extend it.
			h.Clock.Advance(180*24*time.Hour - 30*time.Minute)
			if msg, ok := plugintest.BadRequest(h.Renew(first, h.Clock.Now())); !ok || !strings.Contains(msg, "no longer exists") {
				t.Errorf("renew of a disabled token: %s", msg)
			}
			if r, err := h.Revoke(first); err != nil || (r != nil && r.IsError()) {
				t.Errorf("revoke of a disabled token: %v %v", err, plugintest.ErrText(r))
			}
		})
	}
	// A user without tokens: no warning.
	h := plugintest.New(t)
	h.Emu.AddCDPUser(emulator.CDPUser{Username: plugintest.CDPUser, Password: plugintest.CDPPass})
	h.Secrets = append(h.Secrets, plugintest.CDPPass)
	h.Emu.DeleteCDPTokens(plugintest.CDPUser)
	if resp := h.MustWrite("config/cdp", h.CDPConfigData(nil)); resp != nil && len(resp.Warnings) != 0 {
		t.Errorf("verify of a user without tokens warns: %v", resp.Warnings)
	}
}

// TestCDPAnswerWithoutExpiresIn: without expires_in a token is taken to
// live 90 days, the shortest documented lifetime (Customer Sandbox).
func TestCDPAnswerWithoutExpiresIn(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(2, h.Clock.Now().Add(365*24*time.Hour))
	h.Emu.SetCDPAnswer(emulator.CDPAnswer{OmitExpiresIn: true})
	h.MustWrite("roles/sync", map[string]any{"config": "cdp", "ttl": "1h", "max_ttl": "4000h"})
	issued := h.Clock.Now()
	resp := h.MustRead("creds/sync")
	want := issued.Add(90 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if resp.Data["expires_at"] != want {
		t.Errorf("expires_at %v, want %s (90 days)", resp.Data["expires_at"], want)
	}
	// An extend answer without expires_in too (near the expiry, where a
	// renew extends).
	h.Clock.Advance(90*24*time.Hour - 30*time.Minute)
	r, err := h.Renew(resp, issued)
	if err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, plugintest.ErrText(r))
	}
	if got, _ := r.Secret.InternalData["expires_at"].(string); !strings.HasPrefix(got, h.Clock.Now().Add(90*24*time.Hour).UTC().Format("2006-01-02T15:04:05")) {
		t.Errorf("renewed expiry %s, want 90 days from the extend", got)
	}
}

// TestCDPVerifyWhenTheUserHoldsNoToken: what retrieve answers a user
// without a token is undocumented; each answer gives a clear result, and
// wrong credentials are still refused.
func TestCDPVerifyWhenTheUserHoldsNoToken(t *testing.T) {
	for _, status := range []int{404, 200, 401} {
		t.Run(noTokenCase(status), func(t *testing.T) {
			h := plugintest.New(t)
			h.Emu.SetCDPNoTokenStatus(status)
			h.Emu.AddCDPUser(emulator.CDPUser{Username: plugintest.CDPUser, Password: plugintest.CDPPass})
			h.Secrets = append(h.Secrets, plugintest.CDPPass)
			h.Emu.DeleteCDPTokens(plugintest.CDPUser)
			resp := h.MustWrite("config/cdp", h.CDPConfigData(nil))
			if resp != nil && len(resp.Warnings) != 0 {
				t.Errorf("warnings %v", resp.Warnings)
			}
			if n := len(h.Emu.LiveTokens("cdp")) + len(h.Emu.LiveTokens("cdp-session")); n != 0 {
				t.Errorf("verify left %d tokens or sessions live", n)
			}
			msg, ok := plugintest.BadRequest(h.Write("config/bad", h.CDPConfigData(map[string]any{"password": "wrong"})))
			if !ok || !strings.Contains(msg, "401") || !strings.Contains(msg, "username/password") {
				t.Errorf("wrong password: %s", msg)
			}
			if h.Stored("config/bad") {
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
			h := plugintest.New(t)
			h.Emu.SetCDPNoTokenStatus(status)
			h.CDPSetup(2, h.Clock.Now().Add(365*24*time.Hour))
			h.MustRead("creds/sync")
			h.MustWrite("config/cdp/revoke-all", nil)
			if n := len(h.Emu.LiveTokens("cdp")); n != 0 {
				t.Fatalf("%d tokens live after revoke-all", n)
			}
			if resp, err := h.Write("config/cdp/revoke-all", nil); err != nil || resp.IsError() {
				t.Errorf("revoke-all of a user without tokens: %v %v", err, plugintest.ErrText(resp))
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
			h := plugintest.New(t)
			h.Emu.SetCDPAnswer(emulator.CDPAnswer{PasswordExpiryLayout: layout})
			h.CDPSetup(2, h.Clock.Now().Add(5*24*time.Hour))
			resp := h.MustRead("creds/sync")
			if !strings.Contains(strings.Join(resp.Warnings, " "), "password expires on") {
				t.Errorf("passwordExpiryDate %v: warnings %v", resp.Data["password_expiry_date"], resp.Warnings)
			}
		})
	}
	h := plugintest.New(t)
	h.Emu.SetCDPAnswer(emulator.CDPAnswer{PasswordExpiryLayout: "01/02/2006"})
	h.CDPSetup(2, h.Clock.Now().Add(5*24*time.Hour))
	h.MustRead("creds/sync")
	h.MustRead("creds/sync")
	if n := strings.Count(h.Logs.String(), "cannot read the integration user's passwordExpiryDate"); n != 1 {
		t.Errorf("an unreadable passwordExpiryDate was logged %d times, want once a day", n)
	}
}

// TestCDPAnswerFieldForms: expires_in as a string and a numeric tenantId
// read as the documented forms do.
func TestCDPAnswerFieldForms(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.AddCDPUser(emulator.CDPUser{Username: plugintest.CDPUser, Password: plugintest.CDPPass, TenantID: "7123", MaxTokens: 3})
	h.Secrets = append(h.Secrets, plugintest.CDPPass)
	h.Emu.SetCDPAnswer(emulator.CDPAnswer{ExpiresInString: true, NumericTenantID: true})
	h.MustWrite("config/cdp", h.CDPConfigData(nil))
	h.MustWrite("roles/sync", map[string]any{"config": "cdp"})
	issued := h.Clock.Now()
	resp := h.MustRead("creds/sync")
	if resp.Data["tenant_id"] != "7123" || resp.Data["expires_at"] != issued.Add(180*24*time.Hour).UTC().Format(time.RFC3339) {
		t.Errorf("tenant_id %v, expires_at %v", resp.Data["tenant_id"], resp.Data["expires_at"])
	}
}

// TestCDPCallsCarryNoBody: the vendor's POST and DELETE requests have no
// body; against a server that refuses one, every call still works.
func TestCDPCallsCarryNoBody(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.SetCDPRefuseBody(true)
	h.Emu.SetCDPNoTokenStatus(401) // verify then also logs in and out
	h.Emu.AddCDPUser(emulator.CDPUser{Username: plugintest.CDPUser, Password: plugintest.CDPPass, MaxTokens: 3})
	h.Secrets = append(h.Secrets, plugintest.CDPPass)
	h.Emu.DeleteCDPTokens(plugintest.CDPUser)
	h.MustWrite("config/cdp", h.CDPConfigData(nil))
	h.MustWrite("roles/sync", map[string]any{"config": "cdp", "ttl": "1h"})
	issued := h.Clock.Now()
	resp := h.MustRead("creds/sync")
	h.Clock.Advance(time.Hour)
	if r, err := h.Renew(resp, issued); err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, plugintest.ErrText(r))
	}
	if r, err := h.Revoke(resp); err != nil || (r != nil && r.IsError()) {
		t.Fatalf("revoke: %v %v", err, plugintest.ErrText(r))
	}
	if h.Emu.TokenLive(resp.Data["access_token"].(string)) {
		t.Error("the lease's token is live after revoke")
	}
	h.MustRead("creds/sync")
	h.MustWrite("config/cdp/revoke-all", nil)
	if n := len(h.Emu.LiveTokens("cdp")); n != 0 {
		t.Errorf("%d tokens live after revoke-all", n)
	}
}
