//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// terraformMain is what the README shows: configs and roles as
// vault_generic_endpoint with ignore_absent_fields (so write-only secrets
// do not show as drift), durations and lists in the form a read returns
// them, and static-creds as a vault_generic_secret data source: every plan
// reads it, so it must cost no upstream token and no lease.
const terraformMain = `
terraform {
  required_providers {
    vault = { source = "hashicorp/vault" }
  }
}

variable "vault_addr" {}
variable "vault_token" {}
variable "emulator" {}
variable "cdp_user" {}
variable "cdp_pass" {}
variable "client_secret" {}

provider "vault" {
  address          = var.vault_addr
  token            = var.vault_token
  skip_child_token = true
}

resource "vault_generic_endpoint" "cdp" {
  path                 = "acquia/config/cdp-prod"
  ignore_absent_fields = true
  data_json = jsonencode({
    provider = "cdp", username = var.cdp_user, password = var.cdp_pass, base_url = var.emulator
  })
}

resource "vault_generic_endpoint" "idp" {
  path                 = "acquia/config/idp"
  ignore_absent_fields = true
  data_json = jsonencode({
    provider       = "oauth2"
    client_id      = "demo-oauth2-client"
    client_secret  = var.client_secret
    token_url      = "${var.emulator}/oauth2/token"
    revocation_url = "${var.emulator}/oauth2/revoke"
    scopes         = ["read"]
    request_timeout = 20
  })
}

resource "vault_generic_endpoint" "reader" {
  path                 = "acquia/roles/reader"
  ignore_absent_fields = true
  data_json = jsonencode({
    config = "idp", scopes = ["read"], ttl = 60, max_ttl = 300
  })
  depends_on = [vault_generic_endpoint.idp]
}

resource "vault_generic_endpoint" "shared" {
  path                 = "acquia/static-roles/shared"
  ignore_absent_fields = true
  data_json = jsonencode({
    config = "idp", scopes = ["read"], rotation_period = 1800
  })
  depends_on = [vault_generic_endpoint.idp]
}

data "vault_generic_secret" "token" {
  path       = "acquia/static-creds/shared"
  depends_on = [vault_generic_endpoint.shared]
}

output "access_token" {
  value     = data.vault_generic_secret.token.data["access_token"]
  sensitive = true
}
`

func TestTerraformVaultProvider(t *testing.T) {
	v := startVault(t)

	_, run := tofuWorkspace(t, terraformMain, map[string]string{"vault_addr": v.addr, "vault_token": v.token,
		"emulator": v.emu.URL(), "cdp_user": emulator.DemoCDPUsername, "cdp_pass": emulator.DemoCDPPassword,
		"client_secret": emulator.DemoOAuth2ClientSecret})

	if out, err := run("apply", "-auto-approve", "-no-color"); err != nil {
		t.Fatalf("tofu apply: %v\n%s", err, out)
	}
	// The secrets went in; reads never show them.
	for _, p := range []string{"acquia/config/cdp-prod", "acquia/config/idp"} {
		out := v.mustCLI("read", "-format=json", p)
		if strings.Contains(out, emulator.DemoCDPPassword) || strings.Contains(out, emulator.DemoOAuth2ClientSecret) {
			t.Errorf("%s shows a secret", p)
		}
	}
	if role := v.readJSON("acquia/roles/reader"); fmt.Sprint(role.Data["ttl"]) != "60" {
		t.Errorf("role as written by tofu: %v", role.Data)
	}
	tok, err := run("output", "-raw", "access_token")
	if err != nil || !v.emu.TokenLive(strings.TrimSpace(tok)) {
		t.Fatalf("tofu output access_token (%v): the token is not live upstream", err)
	}
	v.remember(strings.TrimSpace(tok))

	// A second plan changes no resource: write-only fields and defaults are
	// not drift. Reading static-creds again mints nothing upstream.
	calls := v.emu.Requests("/oauth2/token")
	if out, err := run("plan", "-no-color", "-out=second.plan"); err != nil {
		t.Fatalf("tofu plan: %v\n%s", err, out)
	}
	if n := v.emu.Requests("/oauth2/token") - calls; n != 0 {
		t.Errorf("a plan made %d upstream token calls; static-creds should make none", n)
	}
	if code, body := v.api("LIST", "sys/leases/lookup/acquia/", nil); code != 404 {
		t.Errorf("apply and plan left leases: %d %v", code, body["data"])
	}
	out, err := run("show", "-json", "second.plan")
	if err != nil {
		t.Fatalf("tofu show: %v\n%s", err, out)
	}
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Mode    string `json:"mode"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&plan); err != nil {
		t.Fatalf("decoding the plan: %v\n%s", err, out)
	}
	managed := 0
	for _, rc := range plan.ResourceChanges {
		if rc.Mode != "managed" {
			continue
		}
		managed++
		if strings.Join(rc.Change.Actions, ",") != "no-op" {
			t.Errorf("the second plan would %v %s", rc.Change.Actions, rc.Address)
		}
	}
	if managed != 4 {
		t.Errorf("the plan covers %d resources, want 4", managed)
	}
	for _, tok := range v.emu.Tokens("oauth2") {
		v.remember(tok.Value)
	}
	v.assertLogClean()
}

// tofuWorkspace writes mainTF into a new directory, with a CLI
// configuration that takes the hashicorp/vault provider from the built
// one, and returns the directory and a runner of tofu there with vars as
// TF_VAR_s. The runner answers stdout, and stderr too when tofu fails.
func tofuWorkspace(t *testing.T, mainTF string, vars map[string]string) (dir string, run func(args ...string) (string, error)) {
	t.Helper()
	tofu := toolPath(t, "TOFU_BIN", "install-tofu")
	providerDir := toolPath(t, "TF_PROVIDER_VAULT_DIR", "install-terraform-provider-vault")
	dir = t.TempDir()
	cliConfig := filepath.Join(dir, "tofu.rc")
	rc := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"hashicorp/vault\" = %q\n  }\n  direct {}\n}\n", providerDir)
	if err := os.WriteFile(cliConfig, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(mainTF), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig, "TF_IN_AUTOMATION=1", "TF_INPUT=0",
		"CHECKPOINT_DISABLE=1", "NO_COLOR=1")
	for k, v := range vars {
		env = append(env, "TF_VAR_"+k+"="+v)
	}
	return dir, func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, tofu, args...)
		cmd.Dir = dir
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return out.String() + errOut.String(), err
		}
		return out.String(), nil
	}
}

// toolPath is $env when set (make e2e builds the tools first), or else
// what scripts/<script> prints: it builds the tool once and caches it
// outside the repository.
func toolPath(t *testing.T, env, script string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", script))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/%s: %v", script, err)
	}
	return strings.TrimSpace(string(out))
}
