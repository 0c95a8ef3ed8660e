package backend_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"pgregory.net/rapid"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// The stateful test: random sequences of operations over every path,
// against the emulator with faults on, checking after every step that
// nothing panicked, that every revocable token the plugin minted and that
// lives upstream is held by a lease, a static role, a retired token or a
// WAL entry (or is one of the tokens a fault may have cut off), that no
// answer or log line holds a secret, and that what the mount serves from
// memory is what a fresh mount reads from storage. rapid shrinks a failing
// sequence to a short one; each one found becomes a named regression test.
//
// make test runs the default budget (-rapid.checks=100, up to 30 steps
// each); make fuzz a longer one (STATEFUL_CHECKS).

// statefulProviders are the configs of a sequence, each named after its
// emulator service, with a role and a static role of the same name.
var statefulProviders = []string{"cloud", "cdp", "oauth2"}

// rapidTB lets the harness report through rapid, so a failing sequence
// shrinks; its cleanups run at the end of each sequence.
type rapidTB struct {
	testing.TB
	rt       *rapid.T
	cleanups []func()
}

func (r *rapidTB) Helper()                        {}
func (r *rapidTB) Fatal(a ...any)                 { r.rt.Fatal(a...) }
func (r *rapidTB) Fatalf(format string, a ...any) { r.rt.Fatalf(format, a...) }
func (r *rapidTB) Error(a ...any)                 { r.rt.Error(a...) }
func (r *rapidTB) Errorf(format string, a ...any) { r.rt.Errorf(format, a...) }
func (r *rapidTB) Log(a ...any)                   { r.rt.Log(a...) }
func (r *rapidTB) Logf(format string, a ...any)   { r.rt.Logf(format, a...) }
func (r *rapidTB) Failed() bool                   { return r.rt.Failed() }
func (r *rapidTB) Cleanup(f func())               { r.cleanups = append(r.cleanups, f) }
func (r *rapidTB) Skipf(format string, a ...any)  { r.rt.Skipf(format, a...) }
func (r *rapidTB) Skip(a ...any)                  { r.rt.Skip(a...) }
func (r *rapidTB) done() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

type statefulLease struct {
	resp     *logical.Response
	provider string
	token    string
	issued   time.Time
	ends     time.Time
}

type statefulModel struct {
	h      *plugintest.Harness
	rt     *rapid.T
	leases []*statefulLease
	// lossy counts, per service, the faults that may have let a token
	// be minted whose answer never arrived: that many may be unheld.
	lossy map[string]int
	// secrets are every credential written; none may be answered.
	secrets []string
}

func TestStateful(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		tb := &rapidTB{TB: t, rt: rt}
		defer tb.done()
		m := newStatefulModel(tb, rt)
		rt.Repeat(m.actions())
	})
}

func newStatefulModel(tb *rapidTB, rt *rapid.T) *statefulModel {
	h := plugintest.New(tb)
	h.Emu.AddCDPUser(emulator.CDPUser{Username: plugintest.CDPUser, Password: plugintest.CDPPass, TenantID: "t", UserType: "CLIENT", MaxTokens: 3,
		PasswordExpiry: h.Clock.Now().Add(400 * 24 * time.Hour)})
	h.OAuth2Client()
	h.Secrets = append(h.Secrets, plugintest.CDPPass)
	m := &statefulModel{h: h, rt: rt, lossy: map[string]int{}, secrets: []string{plugintest.CloudSecret, plugintest.CDPPass, plugintest.OAuthSecret}}
	for _, p := range statefulProviders {
		m.writeConfig(p)
		m.send(logical.UpdateOperation, "roles/"+p, map[string]any{"config": p, "ttl": "1h", "max_ttl": "3h"})
	}
	return m
}

