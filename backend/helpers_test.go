package backend_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/automatedrotationutil"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/helper/errutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/rotation"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/backend"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

const (
	cloudID     = "cloud-key-1"
	cloudSecret = "s3cr3t+with/slash=and=="
	orgUUID     = "0b7a9a4e-5f0e-4c5b-9d3e-1f2a3b4c5d6e"
	fedOrgUUID  = "9d3e1f2a-3b4c-4d6e-8b7a-9a4e5f0e4c5b"
)

// clock is a settable clock shared by the plugin and the emulator.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// httpClient is how tests call the emulator as an app would.
var httpClient = testutil.NewClient()

type harness struct {
	t       testing.TB
	b       *backend.Backend
	storage logical.Storage
	emu     *emulator.Emulator
	clock   *clock
	logs    *testutil.SyncBuffer
	// secrets collects every secret and token seen, so the test can check
	// none of them reached the logs.
	secrets []string
}

// communitySystemView answers rotation manager calls as Vault Community
// does to a plugin: no rotation manager, and over the plugin's gRPC
// connection only the text of that error arrives.
type communitySystemView struct{ logical.StaticSystemView }

func (communitySystemView) RegisterRotationJob(context.Context, *rotation.RotationJobConfigureRequest) (string, error) {
	return "", errors.New("rpc error: code = Internal desc = " + automatedrotationutil.ErrRotationManagerUnsupported.Error())
}

func (communitySystemView) DeregisterRotationJob(context.Context, *rotation.RotationJobDeregisterRequest) error {
	return nil
}

// newHarness starts a mount on Vault Community with an in-memory storage,
// the fake clock and an emulator; opts may change its config first.
func newHarness(t testing.TB, opts ...func(*logical.BackendConfig)) *harness {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	conf := logical.TestBackendConfig()
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	conf.StorageView = &logical.InmemStorage{}
	// What Vault Community answers for a mount on its active node.
	conf.System = &communitySystemView{logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour,
		ReplicationStateVal: consts.ReplicationDRDisabled | consts.ReplicationPerformanceDisabled}}
	for _, o := range opts {
		o(conf)
	}
	b, err := backend.Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now().Truncate(time.Second)}
	bk := b.(*backend.Backend)
	bk.Env().Now = clk.Now

	emu := emulator.New()
	emu.SetClock(clk.Now)
	emu.AddCloudClient(emulator.CloudClient{ID: cloudID, Secret: cloudSecret, Orgs: []string{orgUUID, fedOrgUUID}, FederatedOrgs: []string{fedOrgUUID}})
	if _, err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, b: bk, storage: conf.StorageView, emu: emu, clock: clk, logs: logs, secrets: []string{cloudSecret}}
	t.Cleanup(func() {
		emu.Close()
		h.assertLogsClean()
	})
	return h
}

func (h *harness) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	h.t.Helper()
	req := &logical.Request{Operation: op, Path: path, Data: data, Storage: h.storage}
	resp, err := h.b.HandleRequest(context.Background(), req)
	if resp != nil && resp.Data != nil {
		if tok, ok := resp.Data["access_token"].(string); ok {
			h.secrets = append(h.secrets, tok)
		}
	}
	return resp, err
}

// write picks create or update the way Vault does.
func (h *harness) write(path string, data map[string]any) (*logical.Response, error) {
	h.t.Helper()
	req := &logical.Request{Operation: logical.CreateOperation, Path: path, Data: data, Storage: h.storage}
	checkFound, exists, err := h.b.HandleExistenceCheck(context.Background(), req)
	if err != nil {
		// The framework checks field types here already.
		return nil, err
	}
	var op logical.Operation = logical.UpdateOperation
	if checkFound && !exists {
		op = logical.CreateOperation
	}
	return h.do(op, path, data)
}

func (h *harness) mustWrite(path string, data map[string]any) *logical.Response {
	h.t.Helper()
	resp, err := h.write(path, data)
	if err != nil || (resp != nil && resp.IsError()) {
		h.t.Fatalf("write %s: err=%v resp=%v", path, err, errText(resp))
	}
	return resp
}

