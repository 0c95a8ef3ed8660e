//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

const (
	narrowOrg    = "6a1f0c3e-2b4d-4e8f-9a7c-1d2e3f4a5b6c"
	narrowFedOrg = "7b2e1d4f-3c5e-4f90-8b8d-2e3f4a5b6c7d"
	narrowOther  = "8c3f2e50-4d6f-4a01-9c9e-3f4a5b6c7d8e"
)

// upstreamScope is the scope the emulator granted the token tok.
func upstreamScope(t *testing.T, emu *emulator.Emulator, tok string) string {
	t.Helper()
	up, ok := emu.Token(tok)
	if !ok {
		t.Fatal("the emulator does not know the token")
	}
	return up.Scope
}

// TestNarrowingThroughRealVault: vault read creds/<role> scopes=... and
// organization=..., the write form, and the 400s, through a real Vault.
func TestNarrowingThroughRealVault(t *testing.T) {
	v := startVault(t)
	const secret = "narrow+Secret/=:1"
	v.remember(secret)
	v.emu.AddCloudClient(emulator.CloudClient{ID: "narrow-key", Secret: secret, Orgs: []string{narrowOrg, narrowFedOrg},
		FederatedOrgs: []string{narrowFedOrg}})
	v.mustCLI("write", "acquia/config/cloud", "provider=cloud", "client_id=narrow-key", "client_secret="+secret,
		"token_url="+v.emu.URL()+"/api/auth/oauth/token", "api_url="+v.emu.URL()+"/api")
	v.mustCLI("write", "acquia/roles/orgs", "config=cloud", "organizations="+narrowOrg+","+narrowFedOrg)

	for _, args := range [][]string{
		{"read", "-format=json", "acquia/creds/orgs", "organization=" + narrowFedOrg},
		{"write", "-format=json", "acquia/creds/orgs", "organization=" + narrowFedOrg},
	} {
		tok := v.credsToken(args...)
		if got := upstreamScope(t, v.emu, tok); got != "organization:"+narrowFedOrg {
			t.Errorf("vault %s: upstream scope %q", args[0], got)
		}
		if code := testutil.BearerStatus(t, httpClient, v.emu.URL()+"/api/account", tok); code != 200 {
			t.Errorf("vault %s: the federated organization's API answered %d", args[0], code)
		}
	}
	v.wantCLI400(t, []string{"organization", narrowOther}, "read", "acquia/creds/orgs", "organization="+narrowOther)
	v.wantCLI400(t, []string{"organizations", "uuid"}, "write", "acquia/roles/bad", "config=cloud", "organizations=acme")
	if code, body := v.api("GET", "acquia/roles/bad", nil); code != 404 {
		t.Errorf("a failed role write stored the role: %d %v", code, body)
	}

	v.emu.AddOAuth2Client(emulator.OAuth2Client{ID: "narrow-app", Secret: secret, Scopes: []string{"read", "write", "admin"}})
	v.mustCLI("write", "acquia/config/app", "provider=oauth2", "client_id=narrow-app", "client_secret="+secret,
		"token_url="+v.emu.URL()+"/oauth2/token")
	v.mustCLI("write", "acquia/roles/app", "config=app", "scopes=read,write")
	if got := upstreamScope(t, v.emu, v.credsToken("read", "-format=json", "acquia/creds/app")); got != "read write" {
		t.Errorf("plain read: upstream scope %q, want the role's", got)
	}
	if got := upstreamScope(t, v.emu, v.credsToken("read", "-format=json", "acquia/creds/app", "scopes=write read")); got != "write read" {
		t.Errorf("scopes=\"write read\": upstream scope %q", got)
	}
	if got := upstreamScope(t, v.emu, v.credsToken("write", "-format=json", "acquia/creds/app", "scopes=read")); got != "read" {
		t.Errorf("write scopes=read: upstream scope %q", got)
	}
	v.wantCLI400(t, []string{"scopes", `"admin"`}, "read", "acquia/creds/app", "scopes=read,admin")
	v.mustCLI("write", "acquia/roles/app", "allow_narrowing=false")
	v.wantCLI400(t, []string{"allow_narrowing=false"}, "read", "acquia/creds/app", "scopes=read")
	v.assertLogClean()
}

// credsToken runs the vault CLI (a creds read or write, -format=json) and
// returns the token it answered.
func (v *vault) credsToken(args ...string) string {
	v.t.Helper()
	out := v.mustCLI(args...)
	var s secretJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		v.t.Fatalf("decoding %s: %v", out, err)
	}
	tok, _ := s.Data["access_token"].(string)
	if tok == "" || s.LeaseID == "" {
		v.t.Fatalf("vault %s: no token or lease: %s", strings.Join(args, " "), out)
	}
	v.remember(tok)
	return tok
}

// wantCLI400 runs the vault CLI and wants it to fail with a 400 whose
// message holds every want.
func (v *vault) wantCLI400(t *testing.T, want []string, args ...string) {
	t.Helper()
	out, errOut, err := v.cli(args...)
	if err == nil {
		t.Fatalf("vault %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	if !strings.Contains(errOut, "Code: 400") {
		t.Errorf("vault %s: want a 400:\n%s", strings.Join(args, " "), errOut)
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			t.Errorf("vault %s: the error lacks %q:\n%s", strings.Join(args, " "), w, errOut)
		}
	}
}

// TestVaultAgentTemplatePassesScopes: a template's secret with parameters
// (consul-template writes them) mints a narrowed token.
func TestVaultAgentTemplatePassesScopes(t *testing.T) {
	v := startVault(t)
	const secret = "agent+Narrow/=:1"
	v.remember(secret)
	v.emu.AddOAuth2Client(emulator.OAuth2Client{ID: "agent-narrow", Secret: secret, Scopes: []string{"read", "write"}})
	v.mustCLI("write", "acquia/config/app", "provider=oauth2", "client_id=agent-narrow", "client_secret="+secret,
		"token_url="+v.emu.URL()+"/oauth2/token")
	v.mustCLI("write", "acquia/roles/app", "config=app", "scopes=read,write", "ttl=1h")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vault-token"), []byte(v.token), 0o600); err != nil {
		t.Fatal(err)
	}
	tmpl := `{{ with secret "acquia/creds/app" "scopes=read" }}{{ .Data.access_token }}{{ range .Data.scopes }} {{ . }}{{ end }}{{ end }}`
	cfg := filepath.Join(dir, "agent.hcl")
	hcl := strings.Replace(agentConfig(v, dir), strconv.Quote(agentTemplate), strconv.Quote(tmpl), 1)
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	once := exec.CommandContext(ctx, vaultBin, "agent", "-config="+cfg, "-exit-after-auth")
	once.Env = agentEnv()
	once.SysProcAttr = procAttr(false)
	if b, err := once.CombinedOutput(); err != nil {
		t.Fatalf("vault agent -exit-after-auth: %v\n%s", err, b)
	}
	rendered := strings.Fields(readToken(t, filepath.Join(dir, "token.txt")))
	tok, granted := rendered[0], strings.Join(rendered[1:], " ")
	v.remember(tok)
	if got := upstreamScope(t, v.emu, tok); got != "read" || granted != "read" {
		t.Errorf("the agent's token: upstream scope %q, response scopes %q; want read", got, granted)
	}
	v.assertLogClean()
}
