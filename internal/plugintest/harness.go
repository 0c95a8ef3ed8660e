package plugintest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/backend"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/metrics"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/automatedrotationutil"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/helper/errutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/rotation"
)

const (
	CloudID     = "cloud-key-1"
	CloudSecret = "s3cr3t+with/slash=and=="
	OrgUUID     = "0b7a9a4e-5f0e-4c5b-9d3e-1f2a3b4c5d6e"
	FedOrgUUID  = "9d3e1f2a-3b4c-4d6e-8b7a-9a4e5f0e4c5b"
)

// clock is a settable clock shared by the plugin and the emulator.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// httpClient is how tests call the emulator as an app would.
var HTTPClient = testutil.NewClient()

type Harness struct {
	T       testing.TB
	B       *backend.Backend
	Storage logical.Storage
	Emu     *emulator.Emulator
	Clock   *Clock
	Logs    *testutil.SyncBuffer
	// secrets collects every secret and token seen, so the test can check
	// none of them reached the logs.
	Secrets []string
}

// communitySystemView answers rotation manager calls as Vault Community
// does to a plugin: no rotation manager, and over the plugin's gRPC
// connection only the text of that error arrives.
type CommunitySystemView struct{ logical.StaticSystemView }

func (CommunitySystemView) RegisterRotationJob(context.Context, *rotation.RotationJobConfigureRequest) (string, error) {
	return "", errors.New("rpc error: code = Internal desc = " + automatedrotationutil.ErrRotationManagerUnsupported.Error())
}

func (CommunitySystemView) DeregisterRotationJob(context.Context, *rotation.RotationJobDeregisterRequest) error {
	return nil
}

// newHarness starts a mount on Vault Community with an in-memory storage,
// the fake clock and an emulator; opts may change its config first.
func New(t testing.TB, opts ...func(*logical.BackendConfig)) *Harness {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	conf := logical.TestBackendConfig()
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	conf.StorageView = &logical.InmemStorage{}
	// What Vault Community answers for a mount on its active node.
	conf.System = &CommunitySystemView{logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour,
		ReplicationStateVal: consts.ReplicationDRDisabled | consts.ReplicationPerformanceDisabled}}
	for _, o := range opts {
		o(conf)
	}
	b, err := backend.Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	clk := &Clock{now: time.Now().Truncate(time.Second)}
	bk := b.(*backend.Backend)
	bk.Env().Now = clk.Now

	emu := emulator.New()
	emu.SetClock(clk.Now)
	emu.AddCloudClient(emulator.CloudClient{ID: CloudID, Secret: CloudSecret, Orgs: []string{OrgUUID, FedOrgUUID}, FederatedOrgs: []string{FedOrgUUID}})
	if _, err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	h := &Harness{T: t, B: bk, Storage: conf.StorageView, Emu: emu, Clock: clk, Logs: logs, Secrets: []string{CloudSecret}}
	t.Cleanup(func() {
		emu.Close()
		h.AssertLogsClean()
	})
	return h
}

func (h *Harness) Do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	h.T.Helper()
	req := &logical.Request{Operation: op, Path: path, Data: data, Storage: h.Storage}
	resp, err := h.B.HandleRequest(context.Background(), req)
	if resp != nil && resp.Data != nil {
		if tok, ok := resp.Data["access_token"].(string); ok {
			h.Secrets = append(h.Secrets, tok)
		}
	}
	return resp, err
}

// write picks create or update the way Vault does.
func (h *Harness) Write(path string, data map[string]any) (*logical.Response, error) {
	h.T.Helper()
	req := &logical.Request{Operation: logical.CreateOperation, Path: path, Data: data, Storage: h.Storage}
	checkFound, exists, err := h.B.HandleExistenceCheck(context.Background(), req)
	if err != nil {
		// The framework checks field types here already.
		return nil, err
	}
	var op logical.Operation = logical.UpdateOperation
	if checkFound && !exists {
		op = logical.CreateOperation
	}
	return h.Do(op, path, data)
}

func (h *Harness) MustWrite(path string, data map[string]any) *logical.Response {
	h.T.Helper()
	resp, err := h.Write(path, data)
	if err != nil || (resp != nil && resp.IsError()) {
		h.T.Fatalf("write %s: err=%v resp=%v", path, err, ErrText(resp))
	}
	return resp
}

// mustDelete deletes path and fails the test unless that succeeds.
func (h *Harness) MustDelete(path string) {
	h.T.Helper()
	resp, err := h.Do(logical.DeleteOperation, path, nil)
	if err != nil || (resp != nil && resp.IsError()) {
		h.T.Fatalf("delete %s: err=%v resp=%v", path, err, ErrText(resp))
	}
}

func (h *Harness) Read(path string) (*logical.Response, error) {
	h.T.Helper()
	return h.Do(logical.ReadOperation, path, nil)
}

func (h *Harness) MustRead(path string) *logical.Response {
	h.T.Helper()
	resp, err := h.Read(path)
	if err != nil || resp == nil || resp.IsError() {
		h.T.Fatalf("read %s: err=%v resp=%v", path, err, ErrText(resp))
	}
	return resp
}

