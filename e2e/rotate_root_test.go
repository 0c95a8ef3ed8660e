//go:build e2e

package e2e

import (
	"net/url"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// rotate-root on a real vault: the old Cloud key is deleted upstream, the
// new one works, and only Vault knows its secret.
func TestRotateRootThroughRealVault(t *testing.T) {
	v := startVault(t)
	v.cloudConfig()
	v.mustCLI("write", "acquia/config/cloud-demo", "key_uuid="+emulator.DemoCloudKeyUUID)
	v.mustCLI("write", "acquia/roles/deploy", "config=cloud-demo", "ttl=60s")

	out := v.readJSONWrite("acquia/config/cloud-demo/rotate")
	newID, _ := out["client_id"].(string)
	newUUID, _ := out["key_uuid"].(string)
	if newID == "" || newID == emulator.DemoCloudClientID || newUUID == "" || newUUID == emulator.DemoCloudKeyUUID || out["rotated_at"] == nil {
		t.Fatalf("rotate answered %v", out)
	}
	if _, leaks := out["client_secret"]; leaks {
		t.Fatal("rotate answered with the secret")
	}
	var keys []string
	for _, k := range v.emu.CloudKeys() {
		keys = append(keys, k.ID)
		if k.ID == newID {
			v.remember(k.Secret)
		}
	}
	if strings.Contains(strings.Join(keys, " "), emulator.DemoCloudClientID) || !strings.Contains(strings.Join(keys, " "), newID) {
		t.Errorf("live keys upstream %v: want the new key and not the old", keys)
	}
	// The old secret is refused at the token endpoint; Vault mints with the
	// new key.
	resp, err := httpClient.PostForm(v.emu.URL()+"/api/auth/oauth/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {emulator.DemoCloudClientID}, "client_secret": {emulator.DemoCloudClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("the old key's secret answered %d, want 401", resp.StatusCode)
	}
	tok := v.readJSON("acquia/creds/deploy").Data["access_token"].(string)
	if et, ok := v.emu.Token(tok); !ok || et.ClientID != newID {
		t.Errorf("creds after rotate came from %q, want the new key %q", et.ClientID, newID)
	}
	if testutil.BearerStatus(t, httpClient, v.emu.URL()+"/api/account", tok) != 200 {
		t.Error("the new key's token does not work")
	}
	cfg := v.readJSON("acquia/config/cloud-demo").Data
	if cfg["client_id"] != newID || cfg["key_uuid"] != newUUID {
		t.Errorf("config reads %v", cfg)
	}
	v.assertLogClean()
}

// readJSONWrite writes nothing to path (vault write -f) and returns the data.
func (v *vault) readJSONWrite(path string) map[string]any {
	v.t.Helper()
	code, body := v.api("PUT", path, map[string]any{})
	data, _ := body["data"].(map[string]any)
	if code != 200 || data == nil {
		v.t.Fatalf("%s: %d %v", path, code, body)
	}
	return data
}
