//go:build e2e

package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

func TestAcronisThroughRealVault(t *testing.T) {
	v := startVault(t)
	v.remember(emulator.DemoAcronisClientSecret)
	v.mustCLI("write", "acquia/config/acronis-eu8", "provider=acronis",
		"client_id="+emulator.DemoAcronisClientID, "client_secret="+emulator.DemoAcronisClientSecret,
		"base_url="+v.emu.URL())
	v.mustCLI("write", "acquia/roles/backup", "config=acronis-eu8", "ttl=8h")

	s := v.readJSON("acquia/creds/backup")
	tok, _ := s.Data["access_token"].(string)
	if s.Data["token_type"] != "Bearer" || s.Data["id_token"] == nil {
		t.Fatalf("creds data: %#v", s.Data)
	}
	exp, err := time.Parse(time.RFC3339, s.Data["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// The lease never outlives expires_on (2 h), though the role asks for 8 h.
	if lease := time.Duration(s.LeaseDuration) * time.Second; lease <= 0 || time.Now().Add(lease).After(exp.Add(time.Second)) {
		t.Errorf("lease of %s outlives the token's expires_on %s", lease, exp)
	}
	clientURL := v.emu.URL() + "/api/2/clients/" + emulator.DemoAcronisClientID
	if code := testutil.BearerStatus(t, httpClient, clientURL, tok); code != 200 {
		t.Fatalf("the data center refuses the token: %d", code)
	}

	v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
	if code := testutil.BearerStatus(t, httpClient, clientURL, tok); code != http.StatusUnauthorized {
		t.Errorf("after lease revoke the data center answers %d, want 401", code)
	}
	if v.emu.TokenLive(tok) {
		t.Error("the emulator still holds the token live")
	}
	v.mustCLI("lease", "revoke", "-sync", s.LeaseID)

	cfg := v.mustCLI("read", "-format=json", "acquia/config/acronis-eu8")
	if strings.Contains(cfg, "client_secret") || !strings.Contains(cfg, "/bc/idp/token") || !strings.Contains(cfg, "/api/2/idp/revoke_token") {
		t.Errorf("config read:\n%s", cfg)
	}
	v.assertLogClean()
}

func TestGenericOAuth2ThroughRealVault(t *testing.T) {
	v := startVault(t)
	v.remember(emulator.DemoOAuth2ClientSecret)
	v.mustCLI("write", "acquia/config/idp", "provider=oauth2", "auth_style=basic",
		"client_id="+emulator.DemoOAuth2ClientID, "client_secret="+emulator.DemoOAuth2ClientSecret,
		"token_url="+v.emu.URL()+"/oauth2/token", "revocation_url="+v.emu.URL()+"/oauth2/revoke")
	v.mustCLI("write", "acquia/roles/reader", "config=idp", "scopes=read", "ttl=10m")
	s := v.readJSON("acquia/creds/reader")
	tok, _ := s.Data["access_token"].(string)
	if code := testutil.BearerStatus(t, httpClient, v.emu.URL()+"/oauth2/resource", tok); code != 200 {
		t.Fatalf("resource refuses the token: %d", code)
	}
	v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
	if code := testutil.BearerStatus(t, httpClient, v.emu.URL()+"/oauth2/resource", tok); code != http.StatusUnauthorized {
		t.Errorf("after lease revoke the resource answers %d, want 401", code)
	}
	v.assertLogClean()
}
