//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// TestBenchRevoke is the mass-revocation half of `make bench`: `revoke
// -prefix` of many leases through a real vault, on file storage and on
// raft integrated storage (a single node), each beside two floors from
// the same run and server:
//
//   - floor: the floor plugin's revoke (nothing to do), plus one direct
//     upstream revocation made from the bench client;
//   - tracking floor: the floor plugin's tracked/ leases, whose revoke
//     deletes one storage record, plus the same direct revocation.
//
// The floor's leases lie under as many lease paths as the plugin's, and
// its records under as many directories (held/<name>/), as Vault's own
// cost per lease depends on both on file storage.
//
// Two shapes:
//
//   - held: one oauth2 config with a revocation_url (no upstream limit on
//     the tokens it holds) holding 300 (5 rounds), then 3,000, then
//     10,000 leases, each revoked with one revoke -prefix: whether the
//     cost per lease grows with the leases the config holds;
//   - spread: 1,000 leases over 500 CDP configs, 2 each, one revoke
//     -prefix, in rounds (ACQUIA_BENCH_SPREAD_ROUNDS, 3).
//
// The spread shape has a third floor, for context: the calling floor, the
// floor plugin's calling/ leases, whose revoke makes the upstream call
// itself (plain net/http) and then deletes its record. It is what the
// tracking floor plus a direct revoke stands for, made inside a revoke,
// with Vault, a plugin and the upstream taking turns on the machine's
// CPUs as they do for the plugin.
//
// Each target's figure is its median window: the time per lease of 50
// revokes one after another (the plugin's timed by when the emulator saw
// each upstream revocation, the floor plugin's by its own clock), with
// the mean over whole revokes beside it. Noise on a shared host only adds
// time, in bursts: one spoils a few windows, not the figure.
//
// It runs only when ACQUIA_BENCH=1. ACQUIA_BENCH_STORAGE ("file raft"),
// ACQUIA_BENCH_SHAPES ("held spread") and ACQUIA_BENCH_HELD ("300 3000
// 10000") narrow it; ACQUIA_BENCH_SETTLE (a duration, e.g. 20s) pauses
// between each set's minting and its revoke, for all targets alike, so
// that the storage's work after a burst of writes falls outside the
// revoke. ACQUIA_BENCH_PROFILE, a directory, gets Vault's CPU profile of
// each revoke; ACQUIA_BENCH_PLUGIN_ENV (KEY=VALUE words) is the plugin's
// environment at registration (vault plugin register -env). The table is
// also written to bench/revoke.json.
func TestBenchRevoke(t *testing.T) {
	if os.Getenv("ACQUIA_BENCH") != "1" {
		t.Skip("make bench runs this (ACQUIA_BENCH=1)")
	}
	kinds := strings.Fields(os.Getenv("ACQUIA_BENCH_STORAGE"))
	if len(kinds) == 0 {
		kinds = []string{"file", "raft"}
	}
	shapes := os.Getenv("ACQUIA_BENCH_SHAPES")
	if shapes == "" {
		shapes = "held spread"
	}
	sizes := []int{300, 3000, 10000}
	if f := strings.Fields(os.Getenv("ACQUIA_BENCH_HELD")); len(f) > 0 {
		sizes = nil
		for _, s := range f {
			var n int
			if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
				t.Fatalf("ACQUIA_BENCH_HELD: %q is not a count", s)
			}
			sizes = append(sizes, n)
		}
	}
	var rows []benchRow
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			rows = append(rows, benchRevokeOn(t, kind, sizes, shapes)...)
		})
	}
	printBenchAs(t, rows, 0, "revoke.json")
}

// revokeBench is one server of TestBenchRevoke with its clients.
type revokeBench struct {
	t      *testing.T
	v      *vault
	kind   string
	c      *http.Client
	client func(benchRequest) (time.Duration, error)
}

