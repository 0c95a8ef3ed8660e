package plugintest

import (
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// cdpShortSetup: a CDP user whose tokens live 2 h, and a role with 1 h
// leases, so renews reach the token's end.
func (h *Harness) CDPShortSetup() {
	h.T.Helper()
	h.Emu.AddCDPUser(emulator.CDPUser{Username: CDPUser, Password: CDPPass, TenantID: "t", UserType: "CLIENT",
		PasswordExpiry: h.Clock.Now().Add(365 * 24 * time.Hour), MaxTokens: 3, Lifetime: 2 * time.Hour})
	h.Secrets = append(h.Secrets, CDPPass)
	h.MustWrite("config/cdp", map[string]any{"provider": "cdp", "username": CDPUser, "password": CDPPass,
		"base_url": h.Emu.URL(), "max_tokens": 2})
	h.MustWrite("roles/sync", map[string]any{"config": "cdp", "ttl": "1h", "max_ttl": "24h"})
}

const (
	CDPUser = "tracker_test01"
	CDPPass = "p@ss:word+/=with spaces"
)

// cdpSetup adds a CDP user whose tenant allows maxTokens+1 tokens: the
// one CDP made when it created the user, and maxTokens for the plugin.
// cdpTenantLimit is the tokens CDP lets a user hold on PROD and UAT
// tenants (5 on Customer Sandbox), whatever max_tokens says: tests run
// against the documented tenant, not one sized to the config.
const CDPTenantLimit = 3

func (h *Harness) CDPSetup(maxTokens int, expiry time.Time) {
	h.T.Helper()
	h.Emu.AddCDPUser(emulator.CDPUser{Username: CDPUser, Password: CDPPass, TenantID: "tenant-7", UserType: "CLIENT",
		PasswordExpiry: expiry, MaxTokens: CDPTenantLimit})
	h.Secrets = append(h.Secrets, CDPPass)
	h.MustWrite("config/cdp", map[string]any{"provider": "cdp", "username": CDPUser, "password": CDPPass,
		"base_url": h.Emu.URL(), "api_url": "https://api6.agilone.com", "max_tokens": maxTokens})
	h.MustWrite("roles/sync", map[string]any{"config": "cdp", "ttl": "1h", "max_ttl": "3h"})
}

// cdpLive counts the user's live tokens but the one CDP made for it.
func (h *Harness) CDPLive() int {
	n := 0
	for _, t := range h.Emu.LiveTokens("cdp") {
		if t.Value != h.Emu.CDPInitialToken(t.ClientID) {
			n++
		}
	}
	return n
}

func (h *Harness) CDPConfigData(extra map[string]any) map[string]any {
	d := map[string]any{"provider": "cdp", "username": CDPUser, "password": CDPPass, "base_url": h.Emu.URL()}
	for k, v := range extra {
		d[k] = v
	}
	return d
}
