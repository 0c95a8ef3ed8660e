//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

func (v *vault) cdpConfig(maxTokens string) {
	v.t.Helper()
	v.mustCLI("write", "acquia/config/cdp-prod", "provider=cdp", "username="+emulator.DemoCDPUsername,
		"password="+emulator.DemoCDPPassword, "base_url="+v.emu.URL(), "max_tokens="+maxTokens)
}

// vaultsCDPTokens counts the demo user's live tokens but the one CDP made
// when it created the user.
func vaultsCDPTokens(emu *emulator.Emulator) int {
	n := 0
	for _, t := range emu.LiveTokens("cdp") {
		if t.Value != emu.CDPInitialToken(emulator.DemoCDPUsername) {
			n++
		}
	}
	return n
}

// waitGone waits for Vault's expiration manager to revoke leases upstream.
func waitGone(t *testing.T, emu *emulator.Emulator, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if vaultsCDPTokens(emu) == 0 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%d CDP tokens still live upstream after %s", vaultsCDPTokens(emu), within)
}

func TestCDPThroughRealVault(t *testing.T) {
	v := startVault(t)
	v.cdpConfig("2")
	v.mustCLI("write", "acquia/roles/cdp-sync", "config=cdp-prod", "ttl=1h", "max_ttl=2h")

	// (a) a read creates an upstream token.
	s := v.readJSON("acquia/creds/cdp-sync")
	tok := s.Data["access_token"].(string)
	up, _ := v.emu.Token(tok)
	live := up.Service == "cdp" && v.emu.TokenLive(tok)
	if !live || s.Data["tenant_id"] != emulator.DemoCDPTenant || s.Data["username"] != emulator.DemoCDPUsername || !s.Renewable {
		t.Fatalf("creds: live=%v data=%v", live, s.Data)
	}
	if s.LeaseDuration != 3600 {
		t.Errorf("lease duration %d, want the role's 3600", s.LeaseDuration)
	}

	// (b) a renew the token outlives calls nothing upstream; one that
	// would outlive the token extends it there.
	time.Sleep(1100 * time.Millisecond)
	v.mustCLI("lease", "renew", s.LeaseID)
	if up2, _ := v.emu.Token(tok); !up2.ExpiresAt.Equal(up.ExpiresAt) {
		t.Errorf("a renew the token outlives extended it upstream: %s -> %s", up.ExpiresAt, up2.ExpiresAt)
	}
	short := emulator.CDPUser{Username: "short-lived", Password: "short-P@ss+/=:1", MaxTokens: 3, Lifetime: 90 * time.Second}
	v.emu.AddCDPUser(short)
	v.remember(short.Password)
	v.mustCLI("write", "acquia/config/cdp-short", "provider=cdp", "username="+short.Username, "password="+short.Password,
		"base_url="+v.emu.URL())
	v.mustCLI("write", "acquia/roles/cdp-short", "config=cdp-short", "ttl=2m", "max_ttl=10m")
	sh := v.readJSON("acquia/creds/cdp-short")
	shTok := sh.Data["access_token"].(string)
	shUp, _ := v.emu.Token(shTok)
	time.Sleep(1100 * time.Millisecond)
	v.mustCLI("lease", "renew", sh.LeaseID)
	if shUp2, _ := v.emu.Token(shTok); !shUp2.ExpiresAt.After(shUp.ExpiresAt) {
		t.Errorf("a renew that would outlive the token did not extend it upstream: %s -> %s", shUp.ExpiresAt, shUp2.ExpiresAt)
	}
	v.mustCLI("lease", "revoke", "-sync", sh.LeaseID)
	if v.emu.TokenLive(shTok) {
		t.Error("the revoke left the extended token alive")
	}
	v.emu.DeleteCDPTokens(short.Username) // the one CDP made with the user: not Vault's to count below

	// (e) the limit: a second lease fits, a third is refused, nothing
	// disabled: the user's own token and Vault's two fill CDP's three.
	s2 := v.readJSON("acquia/creds/cdp-sync")
	_, errOut, err := v.cli("read", "acquia/creds/cdp-sync")
	if err == nil || !strings.Contains(errOut, "max_tokens") || !strings.Contains(errOut, "Code: 400") {
		t.Errorf("third read: %s", errOut)
	}
	if v.emu.CDPDisabledByLimit() != 0 || len(v.emu.LiveTokens("cdp")) != 3 {
		t.Errorf("limit: %d disabled, %d live", v.emu.CDPDisabledByLimit(), len(v.emu.LiveTokens("cdp")))
	}

	// (c) revoke deletes it upstream.
	v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
	if v.emu.TokenLive(tok) {
		t.Error("token live upstream after lease revoke")
	}
	v.mustCLI("lease", "revoke", "-sync", s2.LeaseID)

	// (c) expiry deletes it upstream too.
	v.mustCLI("write", "acquia/roles/cdp-short", "config=cdp-prod", "ttl=2s")
	v.readJSON("acquia/creds/cdp-short")
	waitGone(t, v.emu, 30*time.Second)

	// revoke-all, the kill switch, and a config that holds no token deletes.
	v.readJSON("acquia/creds/cdp-sync")
	if out := v.mustCLI("write", "-force", "-format=json", "acquia/config/cdp-prod/revoke-all"); !strings.Contains(out, `"revoked_held_tokens": 1`) {
		t.Errorf("revoke-all: %s", out)
	}
	if len(v.emu.LiveTokens("cdp")) != 0 {
		t.Error("revoke-all left tokens")
	}
	v.mustCLI("lease", "revoke", "-sync", "-prefix", "acquia/creds/")

	// Bad input: a 400 naming the field, nothing stored.
	for _, args := range [][]string{
		{"provider=cdp", "username=u", "base_url=" + v.emu.URL()},                               // no password
		{"provider=cdp", "username=u", "password=p", "base_url=http://auth.agilone.com"},        // http, not loopback
		{"provider=cdp", "username=u", "password=p", "base_url=" + v.emu.URL(), "max_tokens=0"}, // limit below 1
		{"provider=cdp", "username=u", "password=p", "base_url=" + v.emu.URL(), "auth_host=x"},  // unknown field
	} {
		_, errOut, err := v.cli(append([]string{"write", "acquia/config/bad"}, args...)...)
		if err == nil || !strings.Contains(errOut, "Code: 400") {
			t.Errorf("%v: %s", args, errOut)
		}
	}
	if code, _ := v.api("GET", "acquia/config/bad", nil); code != 404 {
		t.Errorf("bad writes stored a config: %d", code)
	}
	v.assertLogClean()
}

// (d) Leases outlive a Vault restart, and their expiry still deletes every
// upstream token.
func TestCDPLeasesSurviveRestart(t *testing.T) {
	v := startPersistentVault(t)
	v.cdpConfig("2")
	v.mustCLI("write", "acquia/roles/cdp-sync", "config=cdp-prod", "ttl=20s")
	for i := 0; i < 2; i++ {
		v.readJSON("acquia/creds/cdp-sync")
	}
	if n := vaultsCDPTokens(v.emu); n != 2 {
		t.Fatalf("%d live tokens before restart", n)
	}
	v.restart()
	if n := vaultsCDPTokens(v.emu); n != 2 {
		t.Fatalf("restart alone changed upstream tokens: %d live", n)
	}
	waitGone(t, v.emu, 90*time.Second)
	// The slots are free again.
	v.readJSON("acquia/creds/cdp-sync")
	v.mustCLI("lease", "revoke", "-sync", "-prefix", "acquia/creds/")
	waitGone(t, v.emu, 10*time.Second)
	v.assertLogClean()
}
