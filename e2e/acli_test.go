//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// The "Acquia CLI" section of docs/consumers.md is what these tests run: its agent
// configuration, its environment lines and its CI lines, so that the two
// cannot drift apart. acli itself (PHP) is not needed: what it reads is the
// two files or variables, and what it does with the token is call the Cloud
// API, here the emulator's /api/account.

const (
	acliKeyID     = "acli-key"
	acliKeySecret = "acli+Key/Secret=:1"
)

type acliReadme struct {
	agentHCL string            // the agent configuration
	env      map[string]string // the export lines for acli
	ci       string            // the CI lines
}

func readAcliReadme(t *testing.T) acliReadme {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "consumers.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n### Acquia CLI\n")
	if !ok {
		t.Fatal(`docs/consumers.md has no "### Acquia CLI" section`)
	}
	if i := regexp.MustCompile(`\n##+ `).FindStringIndex(sec); i != nil {
		sec = sec[:i[0]]
	}
	var r acliReadme
	r.env = map[string]string{}
	for _, m := range regexp.MustCompile("(?s)```(\\w+)\n(.*?)```").FindAllStringSubmatch(sec, -1) {
		lang, body := m[1], m[2]
		switch {
		case lang == "hcl":
			r.agentHCL = body
		case lang == "sh" && strings.Contains(body, "vault read"):
			r.ci = body
		case lang == "sh":
			for _, e := range regexp.MustCompile(`(?m)^export (ACLI_\w+)=(\S+)$`).FindAllStringSubmatch(body, -1) {
				r.env[e[1]] = e[2]
			}
		}
	}
	if r.agentHCL == "" || r.ci == "" || r.env["ACLI_ACCESS_TOKEN_FILE"] == "" || r.env["ACLI_ACCESS_TOKEN_EXPIRY_FILE"] == "" {
		t.Fatalf("docs/consumers.md's Acquia CLI section lacks the agent configuration, the ACLI_*_FILE lines or the CI lines:\n%s", sec)
	}
	return r
}

// acliSetup gives the vault a Cloud config and the role docs/consumers.md shows, on a key
// whose tokens live lifetime.
func acliSetup(t *testing.T, lifetime time.Duration) *vault {
	t.Helper()
	v := startVault(t)
	v.remember(acliKeySecret)
	v.emu.AddCloudClient(emulator.CloudClient{ID: acliKeyID, Secret: acliKeySecret, Lifetime: lifetime})
	v.mustCLI("write", "acquia/config/cloud-prod", "provider=cloud", "client_id="+acliKeyID, "client_secret="+acliKeySecret,
		"token_url="+v.emu.URL()+"/api/auth/oauth/token", "api_url="+v.emu.URL()+"/api")
	v.mustCLI("write", "acquia/roles/site-deploy", "config=cloud-prod", "ttl=5m")
	return v
}

// acliTokens counts the tokens the emulator issued to the acli key.
func acliTokens(emu *emulator.Emulator) int {
	n := 0
	for _, tok := range emu.Tokens("cloud") {
		if tok.ClientID == acliKeyID {
			n++
		}
	}
	return n
}

// checkAcliPair fails unless token works at the Cloud API and expiry is
// its upstream expiry in Unix seconds: the same second, or the one before
// when the upstream's clock passed a second boundary during the request;
// never later than the token lives.
func checkAcliPair(t *testing.T, v *vault, token, expiry string) {
	t.Helper()
	if status := testutil.BearerStatus(t, httpClient, v.emu.URL()+"/api/account", token); status != 200 {
		t.Errorf("the token gets %d at the Cloud API's /api/account, want 200", status)
	}
	got, err := strconv.ParseInt(expiry, 10, 64)
	if err != nil {
		t.Fatalf("the expiry %q is not Unix seconds: %v", expiry, err)
	}
	up := upstreamExpiresAt(t, v.emu, "cloud", token).Unix()
	if got > up || got < up-1 {
		t.Errorf("the expiry %d (%s) is not the token's upstream expiry %d (%s)", got,
			time.Unix(got, 0).UTC().Format(time.RFC3339), up, time.Unix(up, 0).UTC().Format(time.RFC3339))
	}
}

