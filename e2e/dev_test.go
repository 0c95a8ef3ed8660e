//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	for _, want := range []string{"access_token", "lease_id", "acquia/creds/site-deploy/", "acquia/creds/cdp-sync/", "acquia/creds/backup/", "id_token", "acquia/creds/reader/", "acquia/creds/source-editor/", "authorized_at", "tenant_id", "token_type", "Bearer", "Try next"} {
		if !strings.Contains(s, want) {
			t.Errorf("make dev output lacks %q:\n%s", want, s)
		}
	}
}

// Ctrl-C (SIGINT to the foreground process group) stops make dev's Vault
// and emulator and frees their ports.
func TestMakeDevStopsOnCtrlC(t *testing.T) {
	vaultPort, emuPort := freePort(t), freePort(t)
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "dev"))
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), fmt.Sprintf("VAULT_PORT=%d", vaultPort), fmt.Sprintf("EMULATOR_PORT=%d", emuPort))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()

	deadline := time.After(5 * time.Minute)
	for !strings.Contains(out.String(), "Ctrl-C stops") {
		select {
		case err := <-done:
			t.Fatalf("make dev exited before it was ready: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("make dev not ready:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("make dev exited with %v after Ctrl-C:\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("make dev did not stop on Ctrl-C")
	}
	for _, port := range []int{vaultPort, emuPort} {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still answers after Ctrl-C", port)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
