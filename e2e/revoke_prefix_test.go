//go:build e2e

package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// TestRevokePrefixQueuedBoundsConnections: `vault lease revoke -prefix`
// as an operator types it (queued: Vault's revoke workers run up to 200
// revokes at once) against an upstream 50 ms away revokes every token
// upstream while the config holds at most 32 connections to it, reusing
// them, where it used to open one for nearly every lease.
func TestRevokePrefixQueuedBoundsConnections(t *testing.T) {
	v := startVault(t)
	u := v.emu.URL()
	v.mustCLI("write", "acquia/config/mass", "provider=oauth2", "auth_style=body", "client_id="+emulator.DemoOAuth2ClientID,
		"client_secret="+emulator.DemoOAuth2ClientSecret, "token_url="+u+"/oauth2/token", "revocation_url="+u+"/oauth2/revoke")
	v.mustCLI("write", "acquia/roles/mass", "config=mass", "ttl=1h")
	const n, bound = 400, 32
	c := &http.Client{Timeout: time.Minute}
	throughput(t, 8, n, func() error { return v.do(c, http.MethodGet, "acquia/creds/mass", nil) })
	if live := len(v.emu.LiveTokens("oauth2")); live != n {
		t.Fatalf("%d live tokens upstream after %d reads", live, n)
	}
	v.emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/revoke", Delay: 50 * time.Millisecond, Times: 10 * n})
	t.Cleanup(v.emu.ClearFaults)
	opened, revokes := v.emu.Connections(), v.emu.Requests("/oauth2/revoke")
	v.emu.ResetPeak()
	start := time.Now()
	v.mustCLI("lease", "revoke", "-prefix", "acquia/creds/mass")
	deadline := time.Now().Add(2 * time.Minute)
	for len(v.emu.LiveTokens("oauth2")) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if live := len(v.emu.LiveTokens("oauth2")); live != 0 {
		t.Fatalf("%d of %d tokens still live upstream 2 minutes after the revoke", live, n)
	}
	t.Logf("%d leases revoked upstream in %s: %d connections opened, at most %d calls at once", n,
		time.Since(start).Round(time.Millisecond), v.emu.Connections()-opened, v.emu.PeakInFlight())
	if got := v.emu.Requests("/oauth2/revoke") - revokes; got != n {
		t.Errorf("%d revocation requests upstream, want %d", got, n)
	}
	// Vault's revoke workers ran the revokes at once, up to the bound.
	if p := v.emu.PeakInFlight(); p < 2 || p > bound {
		t.Errorf("%d calls at once upstream, want 2 to %d", p, bound)
	}
	if o := v.emu.Connections() - opened; o > bound {
		t.Errorf("the revoke opened %d connections upstream for %d leases, want at most %d", o, n, bound)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, _ := v.api("LIST", "sys/leases/lookup/acquia/creds/mass", nil)
		if code == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leases left in Vault after every token was revoked upstream")
		}
	}
	v.assertLogClean()
}