// readAcliFile reads a rendered file as acli 2.3.0 does: as it is, with no
// trimming; it must hold the value and nothing else.
func readAcliFile(t *testing.T, path string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return "", false
	}
	if s := string(bytes.TrimSpace(b)); s != string(b) {
		t.Errorf("%s holds %q: white space around the value", filepath.Base(path), b)
		return s, true
	}
	return string(b), true
}

// logAcliFiles shows what the agent rendered, the token masked.
func logAcliFiles(t *testing.T, tokenPath, token, expiryPath, expiry string) {
	t.Helper()
	masked := strings.Repeat("*", len(token))
	if len(token) > 12 {
		masked = token[:4] + strings.Repeat("*", len(token)-8) + token[len(token)-4:]
	}
	t.Logf("%s: %s (%d bytes)", filepath.Base(tokenPath), masked, len(token))
	if sec, err := strconv.ParseInt(expiry, 10, 64); err == nil {
		t.Logf("%s: %s (%s)", filepath.Base(expiryPath), expiry, time.Unix(sec, 0).UTC().Format(time.RFC3339))
	}
}

func TestAcquiaCLIFilesFromVaultAgent(t *testing.T) {
	readme := readAcliReadme(t)
	tokenREADME, expiryREADME := readme.env["ACLI_ACCESS_TOKEN_FILE"], readme.env["ACLI_ACCESS_TOKEN_EXPIRY_FILE"]
	for _, p := range []string{tokenREADME, expiryREADME} {
		if !strings.Contains(readme.agentHCL, "destination = "+strconv.Quote(p)+"\n  perms       = \"0600\"") {
			t.Fatalf("docs/consumers.md points acli at %s, which its agent configuration does not render with perms 0600", p)
		}
	}

	// Tokens that live 20 s upstream, so the agent must replace them soon.
	v := acliSetup(t, 20*time.Second)
	dir := t.TempDir()
	vaultToken := filepath.Join(dir, "vault-token")
	if err := os.WriteFile(vaultToken, []byte(v.token), 0o600); err != nil {
		t.Fatal(err)
	}
	// The documented files go to a directory the agent has to create.
	runDir := filepath.Join(dir, "files", "acli")
	readmeRunDir := filepath.Dir(tokenREADME)
	tokenPath := filepath.Join(runDir, filepath.Base(tokenREADME))
	expiryPath := filepath.Join(runDir, filepath.Base(expiryREADME))
	replace := map[string]string{
		`"https://vault.example.com:8200"`: strconv.Quote(v.addr),
		`"/etc/vault-agent/vault-token"`:   strconv.Quote(vaultToken),
		strconv.Quote(tokenREADME):         strconv.Quote(tokenPath),
		strconv.Quote(expiryREADME):        strconv.Quote(expiryPath),
	}
	hcl := readme.agentHCL
	for from, to := range replace {
		if !strings.Contains(hcl, from) {
			t.Fatalf("the documented agent configuration lacks %s", from)
		}
		hcl = strings.ReplaceAll(hcl, from, to)
	}
	if strings.Contains(hcl, readmeRunDir+"/") {
		t.Fatalf("the documented agent configuration names another file in %s:\n%s", readmeRunDir, readme.agentHCL)
	}
	cfg := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}

	before := acliTokens(v.emu)
	done := startAgent(t, cfg, filepath.Join(dir, "agent.log"))

	// waitPair waits for both files to name a token other than not, and for
	// the expiry file to name that token's expiry: Agent writes the two files
	// one after the other.
	waitPair := func(not string, within time.Duration) (token, expiry string) {
		t.Helper()
		deadline := time.Now().Add(within)
		for ; time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			select {
			case <-done:
				t.Fatal("vault agent exited")
			default:
			}
			tok, ok := readAcliFile(t, tokenPath)
			if !ok || tok == not {
				continue
			}
			v.remember(tok)
			// Both files follow within a moment of each other.
			pairDeadline := time.Now().Add(2 * time.Second)
			for {
				exp, ok := readAcliFile(t, expiryPath)
				if ok {
					if got, err := strconv.ParseInt(exp, 10, 64); err == nil &&
						got >= upstreamExpiresAt(t, v.emu, "cloud", tok).Unix()-1 {
						return tok, exp
					}
				}
				if time.Now().After(pairDeadline) {
					t.Fatalf("the token file holds a new token, but the expiry file still %q two seconds later", exp)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		t.Fatalf("no new token and expiry rendered within %s", within)
		return "", ""
	}

	a, aExpiry := waitPair("", 30*time.Second)
	logAcliFiles(t, tokenPath, a, expiryPath, aExpiry)
	checkAcliPair(t, v, a, aExpiry)
	if n := acliTokens(v.emu) - before; n != 1 {
		t.Errorf("the agent minted %d tokens for the two files, want one read for both", n)
	}
	for _, p := range []string{tokenPath, expiryPath} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", p, err, info.Mode().Perm())
		}
	}

	// Before the first token expires, both files name the next one.
	aExpires := upstreamExpiresAt(t, v.emu, "cloud", a)
	b, bExpiry := waitPair(a, 60*time.Second)
	if now := time.Now(); !now.Before(aExpires.Add(-time.Second)) {
		t.Errorf("the agent rendered a new token only at %s, after the old lease ended (token expiry %s)", now, aExpires)
	}
	logAcliFiles(t, tokenPath, b, expiryPath, bExpiry)
	checkAcliPair(t, v, b, bExpiry)
	if bExpiry == aExpiry {
		t.Errorf("the expiry file still names the first token's expiry %s", aExpiry)
	}
	for _, p := range []string{tokenPath, expiryPath} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s after re-rendering: %v, mode %v; want 0600", p, err, info.Mode().Perm())
		}
	}

	for _, tok := range v.emu.Tokens("cloud") {
		v.remember(tok.Value)
	}
	v.assertLogClean()
	agentLog, _ := os.ReadFile(filepath.Join(dir, "agent.log"))
	for _, tok := range v.emu.Tokens("cloud") {
		if strings.Contains(string(agentLog), tok.Value) {
			t.Error("a token reached the agent's log")
		}
	}
}

