//go:build e2e

package e2e

import (
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

func (v *vault) cloudConfig() {
	v.t.Helper()
	v.mustCLI("write", "acquia/config/cloud-demo", "provider=cloud", "client_id="+emulator.DemoCloudClientID,
		"client_secret="+emulator.DemoCloudClientSecret, "token_url="+v.emu.URL()+"/api/auth/oauth/token",
		"api_url="+v.emu.URL()+"/api")
}

// staticToken reads static-creds through the HTTP API, as Agent does.
func (v *vault) staticToken(name string) string {
	v.t.Helper()
	code, body := v.api("GET", "acquia/static-creds/"+name, nil)
	data, _ := body["data"].(map[string]any)
	tok, _ := data["access_token"].(string)
	if code != 200 || tok == "" || body["lease_id"] != "" {
		v.t.Fatalf("static-creds/%s: %d %v", name, code, body["errors"])
	}
	v.remember(tok)
	return tok
}

// waitNewStatic waits for the static role's token to change, with no
// other reads than the checks.
func (v *vault) waitNewStatic(name, old string, within time.Duration) string {
	v.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		if tok := v.staticToken(name); tok != old {
			return tok
		}
	}
	v.t.Fatalf("static role %s did not rotate within %s", name, within)
	return ""
}

func TestStaticRolesThroughRealVault(t *testing.T) {
	v := startVault(t)
	v.cloudConfig()
	v.mustCLI("write", "acquia/static-roles/shared", "config=cloud-demo", "rotation_period=12s")
	first := v.staticToken("shared")

	// Many readers, one token, no upstream token call.
	calls := v.emu.Requests("/api/auth/oauth/token")
	for range 200 {
		if v.staticToken("shared") != first {
			break
		}
	}
	if n := v.emu.Requests("/api/auth/oauth/token") - calls; n != 0 {
		t.Errorf("200 static-creds reads caused %d upstream token calls", n)
	}
	// A rotation on schedule, with nobody asking.
	calls = v.emu.Requests("/api/auth/oauth/token")
	time.Sleep(13 * time.Second)
	if n := v.emu.Requests("/api/auth/oauth/token") - calls; n != 1 {
		t.Errorf("%d token calls in one rotation period, want the one rotation", n)
	}
	second := v.staticToken("shared")
	if second == first || !v.emu.TokenLive(second) {
		t.Fatal("no live new token after rotation_period")
	}

	// CDP: the previous token lives for the grace period, then is deleted.
	v.cdpConfig("2")
	v.mustCLI("write", "acquia/static-roles/feed", "config=cdp-prod", "rotation_period=1h", "grace_period=3s")
	old := v.staticToken("feed")
	v.mustCLI("write", "-f", "acquia/rotate-role/feed")
	cur := v.staticToken("feed")
	if cur == old || !v.emu.TokenLive(old) {
		t.Fatal("after rotate-role the previous CDP token must live for its grace period")
	}
	deadline := time.Now().Add(10 * time.Second)
	for v.emu.TokenLive(old) && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
	}
	if v.emu.TokenLive(old) || !v.emu.TokenLive(cur) {
		t.Errorf("after the grace period: old live %v, current live %v", v.emu.TokenLive(old), v.emu.TokenLive(cur))
	}
	v.mustCLI("delete", "acquia/static-roles/feed")
	if v.emu.TokenLive(cur) {
		t.Error("a deleted static role's CDP token lives on")
	}
	v.assertLogClean()
}

// A restart in the middle of a rotation period: the schedule is rebuilt
// from storage and the role still rotates on time, with no reads.
func TestStaticRotationAcrossRestart(t *testing.T) {
	v := startPersistentVault(t)
	v.cloudConfig()
	v.mustCLI("write", "acquia/static-roles/shared", "config=cloud-demo", "rotation_period=15s")
	first := v.staticToken("shared")
	rotated := time.Now()
	v.restart()
	calls := v.emu.Requests("/api/auth/oauth/token")
	// Due 15 s after the first token; a second of slack for the ticker.
	for time.Since(rotated) < 25*time.Second && v.emu.Requests("/api/auth/oauth/token") == calls {
		time.Sleep(250 * time.Millisecond)
	}
	if v.emu.Requests("/api/auth/oauth/token") == calls {
		t.Fatal("no rotation after the restart")
	}
	if took := time.Since(rotated); took < 14*time.Second {
		t.Errorf("rotated %s after the last rotation, before rotation_period", took)
	}
	if v.waitNewStatic("shared", first, 5*time.Second) == first {
		t.Fatal("static-creds still serves the old token")
	}
	v.assertLogClean()
}
