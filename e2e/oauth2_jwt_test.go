//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// emuAdmin posts body to the emulator's admin route and wants a 204.
func emuAdmin(t *testing.T, base, route string, body any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := httpClient.Post(base+"/_emulator/"+route, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("emulator %s answered %d", route, resp.StatusCode)
	}
}

// TestPrivateKeyJWTAgainstEmulator: private_key_jwt through the real vault
// against the emulator's generic server, which verifies assertions
// strictly, under each reading of aud, set through its admin API as the
// client's JWKS is registered: a key Vault generates, verify, creds, lease
// revoke; then the other reading refuses the client.
func TestPrivateKeyJWTAgainstEmulator(t *testing.T) {
	v := startVault(t)
	t.Cleanup(v.assertLogClean)
	defer func() { v.t = t }()
	base := v.emu.URL()
	for _, aud := range []string{"token_url", "issuer"} {
		t.Run(aud, func(t *testing.T) {
			v.t = t
			name := "emu-jwt-" + aud
			args := []string{"write", "acquia/config/" + name, "provider=oauth2", "client_id=" + name,
				"auth_style=private_key_jwt", "generate_key=true", "token_url=" + base + "/oauth2/token",
				"revocation_url=" + base + "/oauth2/revoke", "assertion_audience=" + aud}
			if aud == "issuer" {
				args = append(args, "issuer="+v.emu.OAuth2Issuer())
			}
			v.mustCLI(args...)
			jwks := v.readJSON("acquia/config/" + name + "/jwks").Data
			emuAdmin(t, base, "oauth2/clients", map[string]any{"id": name, "jwks": jwks})
			emuAdmin(t, base, "oauth2/assertion-audience", map[string]string{"audience": aud})
			v.mustCLI("write", "acquia/config/"+name, "verify=true")
			v.mustCLI("write", "acquia/roles/"+name, "config="+name, "ttl=10m")
			s := v.readJSON("acquia/creds/" + name)
			tok, _ := s.Data["access_token"].(string)
			v.remember(tok)
			if code := testutil.BearerStatus(t, httpClient, base+"/oauth2/resource", tok); code != http.StatusOK {
				t.Fatalf("resource refuses the token: %d", code)
			}
			v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
			if code := testutil.BearerStatus(t, httpClient, base+"/oauth2/resource", tok); code != http.StatusUnauthorized {
				t.Errorf("after lease revoke the resource answers %d, want 401", code)
			}
			other := map[string]string{"token_url": "issuer", "issuer": "token_url"}[aud]
			emuAdmin(t, base, "oauth2/assertion-audience", map[string]string{"audience": other})
			_, errOut, err := v.cli("read", "acquia/creds/"+name)
			if err == nil || !strings.Contains(errOut, "invalid_client") || !strings.Contains(errOut, "assertion_audience") {
				t.Errorf("a server reading aud as %s: %v\n%s", other, err, errOut)
			}
		})
	}
}