func (m *statefulModel) actions() map[string]func(*rapid.T) {
	pick := func(t *rapid.T) string { return rapid.SampledFrom(statefulProviders).Draw(t, "provider") }
	return map[string]func(*rapid.T){
		"":             func(t *rapid.T) { m.check() },
		"writeConfig":  func(t *rapid.T) { m.writeConfig(pick(t)) },
		"deleteConfig": func(t *rapid.T) { m.send(logical.DeleteOperation, "config/"+pick(t), nil) },
		"writeRole": func(t *rapid.T) {
			p := pick(t)
			m.send(logical.UpdateOperation, "roles/"+p, map[string]any{"config": p, "ttl": rapid.SampledFrom([]string{"1m", "1h", "3h"}).Draw(t, "ttl"), "max_ttl": "3h"})
		},
		"deleteRole":    func(t *rapid.T) { m.send(logical.DeleteOperation, "roles/"+pick(t), nil) },
		"writeStatic":   func(t *rapid.T) { m.writeStatic(t, pick(t)) },
		"deleteStatic":  func(t *rapid.T) { m.send(logical.DeleteOperation, "static-roles/"+pick(t), nil) },
		"creds":         func(t *rapid.T) { m.creds(pick(t)) },
		"renew":         func(t *rapid.T) { m.renew(t) },
		"revoke":        func(t *rapid.T) { m.revoke(t) },
		"staticCreds":   func(t *rapid.T) { m.send(logical.ReadOperation, "static-creds/"+pick(t), nil) },
		"rotateRole":    func(t *rapid.T) { m.send(logical.UpdateOperation, "rotate-role/"+pick(t), nil) },
		"rotateRoot":    func(t *rapid.T) { m.send(logical.UpdateOperation, "config/cloud/rotate", nil) },
		"revokeAll":     func(t *rapid.T) { m.send(logical.UpdateOperation, "config/cdp/revoke-all", nil) },
		"invalidate":    func(t *rapid.T) { m.invalidate(t, pick(t)) },
		"replicate":     func(t *rapid.T) { m.replicatedDelete(t, pick(t)) },
		"restart":       func(t *rapid.T) { m.restart(t) },
		"failedStorage": func(t *rapid.T) { m.failedStorage(t, pick(t)) },
		"fault":         func(t *rapid.T) { m.fault(t, pick(t)) },
		"advance":       func(t *rapid.T) { m.advance(t) },
		"periodic":      func(t *rapid.T) { m.periodic() },
	}
}

// do sends one request and checks its answer holds no secret.
func (m *statefulModel) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return m.doOn(m.h.Storage, op, path, data)
}

// send is do for an action whose outcome the model does not predict: a
// random sequence may fairly be refused (a role of a deleted config, a
// rotation during a fault). do has checked that the answer holds no
// secret, and check, rapid's "" action, checks the invariants after every
// action.
func (m *statefulModel) send(op logical.Operation, path string, data map[string]any) {
	_, _ = m.do(op, path, data)
}

func (m *statefulModel) doOn(s logical.Storage, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	req := &logical.Request{Operation: op, Path: path, Data: data, Storage: s}
	resp, err := m.h.B.HandleRequest(context.Background(), req)
	m.answerClean(path, resp, err)
	return resp, err
}

// answerClean: no credential in any answer, and no token outside the
// access_token of a creds or static-creds answer.
func (m *statefulModel) answerClean(path string, resp *logical.Response, err error) {
	var text strings.Builder
	if err != nil {
		text.WriteString(err.Error())
	}
	if resp != nil {
		fmt.Fprint(&text, resp.Warnings)
		for k, v := range resp.Data {
			if k != "access_token" && k != "id_token" {
				fmt.Fprint(&text, k, v)
			}
		}
	}
	s := text.String()
	for _, sec := range m.secrets {
		if strings.Contains(s, sec) {
			m.rt.Fatalf("%s answered a credential: %s", path, s)
		}
	}
	for _, svc := range []string{"cloud", "cdp", "oauth2"} {
		for _, tok := range m.h.Emu.Tokens(svc) {
			if strings.Contains(s, tok.Value) {
				m.rt.Fatalf("%s answered a token outside access_token: %s", path, s)
			}
		}
	}
}

func (m *statefulModel) writeConfig(p string) {
	h := m.h
	exists, _ := h.Storage.Get(context.Background(), "config/"+p)
	var data map[string]any
	switch {
	case exists != nil && p == "cdp":
		data = map[string]any{"max_tokens": 2, "request_timeout": "1s"}
	case exists != nil:
		data = map[string]any{"request_timeout": "1s"}
	case p == "cloud":
		keys := h.Emu.CloudKeys()
		if len(keys) == 0 {
			return
		}
		m.secrets = append(m.secrets, keys[0].Secret)
		h.Secrets = append(h.Secrets, keys[0].Secret)
		data = h.CloudConfigData(map[string]any{"client_id": keys[0].ID, "client_secret": keys[0].Secret,
			"key_uuid": keys[0].KeyUUID, "scopes": "organization:" + plugintest.FedOrgUUID, "request_timeout": "1s"})
	case p == "cdp":
		data = map[string]any{"provider": "cdp", "username": plugintest.CDPUser, "password": plugintest.CDPPass, "base_url": h.Emu.URL(),
			"max_tokens": 2, "request_timeout": "1s"}
	default:
		data = h.OAuth2Data(map[string]any{"revocation_url": h.Emu.URL() + "/oauth2/revoke", "scopes": "read",
			"request_timeout": "1s"})
	}
	var op logical.Operation = logical.UpdateOperation
	if exists == nil {
		op = logical.CreateOperation
	}
	m.send(op, "config/"+p, data)
}