// revokeTimes are what one shape's revokes took, in all, over n leases
// for each target, and the mean time of one direct upstream revocation.
type revokeTimes struct {
	n int
	// took is each target's revokes' time in all, by target: "plugin",
	// "floor", "tracked" and, where measured, "calling".
	took   map[string]time.Duration
	direct time.Duration
	left   int
	// waiting is how many of the plugin's token records were still in
	// storage when its revoke-prefix returned (the delete follows each
	// revoke's answer), at most, over rounds; -1 where it cannot be seen
	// (raft storage).
	waiting int
	// windows are the times per lease over each run of revokeWindow
	// revokes, one after another, by target: the plugin's by when the
	// emulator saw each upstream revocation, the floor plugin's by when
	// its revoke ran.
	windows map[string][]time.Duration
	// cpu is the CPU each process (and the machine) used during each
	// target's revokes, by target: "plugin", "floor", "tracked" and
	// "calling".
	cpu map[string]map[string]time.Duration
	// opens is how many TCP connections the machine opened during each
	// target's revokes.
	opens map[string]int64
}

// cpuNote is what target's revokes used, per lease: each process's CPU
// (cpuPer), then the whole machine's busy time, iowait and steal, and the TCP
// connections opened.
func (t revokeTimes) cpuNote(target string, procs ...string) string {
	c := t.cpu[target]
	if len(c) == 0 {
		return ""
	}
	return fmt.Sprintf("%s %s; machine %.2f, iowait %.2f, steal %.2f, TCP connections opened %.2f", target,
		cpuPer("lease", nil, c, t.n, procs...), t.perLease(c["machine"]), t.perLease(c["iowait"]), t.perLease(c["steal"]),
		float64(t.opens[target])/float64(t.n))
}

// revokeWindow is how many revokes, one after another, make one window of
// revokeTimes.windows.
const revokeWindow = 50

// typical is target's median window, in ms per lease: the cost of one
// revoke while a revoke-prefix runs, without Vault's listing of the leases
// before the first. Noise on a shared host (steal, a neighbour's cache)
// only ever adds time, in bursts: the median leaves the windows a burst
// spoiled out, where the mean over whole revokes (perLease) carries them.
func (t revokeTimes) typical(target string) float64 { return ms(median(t.windows[target])) }

// median is the middle of ds (the mean of the two middle ones), 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// windowsOf cuts stamps, revocation times in order, into runs of size
// revocations and returns each run's time per revocation; the last, shorter
// run is left out.
func windowsOf(stamps []time.Time, size int) []time.Duration {
	var out []time.Duration
	for i := 0; i+size < len(stamps); i += size {
		out = append(out, stamps[i+size].Sub(stamps[i])/time.Duration(size))
	}
	return out
}

// perLease is the ms per lease of a total over t.n leases.
func (t revokeTimes) perLease(d time.Duration) float64 { return ms(d / time.Duration(t.n)) }

func benchRevokeOn(t *testing.T, kind string, sizes []int, shapes string) []benchRow {
	emu := newEmulator(t)
	v := newServer(t, emu, kind, "bench", freePort(t), nil)
	v.launch()
	v.initServer()
	v.waitReady()
	v.mountPlugin(strings.Fields(os.Getenv("ACQUIA_BENCH_PLUGIN_ENV"))...)
	v.registerFloor()
	b := &revokeBench{t: t, v: v, kind: kind,
		c:      &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		client: startBenchClient(t)}
	var rows []benchRow
	if strings.Contains(shapes, "held") {
		held := map[int]revokeTimes{}
		for _, n := range sizes {
			held[n] = b.held(n)
			rows = append(rows, revokeRows(fmt.Sprintf("%s: one oauth2 config holding %d", kind, n), held[n], 0)...)
		}
		if len(sizes) > 1 {
			nLo, nHi := sizes[0], sizes[len(sizes)-1]
			rows = append(rows, growthRow(kind, nLo, nHi, held[nLo], held[nHi]))
		}
	}
	if strings.Contains(shapes, "spread") {
		const configs, per = 500, 2
		rounds := envInt("ACQUIA_BENCH_SPREAD_ROUNDS", 3)
		rows = append(rows, revokeRows(fmt.Sprintf("%s: %d cdp leases over %d configs", kind, configs*per, configs),
			b.spread(configs, per, rounds), 0.90)...)
	}
	return rows
}

