//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