// mustDelete deletes path and fails the test unless that succeeds.
func (h *harness) mustDelete(path string) {
	h.t.Helper()
	resp, err := h.do(logical.DeleteOperation, path, nil)
	if err != nil || (resp != nil && resp.IsError()) {
		h.t.Fatalf("delete %s: err=%v resp=%v", path, err, errText(resp))
	}
}

func (h *harness) read(path string) (*logical.Response, error) {
	h.t.Helper()
	return h.do(logical.ReadOperation, path, nil)
}

func (h *harness) mustRead(path string) *logical.Response {
	h.t.Helper()
	resp, err := h.read(path)
	if err != nil || resp == nil || resp.IsError() {
		h.t.Fatalf("read %s: err=%v resp=%v", path, err, errText(resp))
	}
	return resp
}

// cloudConfig writes a verified cloud config pointed at the emulator.
func (h *harness) cloudConfig(name string, extra map[string]any) {
	h.t.Helper()
	h.mustWrite("config/"+name, h.cloudConfigData(extra))
}

func (h *harness) cloudConfigData(extra map[string]any) map[string]any {
	d := map[string]any{
		"provider":      "cloud",
		"client_id":     cloudID,
		"client_secret": cloudSecret,
		"token_url":     h.emu.URL() + "/api/auth/oauth/token",
		"api_url":       h.emu.URL() + "/api",
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func (h *harness) stored(key string) bool {
	h.t.Helper()
	e, err := h.storage.Get(context.Background(), key)
	if err != nil {
		h.t.Fatal(err)
	}
	return e != nil
}

func (h *harness) assertLogsClean() {
	logs := h.logs.String()
	for _, s := range h.secrets {
		if s != "" && strings.Contains(logs, s) {
			h.t.Errorf("a secret or token reached the logs")
		}
	}
}

// badRequest reports whether Vault would answer 400, and with what text:
// an error response, or a framework UserError (field type checks).
func badRequest(resp *logical.Response, err error) (string, bool) {
	var ue errutil.UserError
	switch {
	case err != nil && errors.As(err, &ue):
		return ue.Error(), true
	case err == nil && resp != nil && resp.IsError():
		return resp.Error().Error(), true
	}
	return fmt.Sprintf("resp=%v err=%v", errText(resp), err), false
}

func errText(resp *logical.Response) string {
	if resp == nil {
		return "<nil>"
	}
	if resp.IsError() {
		return resp.Error().Error()
	}
	return ""
}

// newNode is another mount on the harness's storage, on its clock: a
// restarted Vault, or another node of the cluster.
func (h *harness) newNode() *backend.Backend {
	h.t.Helper()
	conf := logical.TestBackendConfig()
	conf.Logger = h.b.Logger()
	conf.StorageView = h.storage
	conf.System = h.b.System()
	b, err := backend.Factory(context.Background(), conf)
	if err != nil {
		h.t.Fatal(err)
	}
	n := b.(*backend.Backend)
	n.Env().Now = h.clock.Now
	return n
}

// flakyStorage fails puts or deletes of keys under a prefix, from the
// nth such call on (n 1: every one), to break a request between two steps.
type flakyStorage struct {
	logical.Storage
	prefix  string
	op      string // "put" or "delete"
	n, seen int
}

func (f *flakyStorage) fail(op, key string) bool {
	if op != f.op || !strings.HasPrefix(key, f.prefix) {
		return false
	}
	f.seen++
	return f.seen >= f.n
}

func (f *flakyStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if f.fail("put", e.Key) {
		return errors.New("injected storage failure")
	}
	return f.Storage.Put(ctx, e)
}

func (f *flakyStorage) Delete(ctx context.Context, key string) error {
	if f.fail("delete", key) {
		return errors.New("injected storage failure")
	}
	return f.Storage.Delete(ctx, key)
}
