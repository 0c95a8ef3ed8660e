//go:build e2e

package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// rotate-root on a real vault: the old Cloud key is deleted upstream, the
// new one works, and only Vault knows its secret.
func TestRotateRootThroughRealVault(t *testing.T) {
	v := startVault(t)
	v.cloudConfig()
	v.mustCLI("write", "acquia/config/cloud-demo", "key_uuid="+emulator.DemoCloudKeyUUID, "client_secret="+emulator.DemoCloudClientSecret)
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

// Under the reading where a key's uuid is its client id, and with a self
// link naming the key, on a real vault: a config without key_uuid rotates
// (the API shows which key is the config's), and three rotations leave
// one live key with every earlier secret refused.
func TestRotateRootUUIDIsClientIDThroughRealVault(t *testing.T) {
	v := startVault(t)
	const id, secret = "7e6d5c4b-3a29-4817-8615-0f1e2d3c4b5a", "uuid+reading/secret=="
	v.emu.SetCloudKeyVariants(emulator.CloudKeyVariants{UUIDIsClientID: true, SelfHrefItem: true})
	v.emu.AddCloudClient(emulator.CloudClient{ID: id, Secret: secret, KeyUUID: id})
	v.emu.RemoveCloudClient(emulator.DemoCloudClientID)
	v.remember(secret)
	v.mustCLI("write", "acquia/config/c", "provider=cloud", "client_id="+id, "client_secret="+secret,
		"token_url="+v.emu.URL()+"/api/auth/oauth/token", "api_url="+v.emu.URL()+"/api")
	earlier := map[string]string{id: secret}
	for i := range 3 {
		out := v.readJSONWrite("acquia/config/c/rotate")
		newID, _ := out["client_id"].(string)
		if out["key_uuid"] != newID {
			t.Fatalf("rotation %d answered %v: want the uuid equal to the client id", i+1, out)
		}
		keys := v.emu.CloudKeys()
		for _, k := range keys {
			v.remember(k.Secret)
		}
		if len(keys) != 1 || keys[0].ID != newID {
			t.Fatalf("rotation %d: %d live keys, want the config's only", i+1, len(keys))
		}
		for oldID, oldSecret := range earlier {
			resp, err := httpClient.PostForm(v.emu.URL()+"/api/auth/oauth/token", url.Values{"grant_type": {"client_credentials"},
				"client_id": {oldID}, "client_secret": {oldSecret}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("rotation %d: an earlier secret answered %d, want 401", i+1, resp.StatusCode)
			}
		}
		earlier[newID] = keys[0].Secret
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

// A SIGKILL at three points of a rotation, on file storage: after the
// create answered upstream (its answer held, so the kill cuts it off),
// while the new key is being looked up by its label, and after the config
// stored the new key but before the old one was deleted. After a restart
// Vault's rollback, or the next rotate, finishes the rotation: the account
// holds the config's key only, the demo secret is refused, creds work.
func TestRotateRootSIGKILL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault emulator.Fault
		// killWhen reports that the rotation reached the point to kill at.
		killWhen func(v *vault, emu *emulator.Emulator) bool
		// byRollback: wait for Vault's own rollback before rotating again.
		byRollback bool
	}{
		{"create answer cut off", emulator.Fault{PathPrefix: "/api/account/tokens", Method: "POST", Late: 2 * time.Minute},
			func(_ *vault, emu *emulator.Emulator) bool { return len(emu.CloudKeys()) == 2 }, true},
		{"looking the key up", emulator.Fault{PathPrefix: "/api/account/tokens", Method: "GET", Delay: 2 * time.Minute},
			func(_ *vault, emu *emulator.Emulator) bool {
				return len(emu.CloudKeys()) == 2 && emu.Requests("/api/account/tokens") >= 2
			}, false},
		{"old key not deleted yet", emulator.Fault{PathPrefix: "/api/account/tokens/", Method: "DELETE", Delay: 2 * time.Minute},
			// The config holds the new key, and the old key's DELETE hangs.
			func(v *vault, _ *emulator.Emulator) bool {
				code, body := v.api("GET", "acquia/config/cloud-demo", nil)
				data, _ := body["data"].(map[string]any)
				return code == 200 && data["client_id"] != emulator.DemoCloudClientID
			}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := newEmulator(t)
			v := newServer(t, emu, "file", "rotate", freePort(t), nil)
			v.launch()
			v.initServer()
			v.waitReady()
			v.mountPlugin("ACQUIA_WAL_ROLLBACK_MIN_AGE=5s")
			v.cloudConfig()
			v.mustCLI("write", "acquia/config/cloud-demo", "key_uuid="+emulator.DemoCloudKeyUUID,
				"client_secret="+emulator.DemoCloudClientSecret, "request_timeout=4s")
			v.mustCLI("write", "acquia/roles/deploy", "config=cloud-demo", "ttl=60s")

			emu.InjectFault(tc.fault)
			go func() { _, _, _ = v.cli("write", "-f", "acquia/config/cloud-demo/rotate") }()
			deadline := time.Now().Add(30 * time.Second)
			for !tc.killWhen(v, emu) {
				if time.Now().After(deadline) {
					t.Fatal("the rotation never reached the point to kill at")
				}
				time.Sleep(20 * time.Millisecond)
			}
			v.kill()
			emu.ClearFaults()
			for _, k := range emu.CloudKeys() {
				v.remember(k.Secret)
			}
			atKill := len(emu.CloudKeys())
			v.relaunch(v.waitReady)

			if tc.byRollback {
				// Vault's rollback runs about once a minute.
				deadline := time.Now().Add(150 * time.Second)
				for len(emu.CloudKeys()) != 1 {
					if time.Now().After(deadline) {
						t.Fatalf("%d live keys 150 s after the restart, want the rollback to leave 1", len(emu.CloudKeys()))
					}
					time.Sleep(time.Second)
				}
			}
			afterRollback := len(emu.CloudKeys())
			out := v.readJSONWrite("acquia/config/cloud-demo/rotate")
			for _, k := range emu.CloudKeys() {
				v.remember(k.Secret)
			}
			keys := emu.CloudKeys()
			if len(keys) != 1 || keys[0].ID != out["client_id"] {
				t.Fatalf("%d live keys after the next rotate, want the config's only", len(keys))
			}
			t.Logf("%s: live keys at the kill %d, after the restart%s %d, after the next rotate %d",
				tc.name, atKill, map[bool]string{true: " and rollback"}[tc.byRollback], afterRollback, len(keys))
			resp, err := httpClient.PostForm(emu.URL()+"/api/auth/oauth/token", url.Values{"grant_type": {"client_credentials"},
				"client_id": {emulator.DemoCloudClientID}, "client_secret": {emulator.DemoCloudClientSecret}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("the demo secret answered %d, want 401", resp.StatusCode)
			}
			tok := v.readJSON("acquia/creds/deploy").Data["access_token"].(string)
			if et, ok := emu.Token(tok); !ok || et.ClientID != keys[0].ID {
				t.Errorf("creds came from %q, want the config's key", et.ClientID)
			}
			v.assertLogClean()
		})
	}
}
