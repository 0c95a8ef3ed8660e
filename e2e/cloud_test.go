//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

func TestCloudThroughRealVault(t *testing.T) {
	v := startVault(t)
	v.mustCLI("write", "acquia/config/cloud-demo", "provider=cloud",
		"client_id="+emulator.DemoCloudClientID, "client_secret="+emulator.DemoCloudClientSecret,
		"token_url="+v.emu.URL()+"/api/auth/oauth/token", "api_url="+v.emu.URL()+"/api")
	v.mustCLI("write", "acquia/roles/site-deploy", "config=cloud-demo", "ttl=10m")

	// The plugin reports the version it was registered with.
	if out := v.mustCLI("plugin", "info", "-version="+pluginVersion, "secret", pluginName); !strings.Contains(out, pluginVersion) || !strings.Contains(out, pluginSHA) {
		t.Errorf("plugin info lacks %s or the sha256:\n%s", pluginVersion, out)
	}
	if out := v.mustCLI("secrets", "list", "-detailed"); !strings.Contains(out, pluginVersion) {
		t.Errorf("the mount does not run %s:\n%s", pluginVersion, out)
	}

	s := v.readJSON("acquia/creds/site-deploy")
	tok, _ := s.Data["access_token"].(string)
	if tok == "" || s.Data["token_type"] != "Bearer" || s.Data["expires_at"] == nil {
		t.Fatalf("creds data: %#v", s.Data)
	}
	if s.LeaseID == "" || !strings.HasPrefix(s.LeaseID, "acquia/creds/site-deploy/") {
		t.Errorf("lease id %q", s.LeaseID)
	}
	if s.LeaseDuration <= 0 || s.LeaseDuration > 300 {
		t.Errorf("lease duration %d, want 1..300 (the upstream lifetime)", s.LeaseDuration)
	}
	if len(s.Warnings) == 0 || !strings.Contains(strings.Join(s.Warnings, " "), "cut") {
		t.Errorf("want a warning that the 10m TTL was cut, got %v", s.Warnings)
	}
	exp, err := time.Parse(time.RFC3339, s.Data["expires_at"].(string))
	if err != nil || time.Until(exp) > 300*time.Second || time.Until(exp) < 200*time.Second {
		t.Errorf("expires_at %v", s.Data["expires_at"])
	}
	if code := testutil.BearerStatus(t, httpClient, v.emu.URL()+"/api/account", tok); code != 200 {
		t.Errorf("the token does not work at the Cloud API: %d", code)
	}

	// Renew stays within the upstream expiry.
	out := v.mustCLI("lease", "renew", "-format=json", s.LeaseID)
	if !strings.Contains(out, `"lease_duration"`) {
		t.Errorf("renew: %s", out)
	}
	v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
	if _, errOut, err := v.cli("lease", "lookup", s.LeaseID); err == nil {
		t.Errorf("lease still exists after revoke")
	} else if !strings.Contains(errOut, "invalid lease") {
		t.Logf("lookup after revoke: %s", errOut)
	}
	// Revoking again is fine (idempotent from the operator's view).
	v.mustCLI("lease", "revoke", "-sync", s.LeaseID)

	// The config read never holds the secret, via the CLI or the API.
	cfgOut := v.mustCLI("read", "-format=json", "acquia/config/cloud-demo")
	if strings.Contains(cfgOut, emulator.DemoCloudClientSecret) || strings.Contains(cfgOut, "client_secret") {
		t.Errorf("config read shows the secret:\n%s", cfgOut)
	}
	for _, want := range []string{`"request_timeout": 25`, `"auth_style": "body"`, v.emu.URL()} {
		if !strings.Contains(cfgOut, want) {
			t.Errorf("config read lacks %s:\n%s", want, cfgOut)
		}
	}

	help := v.mustCLI("path-help", "acquia/creds/site-deploy")
	if !strings.Contains(help, "lease") || !strings.Contains(help, "upstream") {
		t.Errorf("path-help:\n%s", help)
	}

	// Every lease of the role goes at once.
	for i := 0; i < 3; i++ {
		v.readJSON("acquia/creds/site-deploy")
	}
	v.mustCLI("lease", "revoke", "-sync", "-prefix", "acquia/creds/site-deploy")
	if code, body := v.api("LIST", "sys/leases/lookup/acquia/creds/site-deploy", nil); code != 404 {
		t.Errorf("leases left after prefix revoke: %d %v", code, body)
	}
	v.assertLogClean()
	// The log assertLogClean scanned holds the plugin's debug lines too.
	if b, _ := os.ReadFile(v.logPath); !bytes.Contains(b, []byte("upstream call")) {
		t.Errorf("the plugin's debug lines are missing from the server log (run at trace)")
	}
}

