//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// bearerProbeEnv makes the e2e test binary a one-shot client: it calls
// the URL it names with the Bearer token in $TOKEN and exits 0 on a 200.
// Terraform's local-exec runs it, as an app would use the token.
const bearerProbeEnv = "ACQUIA_E2E_BEARER_PROBE"

func bearerProbe(u string) int {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+os.Getenv("TOKEN"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "probe: HTTP", resp.StatusCode)
		return 1
	}
	return 0
}

// terraformEphemeral reads creds (a lease) and static-creds through the
// provider's ephemeral vault_generic_secret and uses each token in a
// local-exec provisioner: ephemeral values reach the provisioner and
// never the state or the plan.
const terraformEphemeral = `
terraform {
  required_providers {
    vault = { source = "hashicorp/vault" }
  }
}

variable "vault_addr" {}
variable "vault_token" {}
variable "probe" {}
variable "account_url" {}

provider "vault" {
  address          = var.vault_addr
  token            = var.vault_token
  skip_child_token = true
}

ephemeral "vault_generic_secret" "deploy" {
  path = "acquia/creds/terraform"
}

ephemeral "vault_generic_secret" "shared" {
  path = "acquia/static-creds/shared"
}

resource "terraform_data" "deploy" {
  provisioner "local-exec" {
    command     = var.probe
    environment = {
      TOKEN                    = ephemeral.vault_generic_secret.deploy.data["access_token"]
      ACQUIA_E2E_BEARER_PROBE = var.account_url
    }
  }
}

resource "terraform_data" "shared" {
  provisioner "local-exec" {
    command     = var.probe
    environment = {
      TOKEN                    = ephemeral.vault_generic_secret.shared.data["access_token"]
      ACQUIA_E2E_BEARER_PROBE = var.account_url
    }
  }
}
`

// OpenTofu's ephemeral vault_generic_secret reads creds/<role> and
// static-creds/<name>, an app uses the tokens, and neither token is in
// the state or the plan file. The provider never revokes the lease it
// opened (it has no Close): the role for Terraform has a short TTL.
func TestTerraformEphemeralCreds(t *testing.T) {
	v := startVault(t)
	v.cloudConfig()
	v.mustCLI("write", "acquia/roles/terraform", "config=cloud-demo", "ttl=2m", "max_ttl=5m")
	v.mustCLI("write", "acquia/static-roles/shared", "config=cloud-demo")
	probe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, run := tofuWorkspace(t, terraformEphemeral, map[string]string{"vault_addr": v.addr, "vault_token": v.token,
		"probe": probe, "account_url": v.emu.URL() + "/api/account"})
	if out, err := run("plan", "-no-color", "-out=apply.plan"); err != nil {
		t.Fatalf("tofu plan: %v\n%s", err, out)
	}
	used := v.emu.Requests("/api/account")
	if out, err := run("apply", "-no-color", "apply.plan"); err != nil {
		t.Fatalf("tofu apply (the provisioners use the tokens): %v\n%s", err, out)
	}
	if n := v.emu.Requests("/api/account") - used; n != 2 {
		t.Errorf("the provisioners called the API %d times, want once per token", n)
	}
	tokens := v.emu.Tokens("cloud")
	if len(tokens) < 2 {
		t.Fatalf("%d tokens upstream, want at least the lease's and the static role's", len(tokens))
	}
	for _, tok := range tokens {
		v.remember(tok.Value)
	}
	// Neither the state nor a plan holds a token.
	if out, err := run("plan", "-no-color", "-out=second.plan"); err != nil {
		t.Fatalf("tofu plan: %v\n%s", err, out)
	}
	var files []string
	for _, f := range []string{"terraform.tfstate", "apply.plan", "second.plan"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		files = append(files, f)
		for _, tok := range v.emu.Tokens("cloud") {
			if bytes.Contains(b, []byte(tok.Value)) {
				t.Errorf("%s holds an upstream token", f)
			}
		}
		if bytes.Contains(b, []byte(emulator.DemoCloudClientSecret)) {
			t.Errorf("%s holds the client secret", f)
		}
	}
	if show, err := run("show", "-json", "second.plan"); err != nil || strings.Contains(show, "access_token\":\"") {
		t.Errorf("tofu show of the plan: %v, or it holds an access_token", err)
	}
	// The provider opened a lease and never revokes it: it ends at the
	// role's TTL.
	if code, _ := v.api("LIST", "sys/leases/lookup/acquia/creds/terraform/", nil); code != 200 {
		t.Errorf("listing the lease Terraform opened: %d", code)
	}
	t.Logf("checked %v for tokens", files)
	v.assertLogClean()
}
