//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// TestLong is `make test-long`: reliability shown by runs against the real
// vault binary and the emulator. A fault storm (long_storm_test.go), a
// crash and restart on file and raft storage (long_crash_test.go), a
// three-node raft cluster losing its leader (long_cluster_test.go) and a
// plugin upgrade under live leases (long_upgrade_test.go), each adding its
// counts to one table printed at the end, and written to
// $ACQUIA_LONG_TABLE when set. It runs only when ACQUIA_LONG=1; one part
// runs alone with -run 'TestLong/storm'.
func TestLong(t *testing.T) {
	if os.Getenv("ACQUIA_LONG") != "1" {
		t.Skip("make test-long runs this (ACQUIA_LONG=1)")
	}
	tab := &longTable{}
	t.Cleanup(func() { tab.print(t) })
	t.Run("storm", func(t *testing.T) { testStorm(t, tab) })
	t.Run("crash-file", func(t *testing.T) { testCrash(t, tab, "file") })
	t.Run("crash-raft", func(t *testing.T) { testCrash(t, tab, "raft") })
	t.Run("cluster", func(t *testing.T) { testCluster(t, tab) })
	t.Run("upgrade", func(t *testing.T) { testUpgrade(t, tab) })
}

// longTable is the summary: one row per count, with what it must be.
type longTable struct {
	mu   sync.Mutex
	rows []longRow
}

type longRow struct {
	part, figure, value, want string
	ok                        bool
}

// add records a count; want is shown as the goal, ok says whether it was
// met (informational rows pass ok=true and want "").
func (tab *longTable) add(t *testing.T, part, figure string, value any, want string, ok bool) {
	t.Helper()
	tab.mu.Lock()
	tab.rows = append(tab.rows, longRow{part: part, figure: figure, value: fmt.Sprint(value), want: want, ok: ok})
	tab.mu.Unlock()
	if !ok {
		t.Errorf("%s: %s = %v, want %s", part, figure, value, want)
	}
}

// count adds a row whose goal is exactly want.
func (tab *longTable) count(t *testing.T, part, figure string, value, want int) {
	t.Helper()
	tab.add(t, part, figure, value, fmt.Sprint(want), value == want)
}

// info adds a row with no goal.
func (tab *longTable) info(t *testing.T, part, figure string, value any) {
	t.Helper()
	tab.add(t, part, figure, value, "", true)
}

func (tab *longTable) print(t *testing.T) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	// Into a bytes.Buffer: the writes cannot fail, and Flush would say.
	_, _ = fmt.Fprintln(w, "PART\tCOUNT\tVALUE\tGOAL\t")
	for _, r := range tab.rows {
		mark := ""
		if !r.ok {
			mark = "  <-- FAILED"
		}
		_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.part, r.figure, r.value, r.want, mark)
	}
	if err := w.Flush(); err != nil {
		t.Error(err)
	}
	t.Logf("make test-long summary:\n%s", b.String())
	if path := os.Getenv("ACQUIA_LONG_TABLE"); path != "" {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// longClient is what the load generators use: many connections, and a
// timeout far beyond any request_timeout the tests set.
var longClient = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// vaultCall is one Vault API call that may fail (a node killed): status 0
// and the error when no answer came.
func vaultCall(c *http.Client, addr, token, method, path string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, addr+"/v1/"+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			out = map[string]any{"errors": []any{string(raw)}}
		}
	}
	return resp.StatusCode, out, nil
}

// errorsOf joins the errors of a Vault answer.
func errorsOf(body map[string]any) string {
	var parts []string
	if l, ok := body["errors"].([]any); ok {
		for _, e := range l {
			parts = append(parts, fmt.Sprint(e))
		}
	}
	return strings.Join(parts, "; ")
}

// leaseRead is one creds read that succeeded.
type leaseRead struct {
	role, leaseID, token string
	at                   time.Time
	ttl                  time.Duration
}