// mint reads n leases from path, 8 at a time.
func (b *revokeBench) mint(path string, n int) {
	b.t.Helper()
	throughput(b.t, 8, n, func() error { return b.v.do(b.c, http.MethodGet, path, nil) })
}

// revokePrefix revokes every lease under prefix (a lease path, without a
// trailing slash) and returns how long Vault took.
func (b *revokeBench) revokePrefix(prefix string) time.Duration {
	b.t.Helper()
	start := time.Now()
	if err := b.v.do(b.c, http.MethodPut, "sys/leases/revoke-prefix/"+prefix+"?sync=true", map[string]any{}); err != nil {
		b.t.Fatal(err)
	}
	return time.Since(start)
}

// directRevokes is the mean time of one direct upstream revocation, made
// from the bench client as the plugin makes it: one call for each request.
func (b *revokeBench) directRevokes(reqs []benchRequest) time.Duration {
	b.t.Helper()
	var total time.Duration
	for _, r := range reqs {
		took, err := b.client(r)
		if err != nil {
			b.t.Fatal(err)
		}
		total += took
	}
	return total / time.Duration(len(reqs))
}

// liveOf is the set of live tokens of the emulator's service issued to
// one of clients.
func liveOf(emu *emulator.Emulator, service string, clients map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, tok := range emu.LiveTokens(service) {
		if clients[tok.ClientID] {
			out[tok.Value] = true
		}
	}
	return out
}