func (m *statefulModel) writeStatic(t *rapid.T, p string) {
	data := map[string]any{"config": p}
	if p == "cloud" {
		data["scopes"] = "organization:" + plugintest.FedOrgUUID
	}
	if rapid.Bool().Draw(t, "rotation_period") {
		data["rotation_period"] = "10m"
	}
	exists, _ := m.h.Storage.Get(context.Background(), "static-roles/"+p)
	var op logical.Operation = logical.UpdateOperation
	if exists == nil {
		op = logical.CreateOperation
	}
	m.send(op, "static-roles/"+p, data)
}

func (m *statefulModel) creds(p string) {
	resp, err := m.do(logical.ReadOperation, "creds/"+p, nil)
	if err != nil || resp == nil || resp.IsError() || resp.Secret == nil {
		return
	}
	tok, _ := resp.Data["access_token"].(string)
	m.h.Secrets = append(m.h.Secrets, tok)
	now := m.h.Clock.Now()
	m.leases = append(m.leases, &statefulLease{resp: resp, provider: p, token: tok, issued: now, ends: now.Add(resp.Secret.TTL)})
}

func (m *statefulModel) lease(t *rapid.T) (int, *statefulLease) {
	if len(m.leases) == 0 {
		t.Skip("no lease")
	}
	i := rapid.IntRange(0, len(m.leases)-1).Draw(t, "lease")
	return i, m.leases[i]
}

func (m *statefulModel) renew(t *rapid.T) {
	_, l := m.lease(t)
	s := *l.resp.Secret
	s.IssueTime = l.issued
	resp, err := m.h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.RenewOperation,
		Path: "creds/" + l.provider, Secret: &s, Storage: m.h.Storage})
	m.answerClean("renew", resp, err)
	if err == nil && resp != nil && !resp.IsError() && resp.Secret != nil {
		l.ends = m.h.Clock.Now().Add(resp.Secret.TTL)
	}
}

// revokeLease revokes a lease as Vault does, and forgets it once that
// succeeded; a failed revoke is retried by Vault, so the lease stays.
func (m *statefulModel) revokeLease(i int) {
	l := m.leases[i]
	s := *l.resp.Secret
	resp, err := m.h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.RevokeOperation,
		Path: "creds/" + l.provider, Secret: &s, Storage: m.h.Storage})
	m.answerClean("revoke", resp, err)
	if err == nil && (resp == nil || !resp.IsError()) {
		m.leases = slices.Delete(m.leases, i, i+1)
	}
}

func (m *statefulModel) revoke(t *rapid.T) {
	i, _ := m.lease(t)
	m.revokeLease(i)
}

// invalidate tells the mount a key changed, as a standby hears of a
// write on the active node.
func (m *statefulModel) invalidate(t *rapid.T, p string) {
	key := rapid.SampledFrom([]string{"config/", "roles/", "static-roles/", "static-tokens/"}).Draw(t, "prefix") + p
	m.h.B.InvalidateKey(context.Background(), key)
}

// replicatedDelete deletes a static role on another node of the cluster
// (a second mount on the same storage), then tells this mount of the keys
// it changed, as replication does. static-creds must not serve the
// deleted role's token afterwards.
func (m *statefulModel) replicatedDelete(t *rapid.T, p string) {
	ctx := context.Background()
	if e, _ := m.h.Storage.Get(ctx, "static-tokens/"+p); e == nil {
		t.Skip("no static token")
	}
	// This node serves the token first, so it has it in memory.
	m.send(logical.ReadOperation, "static-creds/"+p, nil)
	other := m.otherNode()
	defer other.Cleanup(ctx)
	resp, err := other.HandleRequest(ctx, &logical.Request{Operation: logical.DeleteOperation, Path: "static-roles/" + p, Storage: m.h.Storage})
	m.answerClean("delete on another node", resp, err)
	if err != nil || resp != nil && resp.IsError() {
		return
	}
	for _, k := range []string{"static-roles/" + p, "static-tokens/" + p} {
		m.h.B.InvalidateKey(ctx, k)
	}
	resp, err = m.do(logical.ReadOperation, "static-creds/"+p, nil)
	if err == nil && resp != nil && !resp.IsError() {
		t.Fatalf("static-creds/%s served a token after its role was deleted on another node", p)
	}
}

