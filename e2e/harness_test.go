//go:build e2e

// Package e2e drives the plugin inside a real `vault` server, through the
// vault CLI and HTTP API, against the in-process emulator.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

const (
	pluginName    = "acquia"
	pluginBinary  = "vault-plugin-secrets-acquia"
	pluginVersion = "v0.0.0-e2e"
	rootToken     = "root"
)

var (
	vaultBin  string
	pluginDir string
	pluginSHA string
	repoRoot  string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv(benchClientEnv) == "1" && os.Getenv("ACQUIA_BENCH") == "1" {
		return benchClient()
	}
	if u := os.Getenv(bearerProbeEnv); u != "" {
		return bearerProbe(u)
	}
	wd, _ := os.Getwd()
	repoRoot = filepath.Dir(wd)
	vaultBin = os.Getenv("VAULT_BIN")
	if vaultBin == "" {
		out, err := exec.Command(filepath.Join(repoRoot, "scripts", "install-vault")).Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: scripts/install-vault failed:", err)
			return 1
		}
		vaultBin = strings.TrimSpace(string(out))
	}
	dir, err := os.MkdirTemp("", "acquia-e2e-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary directory: best effort
	pluginDir = dir
	bin := filepath.Join(dir, pluginBinary)
	build := exec.Command(filepath.Join(repoRoot, "scripts", "build-plugin"), bin, pluginVersion)
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the plugin:", err)
		return 1
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sum := sha256.Sum256(b)
	pluginSHA = hex.EncodeToString(sum[:])
	return m.Run()
}

// vault is one running `vault server -dev` with the plugin mounted.
type vault struct {
	t       testing.TB
	addr    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	emu     *emulator.Emulator
	token   string
	// persistent servers: their config file and unseal key.
	cfgPath   string
	unsealKey string
	// secrets must never show in the server log.
	mu      sync.Mutex
	secrets []string
}

// freePort hands out a port for a server a test starts. It picks from
// below Linux's ephemeral range (32768 up), which outgoing connections and
// ":0" listeners draw from, so nothing else takes it between this check and
// the server's bind; and it never hands out a port twice in one run.
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 2000 {
		// Vault's cluster listener takes the next port: keep both free.
		p := 20000 + rand.IntN(12000)
		if portsUsed[p] || portsUsed[p+1] || !canListen(p) || !canListen(p+1) {
			continue
		}
		portsUsed[p], portsUsed[p+1] = true, true
		return p
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

func canListen(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// startVault starts a dev server with the plugin registered and mounted at
// acquia/, and an emulator with the demo clients. Both stop when the test
// ends, failed or not.
func startVault(t testing.TB) *vault {
	t.Helper()
	v := newVault(t)
	cfg := filepath.Join(t.TempDir(), "vault.hcl")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("plugin_directory = %q\n", pluginDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	v.cfgPath = cfg
	v.token = rootToken
	v.launch("-dev", "-dev-root-token-id="+rootToken, "-dev-listen-address="+strings.TrimPrefix(v.addr, "http://"))
	v.mount()
	return v
}

// startPersistentVault starts a non-dev server on file storage, initialised
// and unsealed, with the plugin mounted; restart() brings it back with the
// same storage.
func startPersistentVault(t testing.TB) *vault {
	t.Helper()
	v := newVault(t)
	dir := t.TempDir()
	v.cfgPath = filepath.Join(dir, "vault.hcl")
	hcl := fmt.Sprintf(`storage "file" { path = %q }
listener "tcp" {
  address     = %q
  tls_disable = true
}
plugin_directory = %q
api_addr         = %q
disable_mlock    = true
`, filepath.Join(dir, "data"), strings.TrimPrefix(v.addr, "http://"), pluginDir, v.addr)
	if err := os.WriteFile(v.cfgPath, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	v.launch()
	out := v.mustCLI("operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json")
	var init struct {
		Keys  []string `json:"unseal_keys_b64"`
		Token string   `json:"root_token"`
	}
	if err := json.Unmarshal([]byte(out), &init); err != nil || len(init.Keys) == 0 {
		t.Fatalf("operator init: %v %s", err, out)
	}
	v.unsealKey, v.token = init.Keys[0], init.Token
	v.remember(init.Token)
	v.mustCLI("operator", "unseal", v.unsealKey)
	v.waitReady()
	v.mount()
	return v
}

// restart stops the server and starts it again on the same storage.
func (v *vault) restart() {
	v.t.Helper()
	v.stop()
	v.done = make(chan struct{})
	v.launch()
	v.mustCLI("operator", "unseal", v.unsealKey)
	v.waitReady()
}

func newVault(t testing.TB) *vault {
	emu := emulator.New()
	emu.AddDemo()
	if _, err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	dir := t.TempDir()
	v := &vault{t: t, addr: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), logPath: filepath.Join(dir, "vault.log"),
		done: make(chan struct{}), emu: emu, secrets: []string{emulator.DemoCloudClientSecret, emulator.DemoCDPPassword,
			emulator.DemoAcronisClientSecret, emulator.DemoOAuth2ClientSecret}}
	t.Cleanup(func() {
		v.stop()
		if t.Failed() {
			b, _ := os.ReadFile(v.logPath)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			t.Logf("vault log (tail):\n%s", strings.Join(lines, "\n"))
		}
	})
	return v
}

// launch starts `vault server` with the given flags and this server's
// config, appending to its log.
func (v *vault) launch(flags ...string) {
	v.t.Helper()
	logf, err := os.OpenFile(v.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		v.t.Fatal(err)
	}
	// Tests read the plugin's debug lines; the bench measures what a
	// production server costs: info, set as operators set it in a service
	// unit, through VAULT_LOG_LEVEL, which the plugin inherits.
	args := append([]string{"server", "-config=" + v.cfgPath}, flags...)
	env := os.Environ()
	if os.Getenv("ACQUIA_BENCH") == "1" {
		env = append(env, "VAULT_LOG_LEVEL=info")
	} else {
		args = append(args, "-log-level=trace")
	}
	v.cmd = exec.Command(vaultBin, args...)
	v.cmd.Env = env
	v.cmd.Stdout, v.cmd.Stderr = logf, logf
	v.cmd.SysProcAttr = procAttr(true)
	if err := v.cmd.Start(); err != nil {
		v.t.Fatal(err)
	}
	done := v.done
	cmd := v.cmd
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	v.waitListening()
}

func (v *vault) mount() {
	v.t.Helper()
	v.waitReady()
	v.mustCLI("plugin", "register", "-sha256="+pluginSHA, "-version="+pluginVersion, "-command="+pluginBinary, "secret", pluginName)
	v.mustCLI("secrets", "enable", "-path=acquia", "-plugin-version="+pluginVersion, pluginName)
}

func (v *vault) stop() {
	if v.cmd == nil || v.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-v.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
		<-v.done
	}
}

// waitListening waits until the server answers at all (sealed or not).
func (v *vault) waitListening() {
	v.waitHealth(func(int) bool { return true })
}

// waitReady waits until the server is unsealed and active.
func (v *vault) waitReady() {
	v.waitHealth(func(code int) bool { return code == 200 })
}

func (v *vault) waitHealth(ok func(int) bool) {
	v.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := httpClient.Get(v.addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return
			}
		}
		select {
		case <-v.done:
			v.t.Fatal("vault exited during start-up")
		case <-time.After(200 * time.Millisecond):
		}
	}
	v.t.Fatal("vault did not become ready in 60s")
}