// cloudConfig writes a verified cloud config pointed at the emulator.
func (h *Harness) CloudConfig(name string, extra map[string]any) {
	h.T.Helper()
	h.MustWrite("config/"+name, h.CloudConfigData(extra))
}

func (h *Harness) CloudConfigData(extra map[string]any) map[string]any {
	d := map[string]any{
		"provider":      "cloud",
		"client_id":     CloudID,
		"client_secret": CloudSecret,
		"token_url":     h.Emu.URL() + "/api/auth/oauth/token",
		"api_url":       h.Emu.URL() + "/api",
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func (h *Harness) Stored(key string) bool {
	h.T.Helper()
	e, err := h.Storage.Get(context.Background(), key)
	if err != nil {
		h.T.Fatal(err)
	}
	return e != nil
}

// Refused writes data to path and holds the write to what a refused write
// must be: a 400 whose text holds none of secrets nor h.Secrets, with
// nothing stored at path. It returns the text, for the caller's checks of
// its wording.
func (h *Harness) Refused(t testing.TB, path string, data map[string]any, secrets ...string) string {
	t.Helper()
	msg, ok := BadRequest(h.Write(path, data))
	if !ok {
		t.Fatalf("write %s: want a 400, got %s", path, msg)
	}
	for _, s := range slices.Concat(secrets, h.Secrets) {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("write %s: the error holds a secret: %q", path, msg)
		}
	}
	if h.Stored(path) {
		t.Errorf("write %s: a refused write stored it", path)
	}
	return msg
}

func (h *Harness) AssertLogsClean() {
	logs := h.Logs.String()
	for _, s := range h.Secrets {
		if s != "" && strings.Contains(logs, s) {
			h.T.Errorf("a secret or token reached the logs")
		}
	}
}

// badRequest reports whether Vault would answer 400, and with what text:
// an error response, or a framework UserError (field type checks).
func BadRequest(resp *logical.Response, err error) (string, bool) {
	var ue errutil.UserError
	switch {
	case err != nil && errors.As(err, &ue):
		return ue.Error(), true
	case err == nil && resp != nil && resp.IsError():
		return resp.Error().Error(), true
	}
	return fmt.Sprintf("resp=%v err=%v", ErrText(resp), err), false
}

func ErrText(resp *logical.Response) string {
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
func (h *Harness) NewNode() *backend.Backend {
	h.T.Helper()
	conf := logical.TestBackendConfig()
	conf.Logger = h.B.Logger()
	conf.StorageView = h.Storage
	conf.System = h.B.System()
	b, err := backend.Factory(context.Background(), conf)
	if err != nil {
		h.T.Fatal(err)
	}
	n := b.(*backend.Backend)
	n.Env().Now = h.Clock.Now
	return n
}

// flakyStorage fails puts or deletes of keys under a prefix, from the
// nth such call on (n 1: every one), to break a request between two steps.
type FlakyStorage struct {
	logical.Storage
	Prefix  string
	Op      string // "put" or "delete"
	N, Seen int
}

func (f *FlakyStorage) Fail(op, key string) bool {
	if op != f.Op || !strings.HasPrefix(key, f.Prefix) {
		return false
	}
	f.Seen++
	return f.Seen >= f.N
}

func (f *FlakyStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if f.Fail("put", e.Key) {
		return errors.New("injected storage failure")
	}
	return f.Storage.Put(ctx, e)
}

func (f *FlakyStorage) Delete(ctx context.Context, key string) error {
	if f.Fail("delete", key) {
		return errors.New("injected storage failure")
	}
	return f.Storage.Delete(ctx, key)
}

// scrape reads the metrics path and checks it is a raw 200 in Prometheus'
// text format.
func (h *Harness) Scrape() string {
	h.T.Helper()
	resp := h.MustRead("metrics")
	if resp.Data[logical.HTTPStatusCode] != 200 || resp.Data[logical.HTTPContentType] != metrics.ContentType {
		h.T.Fatalf("metrics answered %v %v", resp.Data[logical.HTTPStatusCode], resp.Data[logical.HTTPContentType])
	}
	body, ok := resp.Data[logical.HTTPRawBody].([]byte)
	if !ok {
		h.T.Fatalf("metrics body is a %T", resp.Data[logical.HTTPRawBody])
	}
	return string(body)
}

var sampleLine = regexp.MustCompile(`^(\w+)(?:\{([^}]*)\})? (\S+)$`)

// samples sums the samples of family in body by the value of label
// (every sample when label is ""), keeping those whose labels hold every
// pair of match ("name=\"value\"").
func Samples(t testing.TB, body, family, label string, match ...string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || m[1] != family {
			continue
		}
		skip := false
		for _, want := range match {
			if !strings.Contains(m[2], want) {
				skip = true
			}
		}
		if skip {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		key := ""
		if label != "" {
			lm := regexp.MustCompile(label + `="([^"]*)"`).FindStringSubmatch(m[2])
			if lm == nil {
				t.Fatalf("sample %q has no %s", line, label)
			}
			key = lm[1]
		}
		out[key] += v
	}
	return out
}