func TestBadInputThroughRealVault(t *testing.T) {
	v := startVault(t)
	base := []string{"write", "acquia/config/bad", "provider=cloud", "client_id=" + emulator.DemoCloudClientID,
		"client_secret=" + emulator.DemoCloudClientSecret, "api_url=" + v.emu.URL() + "/api"}
	cases := []struct {
		extra []string
		field string
	}{
		{[]string{"token_url=http://accounts.example.com/token"}, "token_url"},
		{[]string{"token_url=" + v.emu.URL() + "/api/auth/oauth/token", "scopes=organization:not-a-uuid"}, "scopes"},
		{[]string{"token_url=" + v.emu.URL() + "/api/auth/oauth/token", "colour=blue"}, "colour"},
		{[]string{"token_url=" + v.emu.URL() + "/api/auth/oauth/token", "request_timeout=-3s"}, "request_timeout"},
	}
	for _, tc := range cases {
		_, errOut, err := v.cli(append(append([]string{}, base...), tc.extra...)...)
		if err == nil {
			t.Errorf("%v accepted", tc.extra)
			continue
		}
		if !strings.Contains(errOut, "Code: 400") || !strings.Contains(errOut, tc.field) {
			t.Errorf("%v: want a 400 naming %s, got:\n%s", tc.extra, tc.field, errOut)
		}
		if strings.Contains(errOut, emulator.DemoCloudClientSecret) {
			t.Errorf("error shows the secret")
		}
	}
	// A wrong secret: verify fails with the upstream's status and code.
	_, errOut, err := v.cli("write", "acquia/config/bad", "provider=cloud", "client_id="+emulator.DemoCloudClientID,
		"client_secret=wrong-secret", "token_url="+v.emu.URL()+"/api/auth/oauth/token", "api_url="+v.emu.URL()+"/api")
	if err == nil || !strings.Contains(errOut, "invalid_client") || !strings.Contains(errOut, "401") || strings.Contains(errOut, "wrong-secret") {
		t.Errorf("verify failure:\n%s", errOut)
	}
	if code, _ := v.api("GET", "acquia/config/bad", nil); code != 404 {
		t.Errorf("a failed write stored the config: GET answered %d", code)
	}
	// An upstream outage on creds is a 502 naming the upstream status.
	v.mustCLI("write", "acquia/config/ok", "provider=cloud", "client_id="+emulator.DemoCloudClientID,
		"client_secret="+emulator.DemoCloudClientSecret, "token_url="+v.emu.URL()+"/api/auth/oauth/token",
		"api_url="+v.emu.URL()+"/api", "request_timeout=5s")
	v.mustCLI("write", "acquia/roles/r", "config=ok")
	v.emu.InjectFault(emulator.Fault{PathPrefix: "/api/auth", Status: 503, Times: 1000})
	_, errOut, err = v.cli("read", "acquia/creds/r")
	v.emu.ClearFaults()
	if err == nil || !strings.Contains(errOut, "Code: 502") || !strings.Contains(errOut, "503") {
		t.Errorf("upstream outage:\n%s", errOut)
	}
	v.assertLogClean()
}

// TestPluginLogLevelFromRegistration: the level an operator gives the
// plugin at registration reaches it. The server logs at trace; of two
// mounts of the same binary, the one registered with
// ACQUIA_PLUGIN_LOG_LEVEL=info writes no debug line for its upstream
// calls, the other does.
func TestPluginLogLevelFromRegistration(t *testing.T) {
	v := startVault(t)
	const quiet = "acquia-quiet"
	v.mustCLI("plugin", "register", "-sha256="+pluginSHA, "-version="+pluginVersion, "-command="+pluginBinary,
		"-env=ACQUIA_PLUGIN_LOG_LEVEL=info", "secret", quiet)
	v.mustCLI("secrets", "enable", "-path=quiet", "-plugin-version="+pluginVersion, quiet)
	for _, mount := range []string{"acquia", "quiet"} {
		v.mustCLI("write", mount+"/config/c", "provider=cloud",
			"client_id="+emulator.DemoCloudClientID, "client_secret="+emulator.DemoCloudClientSecret,
			"token_url="+v.emu.URL()+"/api/auth/oauth/token", "api_url="+v.emu.URL()+"/api")
		v.mustCLI("write", mount+"/roles/r", "config=c")
		v.readJSON(mount + "/creds/r")
	}
	b, err := os.ReadFile(v.logPath)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "upstream call") {
			continue
		}
		// Vault names a plugin's logger secrets.<plugin name>.<...>.
		switch {
		case strings.Contains(line, "secrets."+quiet+"."):
			calls[quiet]++
		case strings.Contains(line, "secrets."+pluginName+"."):
			calls[pluginName]++
		}
	}
	if calls[pluginName] == 0 || calls[quiet] != 0 {
		t.Errorf("upstream call debug lines by plugin: %v; want some of %s and none of %s", calls, pluginName, quiet)
	}
}
