//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBenchRevokeAB tells whether a change to the plugin changes the cost
// of a revoke, which one run of TestBenchRevoke cannot: on a shared host
// the same build measures up to a fifth apart from one target's revoke to
// the next. It mounts two builds side by side on one vault (file storage)
// and revokes the spread shape (1,000 cdp leases over 500 configs) of
// each, then the tracking floor's, in rounds whose order turns, and
// compares each round's median windows: B ÷ A, and the tracking floor ÷
// A (its revoke alone, without the direct revocation). The median over
// rounds of each quotient is the figure; its range shows the noise.
//
// ACQUIA_BENCH_AB names B's binary, or "same" for this build twice (the
// noise alone); A is this tree's build. ACQUIA_BENCH_AB_ENV (KEY=VALUE
// words) is B's environment at registration, ACQUIA_BENCH_AB_ROUNDS the
// rounds (8). `make bench-ab AB=<binary>` runs it.
func TestBenchRevokeAB(t *testing.T) {
	candidate := os.Getenv("ACQUIA_BENCH_AB")
	if os.Getenv("ACQUIA_BENCH") != "1" || candidate == "" {
		t.Skip("make bench-ab runs this (ACQUIA_BENCH=1, ACQUIA_BENCH_AB=<binary> or same)")
	}
	emu := newEmulator(t)
	v := newServer(t, emu, "file", "bench", freePort(t), nil)
	v.launch()
	v.initServer()
	v.waitReady()
	v.mountPlugin()
	v.registerFloor()
	v.mountCandidate(candidate, strings.Fields(os.Getenv("ACQUIA_BENCH_AB_ENV")))
	b := &revokeBench{t: t, v: v, kind: "file",
		c: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	const configs, per = 500, 2
	names, users := b.spreadConfigs(configs, per, "acquia", "candidate")
	targets := []string{"acquia/creds", "candidate/creds", "floor/tracked"}
	rounds := envInt("ACQUIA_BENCH_AB_ROUNDS", 8)
	var bOverA, floorOverA []float64
	for round := range rounds {
		typical, steal := map[string]float64{}, map[string]float64{}
		for i := range targets {
			tg := targets[(i+round)%len(targets)]
			for _, name := range names {
				b.mint(tg+"/"+name, per)
			}
			b.floorRevokes(time.Now()) // forgets those of leases that expired
			settle()
			stealBefore, start := machineCPU()["steal"], time.Now()
			b.revokePrefix(tg)
			steal[tg] = ms((machineCPU()["steal"] - stealBefore) / (configs * per))
			stamps := b.floorRevokes(start)
			if !strings.HasPrefix(tg, "floor/") {
				stamps = revokedSince(emu, "cdp", users, start)
			}
			if len(stamps) != configs*per {
				t.Fatalf("%s: %d of %d leases revoked", tg, len(stamps), configs*per)
			}
			typical[tg] = ms(median(windowsOf(stamps, revokeWindow)))
		}
		a := typical["acquia/creds"]
		bOverA = append(bOverA, typical["candidate/creds"]/a)
		floorOverA = append(floorOverA, typical["floor/tracked"]/a)
		t.Logf("round %d: ms per lease, median window (steal): A %.2f (%.2f), B %.2f (%.2f), tracking floor %.2f (%.2f); "+
			"B ÷ A %.3f", round+1, a, steal["acquia/creds"], typical["candidate/creds"], steal["candidate/creds"],
			typical["floor/tracked"], steal["floor/tracked"], bOverA[round])
	}
	t.Logf("B ÷ A: median %s; tracking floor ÷ A: median %s (%d rounds, ms per lease ratios; under 1: B is faster)",
		spanOf(bOverA), spanOf(floorOverA), rounds)
}

// spanOf is "median (min-max)" of xs.
func spanOf(xs []float64) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	m := (s[(len(s)-1)/2] + s[len(s)/2]) / 2
	return fmt.Sprintf("%.3f (%.3f-%.3f)", m, s[0], s[len(s)-1])
}

// mountCandidate registers bin (or, for "same", this tree's build) under
// another name, so that it runs as a process of its own, with env, and
// mounts it at candidate/.
func (v *vault) mountCandidate(bin string, env []string) {
	v.t.Helper()
	command := pluginBinary
	if bin != "same" {
		data, err := os.ReadFile(bin)
		if err != nil {
			v.t.Fatal(err)
		}
		command = "candidate-plugin"
		if err := os.WriteFile(filepath.Join(pluginDir, command), data, 0o755); err != nil {
			v.t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(pluginDir, command))
	if err != nil {
		v.t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	args := []string{"plugin", "register", "-sha256=" + hex.EncodeToString(sum[:]), "-command=" + command}
	for _, e := range env {
		args = append(args, "-env="+e)
	}
	v.mustCLI(append(args, "secret", "candidate")...)
	v.mustCLI("secrets", "enable", "-path=candidate", "candidate")
}