// readCreds reads creds/role on the node at addr: the lease on success,
// else the HTTP status (0: no answer) and the error text.
func readCreds(c *http.Client, addr, token, role string) (leaseRead, int, string) {
	at := time.Now()
	status, body, err := vaultCall(c, addr, token, http.MethodGet, "acquia/creds/"+role, nil)
	if err != nil {
		return leaseRead{}, 0, err.Error()
	}
	if status != http.StatusOK {
		return leaseRead{}, status, errorsOf(body)
	}
	data, _ := body["data"].(map[string]any)
	tok, _ := data["access_token"].(string)
	id, _ := body["lease_id"].(string)
	secs, _ := body["lease_duration"].(float64)
	return leaseRead{role: role, leaseID: id, token: tok, at: at, ttl: time.Duration(secs) * time.Second}, status, ""
}

// listLeases lists the live leases under acquia/creds/role/.
func (v *vault) listLeases(role string) map[string]bool {
	v.t.Helper()
	status, body, err := vaultCall(longClient, v.addr, v.token, "LIST", "sys/leases/lookup/acquia/creds/"+role+"/", nil)
	out := map[string]bool{}
	if err != nil {
		v.t.Fatalf("listing leases: %v", err)
	}
	if status == http.StatusNotFound {
		return out
	}
	data, _ := body["data"].(map[string]any)
	keys, _ := data["keys"].([]any)
	for _, k := range keys {
		out["acquia/creds/"+role+"/"+fmt.Sprint(k)] = true
	}
	return out
}

// lostLeases counts the reads whose lease Vault does not list, among those
// that have not expired (with a margin) by now.
func (v *vault) lostLeases(reads []leaseRead) (lost, checked int) {
	v.t.Helper()
	listed := map[string]map[string]bool{}
	now := time.Now()
	for _, r := range reads {
		if now.After(r.at.Add(r.ttl - 5*time.Second)) {
			continue
		}
		if listed[r.role] == nil {
			listed[r.role] = v.listLeases(r.role)
		}
		checked++
		if !listed[r.role][r.leaseID] {
			lost++
		}
	}
	return lost, checked
}

// liveSince lists the tokens of the given services and clients (by
// emulator client id or CDP username) issued at or after since that are
// live upstream now.
func liveSince(emu *emulator.Emulator, since time.Time, clients map[string][]string) []emulator.Token {
	var out []emulator.Token
	for service, ids := range clients {
		for _, tok := range emu.LiveTokens(service) {
			if tok.IssuedAt.Before(since) {
				continue
			}
			for _, id := range ids {
				if tok.ClientID == id {
					out = append(out, tok)
				}
			}
		}
	}
	return out
}

var upstreamStatus = regexp.MustCompile(`HTTP [1-5][0-9][0-9]`)

// errorKind sorts a failed Vault answer: a clear refusal (400 naming
// max_tokens), a clear upstream failure (a 4xx or 5xx naming the upstream
// host and its HTTP status, or the host and why no answer came: reset,
// timeout), or unclear, which must not happen. Vault answers every failed
// lease renew with 400 "failed to renew entry", whatever the plugin said;
// the text still names the host and status.
func errorKind(status int, text, host string) string {
	class := fmt.Sprintf("%dxx", status/100)
	switch {
	case status == http.StatusBadRequest && strings.Contains(text, "max_tokens"):
		return "400 max_tokens"
	case status < 400 || !strings.Contains(text, host):
	case upstreamStatus.MatchString(text):
		return class + " naming upstream status"
	case strings.Contains(text, "request_timeout"):
		return class + " naming upstream timeout"
	case strings.Contains(text, "connection reset") || strings.Contains(text, "EOF"):
		return class + " naming upstream reset"
	}
	return "unclear"
}

// errorTally counts failed answers by errorKind and keeps a few unclear
// ones to show.
type errorTally struct {
	mu      sync.Mutex
	kinds   map[string]int
	unclear []string
}

func (e *errorTally) add(status int, text, host string) {
	k := errorKind(status, text, host)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.kinds == nil {
		e.kinds = map[string]int{}
	}
	e.kinds[k]++
	if k == "unclear" && len(e.unclear) < 5 {
		e.unclear = append(e.unclear, fmt.Sprintf("%d %s", status, text))
	}
}

