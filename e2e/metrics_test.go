//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// TestMetricsMatchTheUpstreamAfterAFaultStorm: a short fault storm over
// the five providers (every fault kind, slow answers past
// request_timeout), then a revoke of every lease; the mount's metrics,
// scraped through Vault's HTTP API with a token that may read only them,
// count per operation exactly the requests the emulator received: each
// retry on both sides, a timed-out call once.
func TestMetricsMatchTheUpstreamAfterAFaultStorm(t *testing.T) {
	v := startVault(t)
	v.providerSetup("2s", "30m")

	// A scrape job's token: read on metrics, nothing else.
	scraper := v.policyToken("scrape", `path "acquia/metrics" { capabilities = ["read"] }`)
	if status, _ := v.scrapeWith(scraper.token); status != http.StatusOK {
		t.Fatalf("a token with read on metrics: %d", status)
	}
	other := v.policyToken("other", `path "acquia/creds/*" { capabilities = ["read"] }`)
	if status, _ := v.scrapeWith(other.token); status != http.StatusForbidden {
		t.Fatalf("a token without read on metrics: %d, want 403", status)
	}

	// Slow answers (4s) outlast request_timeout (2s): the client gives up.
	// One comes first whatever the storm draws.
	v.emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Delay: 4 * time.Second})
	v.emu.SetStorm(emulator.Storm{Rate: 0.3, Slow: 4 * time.Second, Seed: uint64(time.Now().UnixNano())})
	const reads = 40
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= reads {
					return
				}
				r, status, _ := readCreds(longClient, v.addr, v.token, longProviders[i%int64(len(longProviders))])
				if status != http.StatusOK {
					failed.Add(1)
					continue
				}
				v.remember(r.token)
			}
		}()
	}
	wg.Wait()
	v.emu.SetStorm(emulator.Storm{})
	faults := v.emu.StormCounts()
	total := 0
	for _, n := range faults {
		total += n
	}
	if total == 0 {
		t.Fatal("the storm injected no fault")
	}
	v.mustCLI("lease", "revoke", "-sync", "-prefix", "acquia/creds/")

	// Vault's own work (revokes it retries) may still be under way: both
	// sides are compared once the emulator's counts stand still.
	var plugin, emu map[string]int
	for deadline := time.Now().Add(30 * time.Second); ; {
		before := v.emulatorOperations()
		status, body := v.scrapeWith(scraper.token)
		if status != http.StatusOK {
			t.Fatalf("scrape: %d", status)
		}
		plugin, emu = upstreamRequests(t, body), v.emulatorOperations()
		if maps.Equal(before, emu) && maps.Equal(plugin, emu) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	ops := make([]string, 0, len(emu))
	for op := range emu {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var table []string
	for _, op := range ops {
		table = append(table, fmt.Sprintf("%s %d/%d", op, plugin[op], emu[op]))
	}
	t.Logf("%d reads, %d failed, %d faults %v; requests per operation, plugin/emulator: %s", reads, failed.Load(), total,
		faults, strings.Join(table, ", "))
	if !maps.Equal(plugin, emu) {
		t.Fatalf("upstream requests per operation: plugin %v, emulator %v", plugin, emu)
	}
	if timeouts := upstreamRequests(t, onlyOutcome(v.scrapeBody(scraper.token), "timeout"))["token"]; timeouts < 1 {
		t.Fatalf("no token request counted as timed out")
	}

	// Each config's status, through the API: its last failure after the
	// storm, and no secret or token in it or in the scrape.
	_, body := v.scrapeWith(scraper.token)
	outputs := map[string]string{"metrics": body}
	for _, p := range longProviders {
		status, out := v.api(http.MethodGet, "acquia/config/"+p+"/status", nil)
		data, _ := out["data"].(map[string]any)
		if status != http.StatusOK || data["provider"] != p {
			t.Fatalf("config/%s/status: %d %v", p, status, out)
		}
		raw, _ := json.Marshal(out)
		outputs["config/"+p+"/status"] = string(raw)
	}
	v.mu.Lock()
	for name, out := range outputs {
		for _, s := range v.secrets {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("%s holds a secret or token", name)
			}
		}
	}
	v.mu.Unlock()
	v.assertLogClean()
}

type scopedToken struct{ token string }

// policyToken writes policy name and returns a token holding only it.
func (v *vault) policyToken(name, policy string) scopedToken {
	v.t.Helper()
	if status, body := v.api(http.MethodPut, "sys/policies/acl/"+name, map[string]any{"policy": policy}); status/100 != 2 {
		v.t.Fatalf("writing policy %s: %d %v", name, status, body)
	}
	status, body := v.api(http.MethodPost, "auth/token/create", map[string]any{"policies": []string{name}, "no_default_policy": true})
	auth, _ := body["auth"].(map[string]any)
	tok, _ := auth["client_token"].(string)
	if status != http.StatusOK || tok == "" {
		v.t.Fatalf("creating a token with policy %s: %d %v", name, status, body)
	}
	v.remember(tok)
	return scopedToken{tok}
}

// scrapeWith reads acquia/metrics through Vault's HTTP API with token, as
// a Prometheus scrape job does.
func (v *vault) scrapeWith(token string) (int, string) {
	v.t.Helper()
	req := v.request(http.MethodGet, "acquia/metrics", nil)
	req.Header.Set("X-Vault-Token", token)
	resp, err := httpClient.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		v.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode == http.StatusOK && !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		v.t.Fatalf("metrics Content-Type %q", ct)
	}
	return resp.StatusCode, string(b)
}

// emulatorOperations are the emulator's counts of the requests the plugin
// sends, per operation over every service (GET /_emulator/operations).
func (v *vault) emulatorOperations() map[string]int {
	v.t.Helper()
	resp, err := httpClient.Get(v.emu.URL() + "/_emulator/operations")
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	var byService map[string]map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&byService); err != nil {
		v.t.Fatal(err)
	}
	out := map[string]int{}
	for service, ops := range byService {
		for op, n := range ops {
			switch {
			case service == "unknown", op == "authorize", op == "discovery", op == "resource", op == "jsonapi":
				continue // not the plugin's requests
			}
			out[op] += n
		}
	}
	return out
}

var requestSample = regexp.MustCompile(`^vault_acquia_upstream_requests_total\{([^}]*)\} (\S+)$`)
var operationLabel = regexp.MustCompile(`operation="([^"]*)"`)

// upstreamRequests sums vault_acquia_upstream_requests_total per operation.
func upstreamRequests(t *testing.T, body string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, line := range strings.Split(body, "\n") {
		m := requestSample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		op := operationLabel.FindStringSubmatch(m[1])
		n, err := strconv.ParseFloat(m[2], 64)
		if op == nil || err != nil {
			t.Fatalf("sample %q", line)
		}
		out[op[1]] += int(n)
	}
	return out
}

func (v *vault) scrapeBody(token string) string {
	v.t.Helper()
	_, body := v.scrapeWith(token)
	return body
}

// onlyOutcome keeps the lines of body whose outcome is outcome.
func onlyOutcome(body, outcome string) string {
	var keep []string
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, `outcome="`+outcome+`"`) {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}