// otherNode is a second mount on the same storage.
func (m *statefulModel) otherNode() logical.Backend { return m.h.NewNode() }

// restart builds a new mount on the same storage; the old one is cleaned
// up while the emulator holds one of its upstream calls open.
func (m *statefulModel) restart(t *rapid.T) {
	old := m.h.B
	done := make(chan struct{})
	go func() {
		old.Cleanup(context.Background())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Cleanup did not return")
	}
	m.h.Restart()
}

// failedStorage runs one write-heavy operation on a storage whose writes
// under one prefix fail.
func (m *statefulModel) failedStorage(t *rapid.T, p string) {
	prefix := rapid.SampledFrom([]string{"tokens/", "static-tokens/", "wal/", "config/", "roles/"}).Draw(t, "failing prefix")
	broken := &plugintest.FlakyStorage{Storage: m.h.Storage, Prefix: prefix, Op: "put", N: 1}
	switch rapid.IntRange(0, 2).Draw(t, "operation") {
	case 0:
		resp, err := m.doOn(broken, logical.ReadOperation, "creds/"+p, nil)
		if err == nil && resp != nil && !resp.IsError() && resp.Secret != nil {
			tok, _ := resp.Data["access_token"].(string)
			m.h.Secrets = append(m.h.Secrets, tok)
			now := m.h.Clock.Now()
			m.leases = append(m.leases, &statefulLease{resp: resp, provider: p, token: tok, issued: now, ends: now.Add(resp.Secret.TTL)})
		}
	case 1:
		_, _ = m.doOn(broken, logical.UpdateOperation, "rotate-role/"+p, nil)
	default:
		_, _ = m.doOn(broken, logical.ReadOperation, "static-creds/"+p, nil)
	}
}

// fault queues one upstream fault on the provider's token service.
func (m *statefulModel) fault(t *rapid.T, p string) {
	prefix := map[string]string{"cloud": "/api/", "cdp": "/token", "oauth2": "/oauth2/"}[p]
	kind := rapid.IntRange(0, 5).Draw(t, "fault")
	f := emulator.Fault{PathPrefix: prefix, Times: rapid.IntRange(1, 3).Draw(t, "times")}
	switch kind {
	case 0:
		f.Status = http.StatusServiceUnavailable
	case 1:
		f.Status, f.RetryAfter = http.StatusTooManyRequests, "0"
	case 2:
		f.Delay, f.Times = 1500*time.Millisecond, 1 // past request_timeout
	case 3:
		f.Lose = true
	case 4:
		f.Status, f.Handled = http.StatusBadGateway, true
	default:
		// A success whose body cannot be read, the work done.
		f.Body, f.Handled = "{not json", true
	}
	if kind >= 3 {
		m.lossy[p] += f.Times
	}
	m.h.Emu.InjectFault(f)
}

// advance moves the clock, and revokes the leases that ended, as Vault's
// expiration does.
func (m *statefulModel) advance(t *rapid.T) {
	d := rapid.SampledFrom([]time.Duration{time.Second, 30 * time.Second, 5 * time.Minute, time.Hour, 3 * time.Hour}).Draw(t, "advance")
	m.h.Clock.Advance(d)
	now := m.h.Clock.Now()
	for i := len(m.leases) - 1; i >= 0; i-- {
		if !now.Before(m.leases[i].ends) {
			m.revokeLease(i)
		}
	}
}

func (m *statefulModel) periodic() {
	_ = m.h.B.PeriodicFunc(context.Background(), &logical.Request{Storage: m.h.Storage})
	m.rollback()
}

func (m *statefulModel) rollback() {
	_, _ = m.h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.RollbackOperation,
		Storage: m.h.Storage, Data: map[string]any{"immediate": true}})
}

