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
	// The demo roles ask for no more than their tokens live: a first
	// impression without a false alarm.
	if strings.Contains(s, "lease TTL cut") {
		t.Errorf("a demo read warns of a cut TTL:\n%s", s)
	}
	for _, want := range []string{"access_token", "lease_id", "acquia/creds/site-deploy/", "acquia/creds/cdp-sync/", "acquia/creds/backup/", "id_token", "acquia/creds/reader/", "acquia/creds/source-editor/", "authorized_at", "tenant_id", "token_type", "Bearer", "Try next"} {
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
	var out syncBuffer
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