// The documented CI lines, as a CI job's shell runs them: one read, both
// variables from it.
func TestAcquiaCLIEnvironmentForCI(t *testing.T) {
	readme := readAcliReadme(t)
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Skip("jq is not installed; the documented CI lines use it (GitHub's runners have it)")
	}
	v := acliSetup(t, 0)

	// The lines call `vault` and `jq` by name.
	bin := t.TempDir()
	if err := os.Symlink(vaultBin, filepath.Join(bin, "vault")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(jq, filepath.Join(bin, "jq")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := "set -eu\n" + readme.ci + `printf '%s\n%s\n' "$ACLI_ACCESS_TOKEN" "$ACLI_ACCESS_TOKEN_EXPIRY"` + "\n"
	sh := exec.CommandContext(ctx, "sh", "-c", script)
	sh.Env = append(agentEnv(), "PATH="+bin+string(os.PathListSeparator)+"/usr/bin:/bin",
		"VAULT_ADDR="+v.addr, "VAULT_TOKEN="+v.token)
	var stderr bytes.Buffer
	sh.Stderr = &stderr
	before := acliTokens(v.emu)
	out, err := sh.Output()
	if err != nil {
		t.Fatalf("the documented CI lines: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 2 || lines[0] == "" || lines[1] == "" {
		t.Fatalf("the documented CI lines set ACLI_ACCESS_TOKEN and ACLI_ACCESS_TOKEN_EXPIRY to %d lines, want two values", len(lines))
	}
	v.remember(lines[0])
	checkAcliPair(t, v, lines[0], lines[1])
	if n := acliTokens(v.emu) - before; n != 1 {
		t.Errorf("the CI lines minted %d tokens, want one", n)
	}
	v.assertLogClean()
}