// check holds the invariants after every step.
func (m *statefulModel) check() {
	if strings.Contains(m.h.Logs.String(), "recovered from a panic") {
		m.rt.Fatalf("a panic was recovered:\n%s", m.h.Logs.String())
	}
	held := m.held()
	for _, svc := range []string{"cdp", "oauth2"} {
		var stray int
		for _, tok := range m.h.Emu.LiveTokens(svc) {
			if svc == "cdp" && tok.Value == m.h.Emu.CDPInitialToken(tok.ClientID) {
				continue
			}
			if !held[tok.Value] {
				stray++
			}
		}
		if stray > m.lossy[svc] {
			m.rt.Fatalf("%d live %s tokens are held by no lease, static role or WAL entry (faults may have cut off %d)",
				stray, svc, m.lossy[svc])
		}
		// The plugin counts each token whose answer it lost until the
		// token is dead: oauth2 in lost-token records, cdp in held records
		// that take a slot of max_tokens.
		if stray > 0 {
			if n := m.lostCounted(svc); stray > n {
				m.rt.Fatalf("%d live %s tokens are held by nothing, and the plugin counts %d lost", stray, svc, n)
			}
		}
	}
	m.cachesAgree()
}

// lostCounted counts the lost tokens the plugin keeps records of, live:
// oauth2's lost-token records (which outlive a delete of the config), and
// cdp's held records of lost creates.
func (m *statefulModel) lostCounted(svc string) int {
	ctx := context.Background()
	prefix, lostOnly := "lost-tokens/oauth2/", false
	if svc == "cdp" {
		prefix, lostOnly = "tokens/cdp/", true
	}
	ids, _ := m.h.Storage.List(ctx, prefix)
	n := 0
	for _, id := range ids {
		e, _ := m.h.Storage.Get(ctx, prefix+id)
		if e == nil {
			continue
		}
		var rec struct {
			ExpiresAt time.Time `json:"expires_at"`
			Lost      bool      `json:"lost"`
		}
		if json.Unmarshal(e.Value, &rec) == nil && m.h.Clock.Now().Before(rec.ExpiresAt) && (rec.Lost || !lostOnly) {
			n++
		}
	}
	return n
}

// held is every token the model's leases, the static roles (current and
// retired) and the WAL entries hold.
func (m *statefulModel) held() map[string]bool {
	ctx := context.Background()
	held := map[string]bool{}
	for _, l := range m.leases {
		held[l.token] = true
	}
	names, _ := m.h.Storage.List(ctx, "static-tokens/")
	for _, n := range names {
		e, _ := m.h.Storage.Get(ctx, "static-tokens/"+n)
		if e == nil {
			continue
		}
		var st struct {
			AccessToken string `json:"access_token"`
			Retired     []struct {
				AccessToken string `json:"access_token"`
			} `json:"retired"`
		}
		_ = json.Unmarshal(e.Value, &st)
		held[st.AccessToken] = true
		for _, r := range st.Retired {
			held[r.AccessToken] = true
		}
	}
	ids, _ := framework.ListWAL(ctx, m.h.Storage)
	for _, id := range ids {
		w, _ := framework.GetWAL(ctx, m.h.Storage, id)
		if w == nil {
			continue
		}
		if d, ok := w.Data.(map[string]any); ok {
			if tok, ok := d["token"].(string); ok {
				held[tok] = true
			}
		}
	}
	return held
}

// cachesAgree compares what the mount serves from memory with what a
// fresh mount reads from storage.
func (m *statefulModel) cachesAgree() {
	fresh := m.otherNode()
	defer fresh.Cleanup(context.Background())
	for _, p := range statefulProviders {
		for _, path := range []string{"config/" + p, "roles/" + p, "static-roles/" + p} {
			req := func() *logical.Request {
				return &logical.Request{Operation: logical.ReadOperation, Path: path, Storage: m.h.Storage}
			}
			a, errA := m.h.B.HandleRequest(context.Background(), req())
			b, errB := fresh.HandleRequest(context.Background(), req())
			if fmt.Sprint(a, errA) != fmt.Sprint(b, errB) {
				m.rt.Fatalf("%s: the mount serves %v %v, storage holds %v %v", path, a, errA, b, errB)
			}
		}
		// static-creds serves the stored token.
		resp, err := m.h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation,
			Path: "static-creds/" + p, Storage: &plugintest.ReadOnlyStorage{Storage: m.h.Storage}})
		if err != nil || resp == nil || resp.IsError() {
			continue
		}
		e, _ := m.h.Storage.Get(context.Background(), "static-tokens/"+p)
		var st struct {
			AccessToken string `json:"access_token"`
		}
		if e != nil {
			_ = json.Unmarshal(e.Value, &st)
		}
		if resp.Data["access_token"] != st.AccessToken {
			m.rt.Fatalf("static-creds/%s serves a token storage does not hold", p)
		}
	}
}
