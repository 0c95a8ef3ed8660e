//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// testUpgrade: the README's upgrade path with live leases. v(N) is the
// plugin the e2e run registered; v(N+1) the same source built with the
// next version linked in, so a distinct binary with a distinct sha256.
// Leases of every provider are issued on v(N); `vault secrets tune
// -plugin-version` and `vault plugin reload` move the mount to v(N+1),
// which then renews and revokes them: all work, and no token is left live
// upstream.
func testUpgrade(t *testing.T, tab *longTable) {
	const part = "upgrade"
	const next = "v0.0.1-e2e"
	nextBinary := pluginBinary + "-next"
	bin := filepath.Join(pluginDir, nextBinary)
	build := exec.Command(filepath.Join(repoRoot, "scripts", "build-plugin"), bin, next)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", next, err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	nextSHA := hex.EncodeToString(sum[:])
	if nextSHA == pluginSHA {
		t.Fatal("v(N) and v(N+1) are the same binary: is the version linked in?")
	}

	v := startVault(t)
	v.providerSetup("10s", "30m")
	start := time.Now()
	var leases []leaseRead
	for range 2 {
		for _, p := range longProviders {
			r, status, text := readCreds(longClient, v.addr, v.token, p)
			if status != http.StatusOK {
				t.Fatalf("creds/%s on %s: %d %s", p, pluginVersion, status, text)
			}
			v.remember(r.token)
			leases = append(leases, r)
		}
	}
	if got := runningVersion(t, v); got != pluginVersion {
		t.Fatalf("running %q before the upgrade", got)
	}

	v.mustCLI("plugin", "register", "-sha256="+nextSHA, "-version="+next, "-command="+nextBinary, "secret", pluginName)
	v.mustCLI("secrets", "tune", "-plugin-version="+next, "acquia")
	v.mustCLI("plugin", "reload", "-plugin="+pluginName)
	upgraded := runningVersion(t, v)

	renewed, revoked := 0, 0
	for _, r := range leases {
		before, _ := v.emu.Token(r.token)
		time.Sleep(10 * time.Millisecond)
		if _, errOut, err := v.cli("lease", "renew", r.leaseID); err != nil {
			t.Errorf("renew %s on %s: %s", r.role, next, errOut)
		} else if after, _ := v.emu.Token(r.token); r.role == "cdp" && !after.ExpiresAt.Equal(before.ExpiresAt) {
			// CDP extends upstream only when the lease would outlive the
			// token, which months-long tokens never meet here.
			t.Errorf("renewing a cdp lease on %s changed its token's expiry upstream", next)
		} else {
			renewed++
		}
	}
	for _, r := range leases {
		if _, errOut, err := v.cli("lease", "revoke", "-sync", r.leaseID); err != nil {
			t.Errorf("revoke %s on %s: %s", r.role, next, errOut)
		} else {
			revoked++
		}
	}
	// A new lease on v(N+1), then nothing left upstream.
	if r, status, text := readCreds(longClient, v.addr, v.token, "cdp"); status != http.StatusOK {
		t.Errorf("creds on %s: %d %s", next, status, text)
	} else {
		v.remember(r.token)
	}
	v.mustCLI("lease", "revoke", "-sync", "-prefix", "acquia/creds/")
	left := liveSince(v.emu, start, revocableClients())

	tab.add(t, part, "running version after tune + reload", upgraded, next, upgraded == next)
	tab.count(t, part, "leases of v(N) renewed on v(N+1) (of 10)", renewed, len(leases))
	tab.count(t, part, "leases of v(N) revoked on v(N+1) (of 10)", revoked, len(leases))
	tab.count(t, part, "upstream tokens left alive (revocable providers)", len(left), 0)
	tab.count(t, part, "panics in the vault log", v.panics(), 0)
	v.assertLogClean()
}

// runningVersion is the plugin version the acquia/ mount runs.
func runningVersion(t *testing.T, v *vault) string {
	t.Helper()
	var m struct {
		Data struct {
			RunningVersion string `json:"running_plugin_version"`
		} `json:"data"`
	}
	out := v.mustCLI("read", "-format=json", "sys/mounts/acquia")
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	return m.Data.RunningVersion
}
