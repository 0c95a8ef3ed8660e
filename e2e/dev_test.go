//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// `make dev` runs scripts/dev; this runs it to its first read and checks a
// newcomer sees a token minted through the real Vault.
func TestMakeDevShowsAToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "scripts", "dev"))
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "ACQUIA_DEV_ONESHOT=1",
		fmt.Sprintf("VAULT_PORT=%d", freePort(t)), fmt.Sprintf("EMULATOR_PORT=%d", freePort(t)))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/dev: %v\n%s", err, out.String())
	}
	s := out.String()
	// The demo roles ask for no more than their tokens live: a first
	// impression without a false alarm.
	if strings.Contains(s, "lease TTL cut") {
		t.Errorf("a demo read warns of a cut TTL:\n%s", s)
	}
	for _, want := range []string{"access_token", "lease_id", "acquia/creds/site-deploy/", "acquia/creds/cdp-sync/", "acquia/creds/backup/", "id_token", "acquia/creds/reader/", "acquia/creds/source-editor/", "authorized_at", "tenant_id", "token_type", "Bearer", "Try next",
		"export ACLI_ACCESS_TOKEN=", "ACLI_ACCESS_TOKEN_EXPIRY=", "jq -r .data.expires_at_unix", "lease revoke -prefix acquia/creds/\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("make dev output lacks %q:\n%s", want, s)
		}
	}
}

// Ctrl-C (SIGINT to the foreground process group) stops make dev's Vault
// and emulator and frees their ports; so does a SIGTERM to the script
// alone (a supervisor's kill), which only its cleanup trap passes on.
func TestMakeDevStopsOnCtrlC(t *testing.T) {
	for name, stop := range map[string]func(pid int) error{
		"Ctrl-C":          func(pid int) error { return syscall.Kill(-pid, syscall.SIGINT) },
		"kill the script": func(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) },
	} {
		t.Run(name, func(t *testing.T) { testMakeDevStops(t, stop) })
	}
}

func testMakeDevStops(t *testing.T, stop func(pid int) error) {
	vaultPort, emuPort := freePort(t), freePort(t)
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "dev"))
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), fmt.Sprintf("VAULT_PORT=%d", vaultPort), fmt.Sprintf("EMULATOR_PORT=%d", emuPort))
	cmd.SysProcAttr = procAttr(true)
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if exited {
			return
		}
		// Let the script's trap clean up, then make sure.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()

	deadline := time.After(5 * time.Minute)
	for !strings.Contains(out.String(), "Ctrl-C stops") {
		select {
		case err := <-done:
			exited = true
			t.Fatalf("make dev exited before it was ready: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("make dev not ready:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	checkDevNextSteps(t, out.String(), vaultPort, emuPort)
	if err := stop(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Errorf("make dev exited with %v when stopped:\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("make dev did not stop")
	}
	for _, port := range []int{vaultPort, emuPort} {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still answers after make dev stopped", port)
		}
	}
}

// checkDevNextSteps runs what make dev prints after its reads, against
// its Vault: the two lines that give acli a token and its expiry, and the
// lease revoke that cleans up.
func checkDevNextSteps(t *testing.T, out string, vaultPort, emuPort int) {
	t.Helper()
	_, next, ok := strings.Cut(out, "\nAcquia CLI (acli)")
	if !ok {
		t.Errorf("make dev does not show the way to acli:\n%s", out)
		return
	}
	var acli, revoke []string
	for _, line := range strings.Split(next, "\n") {
		switch line = strings.TrimSpace(line); {
		case strings.HasPrefix(line, "creds=") || strings.HasPrefix(line, "export ACLI_"):
			acli = append(acli, line)
		case strings.Contains(line, "lease revoke -prefix acquia/creds/"):
			revoke = append(revoke, line)
		}
	}
	if len(acli) != 2 || len(revoke) != 1 {
		t.Errorf("make dev shows %d acli lines and %d cleanup lines, want 2 and 1:\n%s", len(acli), len(revoke), next)
		return
	}
	vaultAddr := fmt.Sprintf("http://127.0.0.1:%d", vaultPort)
	run := func(script string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sh := exec.CommandContext(ctx, "sh", "-c", "set -eu\n"+script)
		sh.Env = append(agentEnv(), "VAULT_ADDR="+vaultAddr, "VAULT_TOKEN=root")
		var stderr bytes.Buffer
		sh.Stderr = &stderr
		b, err := sh.Output()
		if err != nil {
			t.Errorf("%s: %v\n%s", script, err, stderr.String())
		}
		return string(b)
	}

	if _, err := exec.LookPath("jq"); err != nil {
		t.Log("jq is not installed: not running make dev's acli lines")
	} else {
		vals := strings.Fields(run(strings.Join(acli, "\n") + "\n" + `printf '%s %s\n' "$ACLI_ACCESS_TOKEN" "$ACLI_ACCESS_TOKEN_EXPIRY"`))
		if len(vals) != 2 {
			t.Errorf("make dev's acli lines set %q", vals)
		} else {
			if status := testutil.BearerStatus(t, httpClient, fmt.Sprintf("http://127.0.0.1:%d/api/account", emuPort), vals[0]); status != 200 {
				t.Errorf("the token of make dev's acli lines gets %d at the emulator's /api/account", status)
			}
			exp, err := strconv.ParseInt(vals[1], 10, 64)
			if left := time.Until(time.Unix(exp, 0)); err != nil || left < 290*time.Second || left > 300*time.Second {
				t.Errorf("ACLI_ACCESS_TOKEN_EXPIRY %q: want the Unix second a 300 s Cloud token expires", vals[1])
			}
		}
	}

	// Without -sync, Vault revokes in the background.
	run(revoke[0])
	var status int
	var body []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest("LIST", vaultAddr+"/v1/sys/leases/lookup/acquia/creds/", nil)
		req.Header.Set("X-Vault-Token", "root")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if status = resp.StatusCode; status == http.StatusNotFound {
			return
		}
	}
	t.Errorf("after make dev's cleanup line, sys/leases/lookup/acquia/creds/ still answers %d: %s", status, body)
}
