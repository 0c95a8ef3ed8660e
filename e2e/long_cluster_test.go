//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// testCluster: three raft nodes on 127.0.0.1, joined by retry_join, one
// plugin directory holding the binary for all three (the catalog entry
// and the mount replicate through raft). Readers on all three nodes (the
// standbys forward to the active node); the active node is SIGKILLed 12 s
// in; a standby takes over. Counted: failed reads and the longest gap
// between successful ones, reads failed once the new leader serves, the
// CDP leases issued before the kill renewed and revoked through the new
// leader with their tokens deleted upstream, a static role's rotations
// over 45 s at rotation_period=10s (4 when exactly one node rotates;
// the emulator cannot tell nodes apart, so the count is the check), and
// the killed node rejoining.
func testCluster(t *testing.T, tab *longTable) {
	const part = "cluster"
	emu := newEmulator(t)
	ports := []int{freePort(t), freePort(t), freePort(t)}
	var join []string
	for _, p := range ports {
		join = append(join, fmt.Sprintf("http://127.0.0.1:%d", p))
	}
	nodes := make([]*vault, 3)
	for i := range nodes {
		nodes[i] = newServer(t, emu, "raft", fmt.Sprintf("node%d", i+1), ports[i], join)
	}
	lead := nodes[0]
	lead.launch()
	lead.initServer()
	lead.waitReady()
	for _, n := range nodes[1:] {
		n.token, n.unsealKey = lead.token, lead.unsealKey
		n.launch()
		n.joinAndUnseal()
	}
	// Autopilot promotes a joined node to voter once it has been stable a
	// while (server_stabilization_time, 10s): until then losing the leader
	// loses the quorum.
	lead.waitVoters(3, 90*time.Second)
	lead.mountPlugin()

	u := emu.URL()
	lead.mustCLI("write", "acquia/config/cloud", "provider=cloud", "client_id="+emulator.DemoCloudClientID,
		"client_secret="+emulator.DemoCloudClientSecret, "token_url="+u+"/api/auth/oauth/token", "api_url="+u+"/api",
		"request_timeout=5s")
	lead.mustCLI("write", "acquia/roles/cloud", "config=cloud", "ttl=5m")
	// Tokens that live 10 minutes: a renew of a 30-minute lease would
	// outlive one, so the new leader's renews extend upstream.
	cdpUser := longCDPUser
	cdpUser.Lifetime = 10 * time.Minute
	emu.AddCDPUser(cdpUser)
	lead.remember(longCDPUser.Password)
	lead.mustCLI("write", "acquia/config/cdp", "provider=cdp", "username="+longCDPUser.Username,
		"password="+longCDPUser.Password, "base_url="+u, "max_tokens=100", "request_timeout=5s")
	lead.mustCLI("write", "acquia/roles/cdp", "config=cdp", "ttl=30m")
	const staticClient, staticSecret = "long-static", "long-static+Secret/=:s"
	emu.AddOAuth2Client(emulator.OAuth2Client{ID: staticClient, Secret: staticSecret})
	lead.remember(staticSecret)
	lead.mustCLI("write", "acquia/config/static", "provider=oauth2", "client_id="+staticClient, "client_secret="+staticSecret,
		"token_url="+u+"/oauth2/token", "request_timeout=5s")

	// CDP leases, read through each standby.
	var cdpLeases []leaseRead
	for i := range 4 {
		n := nodes[1+i%2]
		r, status, text := readCreds(longClient, n.addr, n.token, "cdp")
		if status != http.StatusOK {
			t.Fatalf("cdp creds through a standby: %d %s", status, text)
		}
		lead.remember(r.token)
		cdpLeases = append(cdpLeases, r)
	}

	t0 := time.Now()
	lead.mustCLI("write", "acquia/static-roles/rotating", "config=static", "rotation_period=10s")
	type attempt struct {
		at time.Time
		ok bool
	}
	var (
		mu       sync.Mutex
		attempts []attempt
		dead     = map[int]bool{}
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for r := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// A reader whose node is down moves on to the next, as a
				// load balancer would.
				mu.Lock()
				i := r % 3
				for dead[i] {
					i = (i + 1) % 3
				}
				mu.Unlock()
				at := time.Now()
				_, status, _ := readCreds(longClient, nodes[i].addr, lead.token, "cloud")
				mu.Lock()
				attempts = append(attempts, attempt{at: at, ok: status == http.StatusOK})
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}

	time.Sleep(12 * time.Second)
	active := activeNode(nodes)
	if active < 0 {
		t.Fatal("no active node")
	}
	mu.Lock()
	dead[active] = true
	mu.Unlock()
	nodes[active].kill()
	killedAt := time.Now()
	var newActive int
	for {
		if newActive = activeNode(nodes); newActive >= 0 && newActive != active {
			break
		}
		if time.Since(killedAt) > time.Minute {
			t.Fatal("no new active node within a minute of the kill")
		}
		time.Sleep(100 * time.Millisecond)
	}
	electedAt := time.Now()
	t.Logf("cluster: node%d killed, node%d active after %s", active+1, newActive+1, electedAt.Sub(killedAt).Round(100*time.Millisecond))
	for time.Since(t0) < 40*time.Second {
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	failed, after := 0, 0
	var okTimes []time.Time
	for _, a := range attempts {
		if a.ok {
			okTimes = append(okTimes, a.at)
			continue
		}
		failed++
		if a.at.After(electedAt.Add(time.Second)) {
			after++
		}
	}
	slices.SortFunc(okTimes, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	for i := 1; i < len(okTimes); i++ {
		gap = max(gap, okTimes[i].Sub(okTimes[i-1]))
	}

	// Rotations due 10, 20, 30 and 40 s after the role was written.
	for time.Since(t0) < 45*time.Second {
		time.Sleep(200 * time.Millisecond)
	}
	rotations := -1 // the first token is the role's creation, not a rotation
	for _, tok := range emu.Tokens("oauth2") {
		if tok.ClientID == staticClient && !tok.IssuedAt.Before(t0) && tok.IssuedAt.Before(t0.Add(45*time.Second)) {
			rotations++
		}
	}

	// The new leader renews and revokes the leases of before the kill.
	na := nodes[newActive]
	renewed, revoked := 0, 0
	for _, r := range cdpLeases {
		before, _ := emu.Token(r.token)
		if _, _, err := na.cli("lease", "renew", r.leaseID); err == nil {
			if after, _ := emu.Token(r.token); after.ExpiresAt.After(before.ExpiresAt) {
				renewed++
			}
		}
		if _, _, err := na.cli("lease", "revoke", "-sync", r.leaseID); err == nil && !emu.TokenLive(r.token) {
			revoked++
		}
	}

	// The killed node comes back, unseals, and rejoins as a standby.
	killed := nodes[active]
	killed.done = make(chan struct{})
	killed.launch()
	killed.joinAndUnseal()
	voters := 0
	for _, p := range na.raftPeers() {
		if p.Voter {
			voters++
		}
	}
	// A standby just unsealed learns the active node's address from
	// storage shortly after; reads through it work from then on.
	rejoined := time.Now()
	var rejoinStatus int
	var rejoinText string
	for time.Since(rejoined) < 30*time.Second {
		if _, rejoinStatus, rejoinText = readCreds(longClient, killed.addr, lead.token, "cloud"); rejoinStatus == http.StatusOK {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rejoinStatus != http.StatusOK {
		t.Errorf("a read through the rejoined node: %d %s", rejoinStatus, rejoinText)
	}
	rejoinWait := time.Since(rejoined)

	panics := 0
	for _, n := range nodes {
		panics += n.panics()
	}
	tab.info(t, part, "reads through the three nodes", len(attempts))
	tab.info(t, part, "reads failed (kill to new leader)", failed)
	tab.info(t, part, "seconds from kill to a new active node", fmt.Sprintf("%.1f", electedAt.Sub(killedAt).Seconds()))
	tab.add(t, part, "longest gap between successful reads, seconds", fmt.Sprintf("%.1f", gap.Seconds()), "< 30", gap < 30*time.Second)
	tab.count(t, part, "reads failed once the new leader served (+1 s)", after, 0)
	tab.count(t, part, "leases of before the kill renewed upstream by the new leader (of 4)", renewed, 4)
	tab.count(t, part, "... revoked by it, token deleted upstream (of 4)", revoked, 4)
	tab.add(t, part, "static rotations in 45 s at rotation_period=10s", rotations, "4 ± 1 (one node rotating)", rotations >= 3 && rotations <= 5)
	tab.count(t, part, "raft voters after the killed node rejoined", voters, 3)
	tab.add(t, part, "seconds until reads through the rejoined node work", fmt.Sprintf("%.1f", rejoinWait.Seconds()),
		"< 30", rejoinStatus == http.StatusOK)
	tab.count(t, part, "panics in the three vault logs", panics, 0)
	for _, n := range nodes {
		n.assertLogClean()
	}
}

// joinAndUnseal unseals a node that retry_join is joining to the cluster,
// until it serves as a standby.
func (v *vault) joinAndUnseal() {
	v.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		_, _, _ = v.cli("operator", "unseal", v.unsealKey)
		resp, err := httpClient.Get(v.addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(time.Second)
	}
	v.t.Fatalf("%s did not join and unseal in 90s", v.addr)
}

// waitVoters waits until the raft configuration holds n voters.
func (v *vault) waitVoters(n int, within time.Duration) {
	v.t.Helper()
	deadline := time.Now().Add(within)
	for {
		voters := 0
		peers := v.raftPeers()
		for _, p := range peers {
			if p.Voter {
				voters++
			}
		}
		if voters == n {
			return
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("raft peers after %s: %+v, want %d voters", within, peers, n)
		}
		time.Sleep(time.Second)
	}
}

type raftPeer struct {
	NodeID string `json:"node_id"`
	Voter  bool   `json:"voter"`
	Leader bool   `json:"leader"`
}

func (v *vault) raftPeers() []raftPeer {
	v.t.Helper()
	var out struct {
		Data struct {
			Config struct {
				Servers []raftPeer `json:"servers"`
			} `json:"config"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(v.mustCLI("operator", "raft", "list-peers", "-format=json")), &out); err != nil {
		v.t.Fatal(err)
	}
	return out.Data.Config.Servers
}

// activeNode is the index of the node that answers health as active, or -1.
func activeNode(nodes []*vault) int {
	c := &http.Client{Timeout: 2 * time.Second}
	for i, n := range nodes {
		resp, err := c.Get(n.addr + "/v1/sys/health")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return i
		}
	}
	return -1
}
