//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// TestDeviceFlowSurvivesRestart runs the device grant (RFC 8628) through
// the real Vault on file storage against the emulator: two roles start a
// device authorization, Vault restarts while they wait, and the restarted
// plugin resumes polling: the approved role reads creds, the denied one
// holds nothing and the log says why. No device code or refresh token
// reaches Vault's log.
func TestDeviceFlowSurvivesRestart(t *testing.T) {
	v := startPersistentVault(t)
	t.Cleanup(v.assertLogClean)
	t.Cleanup(func() {
		for _, s := range append(v.emu.OAuth2DeviceCodes(), v.emu.OAuth2Credentials()...) {
			v.remember(s)
		}
	})
	v.emu.SetOAuth2DeviceTiming(time.Second, 0)
	base := v.emu.URL()
	v.mustCLI("write", "acquia/config/dev", "provider=oauth2", "client_id="+emulator.DemoOAuth2ClientID,
		"client_secret="+emulator.DemoOAuth2ClientSecret, "token_url="+base+"/oauth2/token",
		"device_authorization_url="+base+"/oauth2/device_authorization", "revocation_url="+base+"/oauth2/revoke", "auth_style=basic")
	codes := map[string]string{}
	for _, role := range []string{"approved", "denied"} {
		v.mustCLI("write", "acquia/roles/"+role, "config=dev", "grant_type=authorization_code", "scopes=read", "ttl=5m")
		var auth struct {
			Data map[string]any `json:"data"`
		}
		out := v.mustCLI("write", "-format=json", "acquia/authorize/"+role, "flow=device")
		if err := json.Unmarshal([]byte(out), &auth); err != nil {
			t.Fatal(err)
		}
		code, _ := auth.Data["user_code"].(string)
		if code == "" || auth.Data["interval"] != float64(1) || auth.Data["verification_uri"] != base+"/oauth2/device" {
			t.Fatalf("authorize/%s flow=device: %s", role, out)
		}
		codes[role] = code
	}

	v.restart()

	for role, approve := range map[string]bool{"approved": true, "denied": false} {
		body := `{"user_code":"` + codes[role] + `","approve":` + map[bool]string{true: "true", false: "false"}[approve] + `}`
		resp, err := httpClient.Post(base+"/_emulator/oauth2/device", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("the user's answer for %s: %d", role, resp.StatusCode)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for v.readJSON("acquia/roles/approved").Data["authorized"] != true {
		if time.Now().After(deadline) {
			t.Fatal("the restarted Vault did not resume polling: the role is not authorized")
		}
		time.Sleep(500 * time.Millisecond)
	}
	s := v.readJSON("acquia/creds/approved")
	if tok, _ := s.Data["access_token"].(string); !v.emu.TokenLive(tok) {
		t.Fatal("creds after the device authorization: the token is not live upstream")
	}
	for {
		b, _ := os.ReadFile(v.logPath)
		if strings.Contains(string(b), "denied the device authorization") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no log line says the user denied")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if v.readJSON("acquia/roles/denied").Data["authorized"] != false {
		t.Error("a denied role holds an authorization")
	}
}