func (e *errorTally) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.kinds {
		n += c
	}
	return n
}

func (e *errorTally) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var parts []string
	for k, c := range e.kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, c))
	}
	if len(parts) == 0 {
		return "none"
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func itoa(n int) string { return strconv.Itoa(n) }

// panics counts the lines of the server log that mention a panic.
func (v *vault) panics() int {
	v.t.Helper()
	b, err := os.ReadFile(v.logPath)
	if err != nil {
		v.t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(strings.ToLower(line), "panic") {
			n++
		}
	}
	return n
}

// logCount counts the server log lines holding s.
func (v *vault) logCount(s string) int {
	v.t.Helper()
	b, err := os.ReadFile(v.logPath)
	if err != nil {
		v.t.Fatal(err)
	}
	return bytes.Count(b, []byte(s))
}

// kill ends the server and its plugins at once, as a crash would.
func (v *vault) kill() {
	if v.cmd == nil || v.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
	<-v.done
}

// relaunch starts a killed or stopped server again on the same storage
// and unseals it; wait says what to wait for (waitReady for an active node).
func (v *vault) relaunch(wait func()) {
	v.t.Helper()
	v.done = make(chan struct{})
	v.launch()
	v.mustCLI("operator", "unseal", v.unsealKey)
	wait()
}

// initServer initialises and unseals a freshly launched server.
func (v *vault) initServer() {
	v.t.Helper()
	out := v.mustCLI("operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json")
	var init struct {
		Keys  []string `json:"unseal_keys_b64"`
		Token string   `json:"root_token"`
	}
	if err := json.Unmarshal([]byte(out), &init); err != nil || len(init.Keys) == 0 {
		v.t.Fatalf("operator init: %v %s", err, out)
	}
	v.unsealKey, v.token = init.Keys[0], init.Token
	v.remember(init.Token)
	v.mustCLI("operator", "unseal", v.unsealKey)
}

// storageHCL is a server's storage stanza: file, or raft (a single node,
// or one of a cluster joining the leaders at join).
func storageHCL(kind, dir, nodeID string, join []string) string {
	if kind == "file" {
		return fmt.Sprintf("storage \"file\" { path = %q }\n", filepath.Join(dir, "data"))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "storage \"raft\" {\n  path = %q\n  node_id = %q\n  performance_multiplier = 1\n", filepath.Join(dir, "raft"), nodeID)
	for _, j := range join {
		fmt.Fprintf(&b, "  retry_join { leader_api_addr = %q }\n", j)
	}
	b.WriteString("}\n")
	return b.String()
}

// newServer prepares (does not launch) a server on storage kind with emu as
// its upstream; cluster servers share one emulator.
func newServer(t *testing.T, emu *emulator.Emulator, kind, nodeID string, port int, join []string) *vault {
	t.Helper()
	dir := t.TempDir()
	v := &vault{t: t, addr: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: filepath.Join(dir, "vault.log"),
		done: make(chan struct{}), emu: emu, secrets: []string{emulator.DemoCloudClientSecret, emulator.DemoCDPPassword,
			emulator.DemoAcronisClientSecret, emulator.DemoOAuth2ClientSecret}}
	v.cfgPath = filepath.Join(dir, "vault.hcl")
	if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	hcl := storageHCL(kind, dir, nodeID, join) + fmt.Sprintf(`listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
plugin_directory = %q
api_addr         = %q
cluster_addr     = "https://127.0.0.1:%d"
disable_mlock    = true
`, port, port+1, pluginDir, v.addr, port+1)
	if err := os.WriteFile(v.cfgPath, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	// A failed test shows the log's tail; ACQUIA_LONG_KEEP_LOGS=dir keeps
	// the whole log there.
	t.Cleanup(func() {
		failed := t.Failed()
		if failed && os.Getenv("ACQUIA_LONG_KEEP_LOGS") != "" {
			dst := filepath.Join(os.Getenv("ACQUIA_LONG_KEEP_LOGS"), strings.NewReplacer("/", "_", ":", "_").Replace(t.Name()+v.addr)+".log")
			b, _ := os.ReadFile(v.logPath)
			_ = os.WriteFile(dst, b, 0o644)
		}
		v.stop()
		if failed {
			b, _ := os.ReadFile(v.logPath)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			t.Logf("%s log (tail):\n%s", v.addr, strings.Join(lines, "\n"))
		}
	})
	return v
}

// newEmulator starts an emulator with the demo clients for a test.
func newEmulator(t *testing.T) *emulator.Emulator {
	t.Helper()
	emu := emulator.New()
	emu.AddDemo()
	if _, err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	return emu
}

// mountPlugin registers the plugin (with env, e.g. the WAL rollback age)
// and enables it at acquia/.
func (v *vault) mountPlugin(env ...string) {
	v.t.Helper()
	args := []string{"plugin", "register", "-sha256=" + pluginSHA, "-version=" + pluginVersion, "-command=" + pluginBinary}
	for _, e := range env {
		args = append(args, "-env="+e)
	}
	v.mustCLI(append(args, "secret", pluginName)...)
	v.mustCLI("secrets", "enable", "-path=acquia", "-plugin-version="+pluginVersion, pluginName)
}

// longCDPUser is a CDP integration user with room for every lease a long
// run holds, so only the configs' max_tokens limit them.
var longCDPUser = emulator.CDPUser{Username: "long-user", Password: "long-P@ss+/=:x", MaxTokens: 1 << 20}

// providerSetup writes one config and role per provider, each role named
// after its provider, with request_timeout timeout. Source and oauth2 get
// a revocation_url, so all but cloud revoke upstream.
func (v *vault) providerSetup(timeout, ttl string) {
	v.t.Helper()
	u := v.emu.URL()
	v.emu.AddCDPUser(longCDPUser)
	v.remember(longCDPUser.Password)
	v.remember(emulator.DemoSourceClientSecret)
	rt := "request_timeout=" + timeout
	v.mustCLI("write", "acquia/config/cloud", "provider=cloud", "client_id="+emulator.DemoCloudClientID,
		"client_secret="+emulator.DemoCloudClientSecret, "token_url="+u+"/api/auth/oauth/token", "api_url="+u+"/api", rt)
	v.mustCLI("write", "acquia/config/source", "provider=source", "base_url="+u, "client_id="+emulator.DemoSourceClientID,
		"client_secret="+emulator.DemoSourceClientSecret, "revocation_url="+u+"/oauth/revoke", rt)
	v.mustCLI("write", "acquia/config/cdp", "provider=cdp", "username="+longCDPUser.Username, "password="+longCDPUser.Password,
		"base_url="+u, "max_tokens=100000", rt)
	v.mustCLI("write", "acquia/config/acronis", "provider=acronis", "client_id="+emulator.DemoAcronisClientID,
		"client_secret="+emulator.DemoAcronisClientSecret, "base_url="+u, rt)
	v.mustCLI("write", "acquia/config/oauth2", "provider=oauth2", "auth_style=basic", "client_id="+emulator.DemoOAuth2ClientID,
		"client_secret="+emulator.DemoOAuth2ClientSecret, "token_url="+u+"/oauth2/token", "revocation_url="+u+"/oauth2/revoke", rt)
	for _, p := range longProviders {
		args := []string{"write", "acquia/roles/" + p, "config=" + p, "ttl=" + ttl}
		if p == "source" {
			args = append(args, "scopes=content:read")
		}
		v.mustCLI(args...)
	}
}

// longProviders are the five providers, in the order reads go round.
var longProviders = []string{"cloud", "source", "cdp", "acronis", "oauth2"}

// revocableClients are the emulator services and clients whose tokens the
// configs of providerSetup revoke upstream.
func revocableClients() map[string][]string {
	return map[string][]string{
		"source":  {emulator.DemoSourceClientID},
		"cdp":     {longCDPUser.Username},
		"acronis": {emulator.DemoAcronisClientID},
		"oauth2":  {emulator.DemoOAuth2ClientID},
	}
}

// emuHost is the upstream host errors must name.
func emuHost(emu *emulator.Emulator) string {
	return strings.TrimPrefix(emu.URL(), "http://")
}
