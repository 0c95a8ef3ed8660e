//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: 100 on every
// Linux this runs on (USER_HZ is fixed by the kernel's ABI).
const userHZ = 100

// cpuTimes is the CPU time (user + system) each named process has used so
// far, keyed by the base name of its executable; "self" is this process.
// It is empty where there is no /proc.
func cpuTimes(names ...string) map[string]time.Duration {
	out := map[string]time.Duration{}
	read := func(dir, name string) {
		b, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			return
		}
		s := string(b)
		end := strings.LastIndexByte(s, ')')
		if end < 0 || end+2 > len(s) {
			return
		}
		f := strings.Fields(s[end+2:]) // from the state field on
		if len(f) < 13 {
			return
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[name] += time.Duration(u+st) * time.Second / userHZ
	}
	read("/proc/self", "self")
	procs := processDirs()
	for _, n := range names {
		for _, d := range procs[n] {
			read(d, n)
		}
	}
	return out
}

// processDirs lists the /proc directories of the running processes by the
// base name of their executable (argv[0]).
func processDirs() map[string][]string {
	out := map[string][]string{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmd, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || len(cmd) == 0 {
			continue
		}
		base := filepath.Base(strings.SplitN(string(cmd), "\x00", 2)[0])
		out[base] = append(out[base], d)
	}
	return out
}

// cpuPer is the CPU each process used between two cpuTimes, per
// operation: "CPU ms per <op>: name 0.12 + …" in the order of names, or ""
// where there is no /proc.
func cpuPer(op string, before, after map[string]time.Duration, ops int, names ...string) string {
	if len(after) == 0 || ops == 0 {
		return ""
	}
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.2f", n, ms((after[n]-before[n])/time.Duration(ops))))
	}
	return "CPU ms per " + op + ": " + strings.Join(parts, " + ")
}

// also is prefix and s, or "" when s is.
func also(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// machineCPU is the CPU time the whole machine has spent busy (user,
// nice, system, irq, softirq, steal) and waiting on I/O so far, from the
// first line of /proc/stat, under the keys "machine", "iowait" and
// "steal" (time the hypervisor ran something else; machine holds it); empty
// where there is no /proc.
func machineCPU() map[string]time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return map[string]time.Duration{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return map[string]time.Duration{}
	}
	tick := func(i int) time.Duration {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(n) * time.Second / userHZ
	}
	// user nice system idle iowait irq softirq steal
	return map[string]time.Duration{
		"machine": tick(1) + tick(2) + tick(3) + tick(6) + tick(7) + tick(8),
		"iowait":  tick(5),
		"steal":   tick(8),
	}
}

// tcpOpens is how many TCP connections this machine has opened so far
// (ActiveOpens in /proc/net/snmp), or -1 where there is no /proc.
func tcpOpens() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return -1
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "ActiveOpens" && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return -1
}

// TestDisturbed checks the revoke bench's arithmetic: which targets steal
// disturbed, the windows and the median.
func TestDisturbed(t *testing.T) {
	r := revokeTimes{n: 100, cpu: map[string]map[string]time.Duration{
		"plugin":  {"steal": 30 * time.Millisecond}, // 0.30 ms per lease
		"tracked": {"steal": 10 * time.Millisecond}, // 0.10
	}}
	if got := disturbed(r, "plugin", "tracked"); got != "disturbed, measure again: steal ms per lease plugin 0.30" {
		t.Fatalf("disturbed: %q", got)
	}
	if got := disturbed(r, "tracked", "floor"); got != "" {
		t.Fatalf("undisturbed targets: %q", got)
	}
	if got := windowsOf([]time.Time{time.Unix(0, 0), time.Unix(1, 0), time.Unix(3, 0)}, 1); !slices.Equal(got,
		[]time.Duration{time.Second, 2 * time.Second}) {
		t.Fatalf("windowsOf: %v", got)
	}
	if got := median([]time.Duration{4, 1, 2, 10}); got != 3 {
		t.Fatalf("median: %v", got)
	}
}