// cli runs the vault CLI against this server.
func (v *vault) cli(args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, vaultBin, args...)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+v.addr, "VAULT_TOKEN="+v.token, "VAULT_FORMAT=", "NO_COLOR=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func (v *vault) mustCLI(args ...string) string {
	v.t.Helper()
	out, errOut, err := v.cli(args...)
	if err != nil {
		v.t.Fatalf("vault %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// readJSON runs `vault read -format=json path` and decodes the answer.
func (v *vault) readJSON(path string) secretJSON {
	v.t.Helper()
	out := v.mustCLI("read", "-format=json", path)
	var s secretJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		v.t.Fatalf("decoding %s: %v", out, err)
	}
	if tok, ok := s.Data["access_token"].(string); ok {
		v.remember(tok)
	}
	return s
}

func (v *vault) remember(s string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets = append(v.secrets, s)
}

type secretJSON struct {
	LeaseID       string         `json:"lease_id"`
	LeaseDuration int            `json:"lease_duration"`
	Renewable     bool           `json:"renewable"`
	Data          map[string]any `json:"data"`
	Warnings      []string       `json:"warnings"`
}

// request is a call of Vault's HTTP API with this server's token and body
// as JSON.
func (v *vault) request(method, path string, body any) *http.Request {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, v.addr+"/v1/"+path, r)
	req.Header.Set("X-Vault-Token", v.token)
	return req
}

// api calls Vault's HTTP API.
func (v *vault) api(method, path string, body any) (int, map[string]any) {
	v.t.Helper()
	resp, err := httpClient.Do(v.request(method, path, body))
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// assertLogClean fails if any secret or token reached the server log,
// where the plugin's own log lines go.
func (v *vault) assertLogClean() {
	v.t.Helper()
	b, err := os.ReadFile(v.logPath)
	if err != nil {
		v.t.Fatal(err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range v.secrets {
		if s != "" && bytes.Contains(b, []byte(s)) {
			v.t.Errorf("a secret or token appears in the vault server log")
		}
	}
	if !bytes.Contains(b, []byte("acquia")) {
		v.t.Errorf("the server log shows no plugin activity; is the log captured?")
	}
}

// httpClient is how tests call the emulator as an app would.
var httpClient = testutil.NewClient()

// upstreamExpiresAt is when the emulator's token of service tok expires.
func upstreamExpiresAt(t *testing.T, emu *emulator.Emulator, service, tok string) time.Time {
	t.Helper()
	et, ok := emu.Token(tok)
	if !ok || et.Service != service {
		t.Fatalf("the emulator knows no %s token like that", service)
	}
	return et.ExpiresAt
}