// revokedSince is when each token of the emulator's service issued to one
// of clients was revoked, for those revoked since start, in order.
func revokedSince(emu *emulator.Emulator, service string, clients map[string]bool, start time.Time) []time.Time {
	var out []time.Time
	for _, tok := range emu.Tokens(service) {
		if clients[tok.ClientID] && tok.RevokedAt.After(start) {
			out = append(out, tok.RevokedAt)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// floorRevokes is when each of the floor plugin's revokes since start ran,
// in order; it forgets them all.
func (b *revokeBench) floorRevokes(start time.Time) []time.Time {
	b.t.Helper()
	status, body := b.v.api(http.MethodGet, "floor/revokes", nil)
	data, _ := body["data"].(map[string]any)
	micros, ok := data["unix_micros"].([]any)
	if status != http.StatusOK || !ok {
		b.t.Fatalf("floor/revokes: %d %v", status, body)
	}
	var out []time.Time
	for _, n := range micros {
		f, _ := n.(float64)
		if at := time.UnixMicro(int64(f)); at.After(start) {
			out = append(out, at)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// newSince counts the tokens of now that before does not hold.
func newSince(before, now map[string]bool) int {
	n := 0
	for tok := range now {
		if !before[tok] {
			n++
		}
	}
	return n
}

// revokeRows are the rows of one shape: the plugin's rate against the
// floor and against the tracking floor, each with the direct revocation
// added per lease, and against the calling floor where it was measured,
// each target's rate from its median window (typical). goal 0: all are
// context.
func revokeRows(figure string, r revokeTimes, goal float64) []benchRow {
	rate := 1000 / r.typical("plugin")
	floorRate := 1000 / (r.typical("floor") + ms(r.direct))
	trackedRate := 1000 / (r.typical("tracked") + ms(r.direct))
	note := fmt.Sprintf("%d leases revoked, %d tokens left upstream; ms per lease, median window of %d revokes (mean over "+
		"whole revokes): plugin %.2f (%.2f), floor %.2f (%.2f), tracking floor %.2f (%.2f), each + direct revoke %.2f",
		r.n, r.left, revokeWindow, r.typical("plugin"), r.perLease(r.took["plugin"]), r.typical("floor"),
		r.perLease(r.took["floor"]), r.typical("tracked"), r.perLease(r.took["tracked"]), ms(r.direct))
	_, calling := r.took["calling"]
	if calling {
		note += fmt.Sprintf(", calling floor %.2f (%.2f)", r.typical("calling"), r.perLease(r.took["calling"]))
	}
	if r.waiting >= 0 {
		note += fmt.Sprintf("; at most %d records of revoked tokens still waited for their delete when a revoke returned",
			r.waiting)
	}
	// Self is this process: the emulator and the bench client's driver;
	// machine is every process and the kernel.
	procs := []string{filepath.Base(vaultBin), pluginBinary, floorBinary, "self"}
	for _, target := range []string{"plugin", "floor", "tracked", "calling"} {
		note += also("; ", r.cpuNote(target, procs...))
	}
	tracked := benchRow{Figure: figure + ": ÷ tracking floor", Value: rate, Floor: trackedRate, Ratio: rate / trackedRate,
		Goal: "(context)", Context: true}
	if goal > 0 {
		tracked.Goal, tracked.Context = fmt.Sprintf("≥ %.2f, 0 tokens left", goal), false
		tracked.Met = rate/trackedRate >= goal && r.left == 0
		tracked.Note = disturbed(r, "plugin", "tracked")
	}
	rows := []benchRow{
		{Figure: figure + ": deletes/s ÷ floor", Value: rate, Floor: floorRate, Ratio: rate / floorRate, Goal: "(context)",
			Context: true, Note: note},
		tracked,
	}
	if calling {
		callingRate := 1000 / r.typical("calling")
		rows = append(rows, benchRow{Figure: figure + ": ÷ calling floor", Value: rate, Floor: callingRate,
			Ratio: rate / callingRate, Goal: "(context)", Context: true})
	}
	return rows
}

// stealSpoils is the steal per lease, in ms, from which a target's figure
// says more about the host than about the target: a tenth of a quick
// revoke.
const stealSpoils = 0.20

// disturbed says which of targets' revokes the host's steal disturbed
// (stealSpoils or more per lease), for a goal row's note, and that a
// goal judged on them is to be measured again; "" when none was.
func disturbed(r revokeTimes, targets ...string) string {
	var out []string
	for _, tg := range targets {
		if st := r.perLease(r.cpu[tg]["steal"]); st >= stealSpoils {
			out = append(out, fmt.Sprintf("%s %.2f", tg, st))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "disturbed, measure again: steal ms per lease " + strings.Join(out, ", ")
}

// growthRow compares the plugin's cost per revoke on a config holding nHi
// leases with one holding nLo: the median window of each (typical), with
// the mean over whole revokes and the floors' beside it.
func growthRow(kind string, nLo, nHi int, lo, hi revokeTimes) benchRow {
	ratio := hi.typical("plugin") / lo.typical("plugin")
	mean := func(t revokeTimes) float64 { return t.perLease(t.took["plugin"]) }
	tracked := func(t revokeTimes) float64 { return t.typical("tracked") + ms(t.direct) }
	return benchRow{Figure: fmt.Sprintf("%s: ms per lease at %d held ÷ at %d", kind, nHi, nLo),
		Value: hi.typical("plugin"), Floor: lo.typical("plugin"), Ratio: ratio, Goal: "≤ 1.20 (flat in N)", Met: ratio <= 1.20,
		Note: fmt.Sprintf("ms per lease, median window of %d revokes (%d then %d windows); the mean over whole revokes, "+
			"Vault's listing included, %.2f then %.2f: %.2f×; the tracking floor (+ direct revoke) %.2f then %.2f: %.2f×, "+
			"the floor %.2f then %.2f", revokeWindow, len(lo.windows["plugin"]), len(hi.windows["plugin"]), mean(lo), mean(hi),
			mean(hi)/mean(lo), tracked(lo), tracked(hi), tracked(hi)/tracked(lo), lo.typical("floor"), hi.typical("floor")) +
			also("; ", also("at "+fmt.Sprint(nLo)+" held ", disturbed(lo, "plugin", "tracked"))) +
			also("; ", also("at "+fmt.Sprint(nHi)+" held ", disturbed(hi, "plugin", "tracked")))}
}

// held writes one oauth2 config with a revocation_url and holds n leases
// on it, revoked with one revoke -prefix, against as many of the floor
// plugin's plain and tracked leases, each under one path as the plugin's
// are. Each set is revoked right after it is minted, so that no plain floor
// lease (4m) expires on the way on slow storage; under 1,500 leases it
// is done again, in rounds, until 1,500 leases are revoked.
func (b *revokeBench) held(n int) revokeTimes {
	t, v := b.t, b.v
	u := v.emu.URL()
	cfg := fmt.Sprintf("held-%d", n)
	v.mustCLI("write", "acquia/config/"+cfg, "provider=oauth2", "auth_style=body", "client_id="+emulator.DemoOAuth2ClientID,
		"client_secret="+emulator.DemoOAuth2ClientSecret, "token_url="+u+"/oauth2/token", "revocation_url="+u+"/oauth2/revoke")
	v.mustCLI("write", "acquia/roles/"+cfg, "config="+cfg, "ttl=1h")
	clients := map[string]bool{emulator.DemoOAuth2ClientID: true}
	rounds := max(1, 1500/n)
	r := b.rounds(rounds, []string{cfg}, n, "oauth2", clients, nil)
	// The direct revocation, as the plugin sends it, of tokens minted
	// here for it.
	reqs := make([]benchRequest, 300)
	for i := range reqs {
		reqs[i] = benchRequest{Method: http.MethodPost, URL: u + "/oauth2/revoke",
			Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			Body: url.Values{"token": {oauth2Token(t, u)}, "token_type_hint": {"access_token"},
				"client_id": {emulator.DemoOAuth2ClientID}, "client_secret": {emulator.DemoOAuth2ClientSecret}}.Encode()}
	}
	r.direct = b.directRevokes(reqs)
	return r
}

// rounds mints per leases under each of names, for the plugin (whose roles
// they are), then for the floor plugin's plain and tracked leases, and
// revokes each set with one revoke -prefix right after minting it, in an
// order that turns each round. The tokens left are those of clients of
// service that the plugin's revokes left live.
//
// With call, the floor plugin's calling leases are a fourth target, each
// revoking a token call(name) minted upstream for it, with the request
// call returns (an upstreamCall as JSON).
func (b *revokeBench) rounds(rounds int, names []string, per int, service string, clients map[string]bool,
	call func(name string) string) revokeTimes {
	if len(names)*per <= revokeWindow {
		b.t.Fatalf("a set of %d leases makes no window of %d revokes", len(names)*per, revokeWindow)
	}
	r := revokeTimes{n: rounds * len(names) * per, took: map[string]time.Duration{}, cpu: map[string]map[string]time.Duration{},
		opens: map[string]int64{}, windows: map[string][]time.Duration{}}
	// mint reads per leases of a target under one name.
	mint := func(mount string) func(name string) {
		return func(name string) { b.mint(mount+"/"+name, per) }
	}
	targets := []revokeTarget{{"acquia/creds", "plugin", mint("acquia/creds")}, {"floor/creds", "floor", mint("floor/creds")},
		{"floor/tracked", "tracked", mint("floor/tracked")}}
	if call != nil {
		targets = append(targets, revokeTarget{"floor/calling", "calling", func(name string) {
			// Each lease carries the revoke of its own upstream token.
			reqs := make(chan string, per)
			for range per {
				reqs <- call(name)
			}
			throughput(b.t, 8, per, func() error {
				return b.v.do(b.c, http.MethodGet, "floor/calling/"+name+"?revoke="+url.QueryEscape(<-reqs), nil)
			})
		}})
	}
	// cpu is what each process and the machine used so far.
	cpu := func() map[string]time.Duration {
		c := cpuTimes(filepath.Base(vaultBin), pluginBinary, floorBinary)
		for k, d := range machineCPU() {
			c[k] = d
		}
		return c
	}
	for round := range rounds {
		for i := range targets {
			tg := targets[(i+round)%len(targets)]
			before := liveOf(b.v.emu, service, clients)
			for _, name := range names {
				tg.mint(name)
			}
			prefix := tg.mount
			if len(names) == 1 {
				prefix += "/" + names[0]
			}
			b.floorRevokes(time.Now()) // forgets those of leases that expired
			settle()
			profiled := b.profile(fmt.Sprintf("%s-%s-%d-round%d", tg.name, strings.ReplaceAll(prefix, "/", "_"), per, round),
				len(names)*per)
			cpuBefore, opensBefore := cpu(), tcpOpens()
			start := time.Now()
			took := b.revokePrefix(prefix)
			// Metered before waiting for the profile, which outlasts
			// the revoke.
			cpuAfter, opensAfter := cpu(), tcpOpens()
			profiled()
			r.took[tg.name] += took
			if opensAfter >= 0 && opensBefore >= 0 {
				r.opens[tg.name] += opensAfter - opensBefore
			}
			if r.cpu[tg.name] == nil {
				r.cpu[tg.name] = map[string]time.Duration{}
			}
			for k, d := range cpuAfter {
				r.cpu[tg.name][k] += d - cpuBefore[k]
			}
			left := newSince(before, liveOf(b.v.emu, service, clients))
			stamps := b.floorRevokes(start)
			switch tg.name {
			case "plugin":
				// A token left live has no revocation to stamp: it is
				// reported in the rows, not lost to a count mismatch.
				r.left += left
				// Windows of revokes whose records were still to be
				// deleted would time less than the revokes' work.
				if w := b.recordsLeft() - left; w < 0 || r.waiting < 0 {
					r.waiting = -1
				} else {
					r.waiting = max(r.waiting, w)
					if w > revokeWindow {
						b.t.Errorf("%d records of revoked tokens still waited for their delete when the revoke returned: "+
							"more than a window of %d revokes", w, revokeWindow)
					}
				}
				stamps = revokedSince(b.v.emu, service, clients, start)
			case "calling":
				if left > 0 {
					b.t.Fatalf("the calling floor left %d tokens live upstream", left)
				}
			}
			if want := len(names)*per - left; len(stamps) != want {
				b.t.Fatalf("%s: %d revokes timed, want %d", tg.name, len(stamps), want)
			}
			r.windows[tg.name] = append(r.windows[tg.name], windowsOf(stamps, revokeWindow)...)
		}
	}
	return r
}

// recordsLeft is how many token records the plugin's mount holds in file
// storage, or -1 on raft, whose storage cannot be read from outside.
func (b *revokeBench) recordsLeft() int {
	if b.kind != "file" {
		return -1
	}
	dirs, _ := filepath.Glob(filepath.Join(filepath.Dir(b.v.cfgPath), "data", "logical", "*", "tokens"))
	n := 0
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(_ string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				n++
			}
			return nil
		})
	}
	return n
}

// revokeTarget is one target of rounds: the lease path its leases are
// read under, its name in revokeTimes, and how it mints a set of leases
// under one name.
type revokeTarget struct {
	mount, name string
	mint        func(name string)
}

// profile starts Vault's CPU profile of a revoke of n leases when
// ACQUIA_BENCH_PROFILE names a directory, and returns what waits for it
// and writes it there as <kind>-<name>.pprof. The profile lasts
// ACQUIA_BENCH_PROFILE_SECONDS, or 4 ms per lease and a second more; it
// samples CPU only, so the seconds after a revoke ends add little.
func (b *revokeBench) profile(name string, n int) (wait func()) {
	dir := os.Getenv("ACQUIA_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	done := make(chan error, 1)
	go func() {
		resp, err := b.c.Do(b.v.request(http.MethodGet,
			fmt.Sprintf("sys/pprof/profile?seconds=%d", envInt("ACQUIA_BENCH_PROFILE_SECONDS", 1+n*4/1000)), nil))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("sys/pprof/profile: %d %s", resp.StatusCode, body)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, b.kind+"-"+name+".pprof"), body, 0o644)
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the profile has begun
	return func() {
		if err := <-done; err != nil {
			b.t.Error(err)
		}
	}
}

// oauth2Token is a new token of the demo oauth2 client, minted directly.
func oauth2Token(t *testing.T, base string) string {
	t.Helper()
	resp, err := httpClient.PostForm(base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {emulator.DemoOAuth2ClientID}, "client_secret": {emulator.DemoOAuth2ClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("direct oauth2 token: %d %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

// spread writes configs CDP configs (one integration user each) with a
// role each, and measures per leases of each role, against as many floor
// leases under as many names, in rounds.
func (b *revokeBench) spread(configs, per, rounds int) revokeTimes {
	t, v := b.t, b.v
	u := v.emu.URL()
	names, users := b.spreadConfigs(configs, per, "acquia")
	direct := emulator.CDPUser{Username: "bench-" + names[len(names)-1]}
	direct.Password = spreadPassword(names[len(names)-1])
	// The calling floor deletes, as the plugin does, a token of the
	// config's user.
	call := func(name string) string {
		user := emulator.CDPUser{Username: "bench-" + name, Password: spreadPassword(name)}
		tok := cdpCall(t, b.c, u, http.MethodPost, "&action=create", user, "")
		j, _ := json.Marshal(map[string]any{"method": http.MethodDelete, "url": u + "/token?scheme=a1user", "body": "{}",
			"header": map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}})
		return string(j)
	}
	r := b.rounds(rounds, names, per, "cdp", users, call)
	reqs := make([]benchRequest, 300)
	for i := range reqs {
		tok := cdpCall(t, b.c, u, http.MethodPost, "&action=create", direct, "")
		reqs[i] = benchRequest{Method: http.MethodDelete, URL: u + "/token?scheme=a1user",
			Header: map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}, Body: "{}"}
	}
	r.direct = b.directRevokes(reqs)
	return r
}

// spreadConfigs adds configs CDP integration users to the emulator and
// writes, on each of mounts, a cdp config per user with room for per
// tokens and a role of the same name. It returns the names and the users.
func (b *revokeBench) spreadConfigs(configs, per int, mounts ...string) ([]string, map[string]bool) {
	t, v := b.t, b.v
	users := map[string]bool{}
	names := make([]string, configs)
	for i := range names {
		names[i] = fmt.Sprintf("spread-%03d", i)
		user := emulator.CDPUser{Username: "bench-" + names[i], Password: spreadPassword(names[i]), MaxTokens: 1 << 20}
		v.emu.AddCDPUser(user)
		v.remember(user.Password)
		users[user.Username] = true
		for _, m := range mounts {
			if err := v.do(b.c, http.MethodPut, m+"/config/"+names[i], map[string]any{"provider": "cdp",
				"username": user.Username, "password": user.Password, "base_url": v.emu.URL(), "max_tokens": per + 1}); err != nil {
				t.Fatal(err)
			}
			if err := v.do(b.c, http.MethodPut, m+"/roles/"+names[i], map[string]any{"config": names[i], "ttl": "1h"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return names, users
}

// spreadPassword is the password of the spread shape's user of config name.
func spreadPassword(name string) string { return "bench-P@ss+/=" + name }

// settle lets the storage finish the work a burst of minting left before
// a revoke is timed, for every target alike. File storage writes without
// fsync, so the kernel writes a burst's files back from 30 s on, into a
// revoke that follows at once; a server minting over hours has long
// written them back when its operator revokes. sync(2) waits for that
// writeback (ACQUIA_BENCH_SYNC=0 skips it); ACQUIA_BENCH_SETTLE, a
// duration, pauses after it.
func settle() {
	if os.Getenv("ACQUIA_BENCH_SYNC") != "0" {
		syscall.Sync()
	}
	if d, err := time.ParseDuration(os.Getenv("ACQUIA_BENCH_SETTLE")); err == nil {
		time.Sleep(d)
	}
}
