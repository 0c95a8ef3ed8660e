//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

const agentTemplate = `{{ with secret "acquia/creds/app" }}{{ .Data.access_token }}{{ end }}`

// agentConfig is the configuration the README shows, pointed at this test's
// Vault and files.
func agentConfig(v *vault, dir string) string {
	return fmt.Sprintf(`vault {
  address = %q
}

auto_auth {
  method "token_file" {
    config = {
      token_file_path = %q
    }
  }
}

template_config {
  exit_on_retry_failure = true
}

template {
  contents    = %q
  destination = %q
  perms       = "0600"
}
`, v.addr, filepath.Join(dir, "vault-token"), agentTemplate, filepath.Join(dir, "token.txt"))
}

func TestVaultAgentRendersAndRefreshesTokens(t *testing.T) {
	v := startVault(t)
	// Tokens that live 20 s upstream, so the agent must fetch new ones soon.
	const secret = "agent+Secret/=:1"
	v.remember(secret)
	v.emu.AddOAuth2Client(emulator.OAuth2Client{ID: "agent-app", Secret: secret, Lifetime: 20 * time.Second})
	v.mustCLI("write", "acquia/config/app", "provider=oauth2", "client_id=agent-app", "client_secret="+secret,
		"token_url="+v.emu.URL()+"/oauth2/token", "revocation_url="+v.emu.URL()+"/oauth2/revoke")
	v.mustCLI("write", "acquia/roles/app", "config=app", "ttl=1h")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vault-token"), []byte(v.token), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfg, []byte(agentConfig(v, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "token.txt")

	// First check: render once and exit.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	once := exec.CommandContext(ctx, vaultBin, "agent", "-config="+cfg, "-exit-after-auth")
	once.Env = agentEnv()
	once.SysProcAttr = procAttr(false)
	if b, err := once.CombinedOutput(); err != nil {
		t.Fatalf("vault agent -exit-after-auth: %v\n%s", err, b)
	}
	if info, err := os.Stat(out); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the rendered token file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	first := readToken(t, out)
	if !v.emu.TokenLive(first) {
		t.Fatal("the rendered token is not live upstream")
	}
	v.remember(first)

	// Then as a daemon: it renders a new token before the old one expires.
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	done := startAgent(t, cfg, filepath.Join(dir, "agent.log"))

	a := waitToken(t, out, "", 30*time.Second, done)
	v.remember(a)
	aUp, known := v.emu.Token(a)
	if !known || aUp.Service != "oauth2" {
		t.Fatal("the emulator does not know the rendered token")
	}
	aExpires := aUp.ExpiresAt
	b := waitToken(t, out, a, 60*time.Second, done)
	v.remember(b)
	// The lease TTL is whole seconds cut to the upstream expiry, so the
	// lease ends up to a second before the token.
	if now := time.Now(); !now.Before(aExpires.Add(-time.Second)) {
		t.Errorf("the agent rendered a new token only at %s, after the old lease ended (token expiry %s)", now, aExpires)
	}
	if !v.emu.TokenLive(b) {
		t.Error("the re-rendered token is not live upstream")
	}
	for _, tok := range v.emu.Tokens("oauth2") {
		v.remember(tok.Value)
	}
	v.assertLogClean()
	agentLog, _ := os.ReadFile(filepath.Join(dir, "agent.log"))
	for _, tok := range v.emu.Tokens("oauth2") {
		if strings.Contains(string(agentLog), tok.Value) {
			t.Error("a token reached the agent's log")
		}
	}
}

// startAgent runs `vault agent -config=cfg` until the test ends, logging to
// logPath (shown when the test fails). The channel closes when the agent
// exits.
func startAgent(t *testing.T, cfg, logPath string) <-chan struct{} {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(vaultBin, "agent", "-config="+cfg, "-log-level=debug")
	agent.Stdout, agent.Stderr = logf, logf
	agent.Env = agentEnv()
	agent.SysProcAttr = procAttr(true)
	if err := agent.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = agent.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-agent.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-agent.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("agent log:\n%s", b)
		}
	})
	return done
}

// agentEnv keeps the caller's VAULT_* settings (VAULT_ADDR wins over the
// config's address) away from the agent under test.
func agentEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return env
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		t.Fatal("the template rendered nothing")
	}
	return tok
}

// waitToken waits until the file holds a token other than not.
func waitToken(t *testing.T, path, not string, within time.Duration, agentDone <-chan struct{}) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			if tok := strings.TrimSpace(string(b)); tok != "" && tok != not {
				return tok
			}
		}
		select {
		case <-agentDone:
			t.Fatal("vault agent exited")
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("no new token rendered within %s", within)
	return ""
}

// A template of static-creds is re-rendered with each new token before the
// previous one dies upstream, three rotations in a row: static-creds
// answers rotation_period and an integer ttl, so Agent re-reads it at
// ttl+1 s instead of its 5-minute default.
func TestVaultAgentRerendersEachStaticRotation(t *testing.T) {
	v := startVault(t)
	const id, secret = "agent-static", "agent+Static/=:2"
	v.remember(secret)
	v.emu.AddCloudClient(emulator.CloudClient{ID: id, Secret: secret, Lifetime: 30 * time.Second})
	v.mustCLI("write", "acquia/config/app", "provider=cloud", "client_id="+id, "client_secret="+secret,
		"token_url="+v.emu.URL()+"/api/auth/oauth/token", "api_url="+v.emu.URL()+"/api")
	v.mustCLI("write", "acquia/static-roles/app", "config=app", "rotation_period=15s")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vault-token"), []byte(v.token), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.hcl")
	conf := strings.Replace(agentConfig(v, dir), fmt.Sprintf("%q", agentTemplate),
		fmt.Sprintf("%q", `{{ with secret "acquia/static-creds/app" }}{{ .Data.access_token }}{{ end }}`), 1)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "token.txt")
	done := startAgent(t, cfg, filepath.Join(dir, "agent.log"))

	prev := waitToken(t, out, "", 30*time.Second, done)
	v.remember(prev)
	for i := 1; i <= 3; i++ {
		up, ok := v.emu.Token(prev)
		if !ok {
			t.Fatal("the emulator does not know the rendered token")
		}
		next := waitToken(t, out, prev, 40*time.Second, done)
		renderedAt := time.Now()
		v.remember(next)
		nextUp, _ := v.emu.Token(next)
		t.Logf("rotation %d: token minted at %s, rendered at %s (%.1f s later); the previous token dies at %s",
			i, nextUp.IssuedAt.Format("15:04:05.000"), renderedAt.Format("15:04:05.000"),
			renderedAt.Sub(nextUp.IssuedAt).Seconds(), up.ExpiresAt.Format("15:04:05.000"))
		if !renderedAt.Before(up.ExpiresAt) {
			t.Errorf("rotation %d: the new token was rendered at %s, after the previous one died at %s", i, renderedAt, up.ExpiresAt)
		}
		if !v.emu.TokenLive(next) {
			t.Errorf("rotation %d: the rendered token is not live upstream", i)
		}
		prev = next
	}
	for _, tok := range v.emu.Tokens("cloud") {
		v.remember(tok.Value)
	}
	v.assertLogClean()
}
