package backend_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// TestReadOnlyNodeCallsNothingUpstream: on a plugintest.Node that cannot write, every
// operation with an upstream side effect stops with logical.ErrReadOnly
// (so Vault replays it on the active plugintest.Node) before any upstream call; the
// replay then does it exactly once, and a user authorization survives.
func TestReadOnlyNodeCallsNothingUpstream(t *testing.T) {
	states := map[string]consts.ReplicationState{
		"performance standby":   consts.ReplicationPerformanceStandby,
		"performance secondary": consts.ReplicationPerformanceSecondary,
	}
	type scenario struct {
		setup func(h *plugintest.Harness) (req func() *logical.Request, check func(h *plugintest.Harness, resp *logical.Response))
	}
	credsOf := func(role string) func() *logical.Request {
		return func() *logical.Request {
			return &logical.Request{Operation: logical.ReadOperation, Path: "creds/" + role}
		}
	}
	liveAfter := func(service string, want int) func(h *plugintest.Harness, resp *logical.Response) {
		return func(h *plugintest.Harness, resp *logical.Response) {
			if n := len(h.Emu.LiveTokens(service)); n != want {
				h.T.Errorf("%d live %s tokens after the replay, want %d", n, service, want)
			}
		}
	}
	scenarios := map[string]scenario{
		"cloud creds": {func(h *plugintest.Harness) (func() *logical.Request, func(*plugintest.Harness, *logical.Response)) {
			h.CloudConfig("c", nil)
			h.MustWrite("roles/r", map[string]any{"config": "c"})
			return credsOf("r"), func(h *plugintest.Harness, resp *logical.Response) {
				if !h.Emu.TokenLive(resp.Data["access_token"].(string)) {
					h.T.Error("the replayed read's token does not work")
				}
			}
		}},
		"cdp creds": {func(h *plugintest.Harness) (func() *logical.Request, func(*plugintest.Harness, *logical.Response)) {
			h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
			return credsOf("sync"), liveAfter("cdp", 2) // the user's own token, and the read's
		}},
		"acronis creds": {func(h *plugintest.Harness) (func() *logical.Request, func(*plugintest.Harness, *logical.Response)) {
			h.AcronisSetup(nil)
			return credsOf("backup"), liveAfter("acronis", 1)
		}},
		"oauth2 creds with revocation": {func(h *plugintest.Harness) (func() *logical.Request, func(*plugintest.Harness, *logical.Response)) {
			h.OAuth2Client()
			h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"revocation_url": h.Emu.URL() + "/oauth2/revoke"}))
			h.MustWrite("roles/r", map[string]any{"config": "gen"})
			return credsOf("r"), liveAfter("oauth2", 1)
		}},
		"source client credentials": {func(h *plugintest.Harness) (func() *logical.Request, func(*plugintest.Harness, *logical.Response)) {
			h.SourceSetup(map[string]any{"revocation_url": h.Emu.URL() + "/oauth/revoke"})
			h.MustWrite("roles/editor", map[string]any{"config": "site", "scopes": "content:read"})
			return credsOf("editor"), func(h *plugintest.Harness, resp *logical.Response) {
				if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/jsonapi", resp.Data["access_token"].(string)) != http.StatusOK {
					h.T.Error("the replayed read's token does not work")
				}
			}
		}},
		"source user authorization": {func(h *plugintest.Harness) (func() *logical.Request, func(*plugintest.Harness, *logical.Response)) {
			h.SourceSetup(nil)
			h.CodeRole()
			if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
				h.T.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
			}
			return credsOf("user"), func(h *plugintest.Harness, resp *logical.Response) {
				// The authorization survived the standby: it mints again.
				next := h.MustRead("creds/user")
				if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/jsonapi", next.Data["access_token"].(string)) != http.StatusOK {
					h.T.Error("the role's authorization did not survive")
				}
			}
		}},
		"config write with verify": {func(h *plugintest.Harness) (func() *logical.Request, func(*plugintest.Harness, *logical.Response)) {
			return func() *logical.Request {
				return &logical.Request{Operation: logical.CreateOperation, Path: "config/c", Data: h.CloudConfigData(nil)}
			}, func(h *plugintest.Harness, _ *logical.Response) { h.MustRead("config/c") }
		}},
		"revoke-all": {func(h *plugintest.Harness) (func() *logical.Request, func(*plugintest.Harness, *logical.Response)) {
			h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
			h.MustRead("creds/sync")
			return func() *logical.Request {
				return &logical.Request{Operation: logical.UpdateOperation, Path: "config/cdp/revoke-all"}
			}, liveAfter("cdp", 0)
		}},
		"callback": {func(h *plugintest.Harness) (func() *logical.Request, func(*plugintest.Harness, *logical.Response)) {
			h.SourceSetup(nil)
			h.CodeRole()
			q := h.AuthorizeRole()
			return func() *logical.Request {
					data := map[string]any{}
					for k := range q {
						data[k] = q.Get(k)
					}
					return &logical.Request{Operation: logical.ReadOperation, Path: "callback", Data: data, Unauthenticated: true}
				}, func(h *plugintest.Harness, _ *logical.Response) {
					if h.MustRead("roles/user").Data["authorized"] != true {
						h.T.Error("the replayed callback did not authorize the role")
					}
				}
		}},
	}
	leaseOps := map[string]logical.Operation{"lease renew": logical.RenewOperation, "lease revoke": logical.RevokeOperation}

	for stateName, state := range states {
		for name, sc := range scenarios {
			t.Run(stateName+"/"+name, func(t *testing.T) {
				h := plugintest.New(t)
				req, check := sc.setup(h)
				standby := h.Node(state, false)
				before := h.Emu.Requests("")
				_, err := standby.Handle(req())
				if !errors.Is(err, logical.ErrReadOnly) {
					t.Fatalf("on the %s: err = %v, want logical.ErrReadOnly so Vault forwards the request", stateName, err)
				}
				if n := h.Emu.Requests("") - before; n != 0 {
					t.Fatalf("the %s made %d upstream calls", stateName, n)
				}
				r := req()
				r.Storage = h.Storage
				resp, err := h.B.HandleRequest(context.Background(), r)
				if err != nil || resp.IsError() {
					t.Fatalf("replayed on the active node: %v %v", err, plugintest.ErrText(resp))
				}
				if resp != nil && resp.Data != nil {
					if tok, ok := resp.Data["access_token"].(string); ok {
						h.Secrets = append(h.Secrets, tok)
					}
				}
				check(h, resp)
			})
		}
		for name, op := range leaseOps {
			t.Run(stateName+"/"+name, func(t *testing.T) {
				h := plugintest.New(t)
				h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
				lease := h.MustRead("creds/sync")
				standby := h.Node(state, false)
				// Near the token's expiry, where a renew extends upstream.
				h.Clock.Advance(180*24*time.Hour - 30*time.Minute)
				before := h.Emu.Requests("")
				s := *lease.Secret
				s.IssueTime = h.Clock.Now()
				_, err := standby.Handle(&logical.Request{Operation: op, Path: "creds/sync", Secret: &s})
				if !errors.Is(err, logical.ErrReadOnly) {
					t.Fatalf("err = %v, want logical.ErrReadOnly", err)
				}
				if n := h.Emu.Requests("") - before; n != 0 {
					t.Fatalf("%d upstream calls", n)
				}
				if !h.Emu.TokenLive(lease.Data["access_token"].(string)) {
					t.Error("the token died on a plugintest.Node that cannot write")
				}
			})
		}
	}

	// A local mount on a performance secondary can write: it serves.
	t.Run("local mount on a performance secondary", func(t *testing.T) {
		h := plugintest.New(t)
		h.CloudConfig("c", nil)
		h.MustWrite("roles/r", map[string]any{"config": "c"})
		local := h.Node(consts.ReplicationPerformanceSecondary, true)
		resp, err := local.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "creds/r"})
		if err != nil || resp.IsError() {
			t.Fatalf("%v %v", err, plugintest.ErrText(resp))
		}
		h.Secrets = append(h.Secrets, resp.Data["access_token"].(string))
	})
}

// TestReadOnlyNodeRollsBackNothing: the WAL rollback of a plugintest.Node that
// cannot write keeps the entry and calls nothing upstream.
func TestReadOnlyNodeRollsBackNothing(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
	lease := h.MustRead("creds/sync")
	tok := lease.Data["access_token"].(string)
	standby := h.Node(consts.ReplicationPerformanceStandby, false)
	before := h.Emu.Requests("")
	err := standby.B.Env().WALRollback(context.Background(), &logical.Request{Storage: standby.Storage}, "upstream_token",
		map[string]any{"config": "cdp", "token": tok})
	if !errors.Is(err, logical.ErrReadOnly) {
		t.Fatalf("err = %v, want logical.ErrReadOnly (entry kept for the active plugintest.Node)", err)
	}
	if h.Emu.Requests("")-before != 0 || !h.Emu.TokenLive(tok) {
		t.Error("the standby's rollback acted upstream")
	}
}

// TestWALIsLocalAndSealWrapped: WAL entries hold tokens: they are
// seal-wrapped, and local to the cluster that wrote them.
func TestWALIsLocalAndSealWrapped(t *testing.T) {
	h := plugintest.New(t)
	sp := h.B.SpecialPaths()
	if !slices.Contains(sp.SealWrapStorage, framework.WALPrefix) || !slices.Contains(sp.LocalStorage, framework.WALPrefix) {
		t.Errorf("seal-wrapped %v, local %v: both must hold %s", sp.SealWrapStorage, sp.LocalStorage, framework.WALPrefix)
	}
}

// walOrder records, at each WAL write, how many token creates the
// emulator had seen.
type walOrder struct {
	logical.Storage
	h       *plugintest.Harness
	creates []int
}

func (w *walOrder) Put(ctx context.Context, e *logical.StorageEntry) error {
	if strings.HasPrefix(e.Key, framework.WALPrefix) {
		w.creates = append(w.creates, w.h.Emu.Requests("/token"))
	}
	return w.Storage.Put(ctx, e)
}

// TestWALWrittenBeforeTheCreate: the WAL entry exists before the upstream
// create, so a plugintest.Crash between create and lease has an entry to roll back.
func TestWALWrittenBeforeTheCreate(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
	before := h.Emu.Requests("/token")
	w := &walOrder{Storage: h.Storage, h: h}
	resp, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "creds/sync", Storage: w})
	if err != nil || resp.IsError() {
		t.Fatalf("%v %v", err, plugintest.ErrText(resp))
	}
	h.Secrets = append(h.Secrets, resp.Data["access_token"].(string))
	// One call precedes the create: the retrieve that lets a create whose
	// answer is lost be found.
	if len(w.creates) == 0 || w.creates[0] != before+1 {
		t.Errorf("WAL writes saw %v calls, want the first after the retrieve and before the create (%d)", w.creates, before+1)
	}
	if wal, _ := framework.ListWAL(context.Background(), h.Storage); len(wal) != 0 {
		t.Errorf("%d WAL entries left after a good read", len(wal))
	}
	// The entry without a token (a create whose answer never came) rolls
	// back to a warning and nothing upstream.
	if err := h.B.Env().WALRollback(context.Background(), &logical.Request{Storage: h.Storage}, "upstream_token",
		map[string]any{"config": "cdp", "role": "sync"}); err != nil {
		t.Errorf("rollback of an entry without a token: %v", err)
	}
}

// TestExpiredTokenRecordsFreeTheirSlot: a lease that ended without the
// backend's revoke (vault lease revoke -force, a lease Vault failed to
// store) holds its CDP slot only until the token expires.
func TestExpiredTokenRecordsFreeTheirSlot(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(1, h.Clock.Now().Add(1000*24*time.Hour))
	h.MustRead("creds/sync") // its lease is then forgotten, as -force does
	if _, ok := plugintest.BadRequest(h.Read("creds/sync")); !ok {
		t.Fatal("a second live token should pass max_tokens=1")
	}
	h.Clock.Advance(181 * 24 * time.Hour)
	h.MustRead("creds/sync")
	keys, err := h.Storage.List(context.Background(), "tokens/cdp/")
	if err != nil || len(keys) != 1 {
		t.Errorf("token records %v (%v): the expired one should be dropped", keys, err)
	}
}

// TestRevokeGoesToTheIssuer: a lease's revoke is done only at the issuer
// that minted its token. Issuer changes and deletes are refused while
// such tokens live; a config changed behind the plugin's back makes the
// revoke fail (Vault retries) instead of reporting a live token revoked.
func TestRevokeGoesToTheIssuer(t *testing.T) {
	type tc struct {
		setup   func(h *plugintest.Harness) (config, role, service string)
		changes map[string]any // one issuer field each, with the secret
		secret  map[string]any
	}
	cases := map[string]tc{
		"cdp": {func(h *plugintest.Harness) (string, string, string) {
			h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
			return "cdp", "sync", "cdp"
		}, map[string]any{"base_url": "https://auth.eu.agilone.com", "username": "tracker_other"}, map[string]any{"password": plugintest.CDPPass}},
		"acronis": {func(h *plugintest.Harness) (string, string, string) {
			h.AcronisSetup(nil)
			return "acr", "backup", "acronis"
		}, map[string]any{"base_url": "https://eu8-cloud.acronis.com", "client_id": "other-client",
			"revocation_url": "https://eu8-cloud.acronis.com/api/2/idp/revoke_token", "token_url": "https://eu8-cloud.acronis.com/api/2/idp/token"},
			map[string]any{"client_secret": plugintest.AcronisSecret}},
		"oauth2 with revocation": {func(h *plugintest.Harness) (string, string, string) {
			h.OAuth2Client()
			h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"revocation_url": h.Emu.URL() + "/oauth2/revoke"}))
			h.MustWrite("roles/r", map[string]any{"config": "gen"})
			return "gen", "r", "oauth2"
		}, map[string]any{"token_url": "https://idp.example.com/token", "revocation_url": "https://idp.example.com/revoke",
			"client_id": "other-client"}, map[string]any{"client_secret": plugintest.OAuthSecret}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			h := plugintest.New(t)
			cfgName, role, service := c.setup(h)
			lease := h.MustRead("creds/" + role)
			tok := lease.Data["access_token"].(string)
			before := h.MustRead("config/" + cfgName).Data

			for field, v := range c.changes {
				data := map[string]any{field: v, "verify": false}
				for k, s := range c.secret {
					data[k] = s
				}
				msg, ok := plugintest.BadRequest(h.Write("config/"+cfgName, data))
				if !ok || !strings.Contains(msg, field) || !strings.Contains(msg, "1 revocable token") ||
					!strings.Contains(msg, "vault lease revoke -prefix") {
					t.Errorf("changing %s with a live lease: %s", field, msg)
				}
			}
			if after := h.MustRead("config/" + cfgName).Data; fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("a refused write changed the config:\n%v\n%v", before, after)
			}
			h.MustWrite("config/"+cfgName, map[string]any{"request_timeout": 20}) // not an issuer field
			h.MustDelete("roles/" + role)
			if msg, ok := plugintest.BadRequest(h.Do(logical.DeleteOperation, "config/"+cfgName, nil)); !ok || !strings.Contains(msg, "1 live") {
				t.Errorf("deleting the config with a live lease: %s", msg)
			}

			// Changed behind the plugin's back (storage only): the revoke
			// does not report the live token revoked.
			raw, _ := h.Storage.Get(context.Background(), "config/"+cfgName)
			var field string
			for f := range c.changes {
				field = f
				break
			}
			var stored map[string]any
			if err := json.Unmarshal(raw.Value, &stored); err != nil {
				t.Fatal(err)
			}
			stored[field] = c.changes[field]
			changed, _ := logical.StorageEntryJSON(raw.Key, stored)
			if err := h.Storage.Put(context.Background(), changed); err != nil {
				t.Fatal(err)
			}
			h.B.InvalidateKey(context.Background(), raw.Key)
			if _, err := h.Revoke(lease); err == nil {
				t.Errorf("revoke reported done after %s changed", field)
			}
			if !h.Emu.TokenLive(tok) {
				t.Fatal("the token died at the wrong issuer?")
			}
			if err := h.Storage.Put(context.Background(), raw); err != nil {
				t.Fatal(err)
			}
			h.B.InvalidateKey(context.Background(), raw.Key)
			if _, err := h.Revoke(lease); err != nil {
				t.Fatalf("revoke at the issuer: %v", err)
			}
			if h.Emu.TokenLive(tok) {
				t.Errorf("the %s token lives after its lease's revoke", service)
			}
			// Nothing live: the change and the delete go through.
			field0 := map[string]any{"verify": false}
			for k, s := range c.secret {
				field0[k] = s
			}
			field0[field] = c.changes[field]
			h.MustWrite("config/"+cfgName, field0)
			if resp, err := h.Do(logical.DeleteOperation, "config/"+cfgName, nil); err != nil || resp.IsError() {
				t.Errorf("delete: %v %v", err, plugintest.ErrText(resp))
			}
		})
	}

	t.Run("deleted config", func(t *testing.T) {
		h := plugintest.New(t)
		h.AcronisSetup(nil)
		lease := h.MustRead("creds/backup")
		tok := lease.Data["access_token"].(string)
		if err := h.Storage.Delete(context.Background(), "config/acr"); err != nil {
			t.Fatal(err)
		}
		h.B.InvalidateKey(context.Background(), "config/acr")
		if _, err := h.Revoke(lease); err == nil || !strings.Contains(err.Error(), "deleted") {
			t.Errorf("revoke of a lease whose config is gone: %v", err)
		}
		if !h.Emu.TokenLive(tok) {
			t.Error("?")
		}
		// At the token's expiry the revoke has nothing left to do.
		h.Clock.Advance(3 * time.Hour)
		if _, err := h.Revoke(lease); err != nil {
			t.Errorf("revoke after expiry: %v", err)
		}
	})
}

// TestDestinationChangeNeedsTheSecret: an update that points a config at a
// new destination must carry the secret again; nothing reaches the new
// destination otherwise.
func TestDestinationChangeNeedsTheSecret(t *testing.T) {
	var hits atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer trap.Close()
	type tc struct {
		setup  func(h *plugintest.Harness) string
		secret string
		fields []string
	}
	cases := map[string]tc{
		"cloud": {func(h *plugintest.Harness) string { h.CloudConfig("c", nil); return "c" }, "client_secret", []string{"token_url", "api_url"}},
		"source": {func(h *plugintest.Harness) string { h.SourceSetup(nil); return "site" }, "client_secret",
			[]string{"base_url", "token_url", "authorize_url", "revocation_url"}},
		"cdp": {func(h *plugintest.Harness) string {
			h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
			h.MustDelete("roles/sync")
			return "cdp"
		}, "password", []string{"base_url", "api_url"}},
		"acronis": {func(h *plugintest.Harness) string {
			h.AcronisSetup(nil)
			return "acr"
		}, "client_secret", []string{"base_url", "token_url", "revocation_url"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			h := plugintest.New(t)
			cfg := c.setup(h)
			for _, f := range c.fields {
				hits.Store(0)
				before := h.MustRead("config/" + cfg).Data
				msg, ok := plugintest.BadRequest(h.Write("config/"+cfg, map[string]any{f: trap.URL + "/x"}))
				if !ok || !strings.Contains(msg, c.secret) || !strings.Contains(msg, f) {
					t.Errorf("%s changed without %s: %s", f, c.secret, msg)
				}
				if hits.Load() != 0 {
					t.Errorf("%s: the new destination received %d requests", f, hits.Load())
				}
				if after := h.MustRead("config/" + cfg).Data; fmt.Sprint(after) != fmt.Sprint(before) {
					t.Errorf("%s: a refused write changed the config", f)
				}
			}
		})
	}
	t.Run("ca_cert", func(t *testing.T) {
		h := plugintest.New(t)
		h.CloudConfig("c", nil)
		msg, ok := plugintest.BadRequest(h.Write("config/c", map[string]any{"ca_cert": testCAPEM}))
		if !ok || !strings.Contains(msg, "client_secret") || !strings.Contains(msg, "ca_cert") {
			t.Errorf("ca_cert changed without client_secret: %s", msg)
		}
		h.MustWrite("config/c", map[string]any{"ca_cert": testCAPEM, "client_secret": plugintest.CloudSecret})
	})
}

// testCAPEM is a throw-away self-signed certificate.
var testCAPEM = func() string {
	s := httptest.NewTLSServer(http.NotFoundHandler())
	defer s.Close()
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
}()

// TestSmallerHoles: name lengths, pending states per role, a config of a
// provider this version does not know.
func TestSmallerHoles(t *testing.T) {
	h := plugintest.New(t)
	long := strings.Repeat("n", 129)
	if msg, ok := plugintest.BadRequest(h.Write("config/"+long, h.CloudConfigData(nil))); !ok || !strings.Contains(msg, "128") {
		t.Errorf("129-character config name: %s", msg)
	}
	if h.Stored("config/" + long) {
		t.Error("stored")
	}
	h.MustWrite("config/"+strings.Repeat("n", 128), h.CloudConfigData(nil))
	if msg, ok := plugintest.BadRequest(h.Write("roles/"+long, map[string]any{"config": "c"})); !ok || !strings.Contains(msg, "128") {
		t.Errorf("129-character role name: %s", msg)
	}

	h.SourceSetup(nil)
	h.CodeRole()
	var states []string
	for range 21 {
		states = append(states, h.MustWrite("authorize/user", nil).Data["state"].(string))
		h.Clock.Advance(time.Second)
	}
	keys, _ := h.Storage.List(context.Background(), "oauth-state/")
	if len(keys) != 20 {
		t.Errorf("%d pending states for one role, want 20", len(keys))
	}
	if msg, ok := plugintest.BadRequest(h.Callback(map[string][]string{"state": {states[0]}, "code": {"x"}}, logical.ReadOperation)); !ok ||
		!strings.Contains(msg, "unknown") {
		t.Errorf("the oldest state should be gone: %s", msg)
	}

	entry, _ := logical.StorageEntryJSON("config/future", map[string]any{"provider": "acquia-next", "client_id": "x"})
	_ = h.Storage.Put(context.Background(), entry)
	h.MustWrite("roles/f", map[string]any{"config": strings.Repeat("n", 128)})
	role, _ := logical.StorageEntryJSON("roles/f", map[string]any{"config": "future", "grant_type": "client_credentials"})
	_ = h.Storage.Put(context.Background(), role)
	h.B.InvalidateKey(context.Background(), "roles/f")
	for _, p := range []string{"creds/f", "config/future"} {
		_, err := h.Read(p)
		if err == nil || !strings.Contains(err.Error(), `"acquia-next"`) {
			t.Errorf("%s with an unknown provider: %v", p, err)
		}
	}
}

// TestGuardAloneStopsUpstreamCalls: with Vault's forwarding out of the
// picture (no replication state, so the framework forwards nothing), the
// handlers' own guard still stops every upstream call where storage cannot
// be written.
func TestGuardAloneStopsUpstreamCalls(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(map[string]any{"revocation_url": h.Emu.URL() + "/oauth/revoke"})
	h.CodeRole()
	q := h.AuthorizeRole()
	h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
	lease := h.MustRead("creds/sync")
	h.MustWrite("static-roles/feed", map[string]any{"config": "cdp"})
	n := h.Node(0, false)
	n.Storage = plugintest.ReadOnlyStorage{Storage: h.Storage}
	n.B.Env().Writable = func() bool { return false }
	cb := map[string]any{}
	for k := range q {
		cb[k] = q.Get(k)
	}
	s := *lease.Secret
	s.IssueTime = h.Clock.Now()
	// A lease whose token ends in 30 minutes: its renew would extend it.
	s.InternalData = map[string]any{}
	for k, v := range lease.Secret.InternalData {
		s.InternalData[k] = v
	}
	s.InternalData["expires_at"] = h.Clock.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339Nano)
	reqs := map[string]*logical.Request{
		"creds":       {Operation: logical.ReadOperation, Path: "creds/sync"},
		"config":      {Operation: logical.UpdateOperation, Path: "config/cdp", Data: map[string]any{"password": plugintest.CDPPass}},
		"revoke-all":  {Operation: logical.UpdateOperation, Path: "config/cdp/revoke-all"},
		"callback":    {Operation: logical.ReadOperation, Path: "callback", Data: cb, Unauthenticated: true},
		"role write":  {Operation: logical.UpdateOperation, Path: "roles/user", Data: map[string]any{"grant_type": "client_credentials", "redirect_url": ""}},
		"role delete": {Operation: logical.DeleteOperation, Path: "roles/user"},
		"renew":       {Operation: logical.RenewOperation, Path: "creds/sync", Secret: &s},
		"revoke":      {Operation: logical.RevokeOperation, Path: "creds/sync", Secret: &s},
		"static role": {Operation: logical.CreateOperation, Path: "static-roles/other", Data: map[string]any{"config": "cdp"}},
		"rotate-role": {Operation: logical.UpdateOperation, Path: "rotate-role/feed"},
		"static del":  {Operation: logical.DeleteOperation, Path: "static-roles/feed"},
		"rotate root": {Operation: logical.UpdateOperation, Path: "config/cdp/rotate"},
	}
	for name, req := range reqs {
		before := h.Emu.Requests("")
		_, err := n.Handle(req)
		if !errors.Is(err, logical.ErrReadOnly) {
			t.Errorf("%s: err = %v, want logical.ErrReadOnly", name, err)
		}
		if d := h.Emu.Requests("") - before; d != 0 {
			t.Errorf("%s: %d upstream calls", name, d)
		}
	}
	// The periodic function skips too: an expired state stays.
	h.Clock.Advance(time.Hour)
	if err := n.B.Env().PruneStates(context.Background(), &logical.Request{Storage: n.Storage}); err != nil {
		t.Errorf("periodic on a read-only node: %v", err)
	}
	if keys, _ := h.Storage.List(context.Background(), "oauth-state/"); len(keys) == 0 {
		t.Error("the state was pruned (or lost) on a read-only plugintest.Node")
	}
}

// TestForwardedOperations: every operation with an upstream side effect or
// a storage write is marked for Vault to run on the active plugintest.Node.
func TestForwardedOperations(t *testing.T) {
	h := plugintest.New(t)
	want := map[string][]logical.Operation{
		"creds/x":             {logical.ReadOperation},
		"config/x":            {logical.CreateOperation, logical.UpdateOperation, logical.DeleteOperation},
		"config/x/revoke-all": {logical.UpdateOperation},
		"roles/x":             {logical.CreateOperation, logical.UpdateOperation, logical.DeleteOperation},
		"authorize/x":         {logical.UpdateOperation},
		"callback":            {logical.ReadOperation, logical.UpdateOperation},
		"static-roles/x":      {logical.CreateOperation, logical.UpdateOperation, logical.DeleteOperation},
		"rotate-role/x":       {logical.UpdateOperation},
		"config/x/rotate":     {logical.UpdateOperation},
	}
	for path, ops := range want {
		p := h.B.Route(path)
		if p == nil {
			t.Fatalf("no path for %s", path)
		}
		for _, op := range ops {
			po, ok := p.Operations[op].(*framework.PathOperation)
			if !ok || !po.ForwardPerformanceStandby || !po.ForwardPerformanceSecondary {
				t.Errorf("%s %s is not forwarded to the active plugintest.Node", op, path)
			}
		}
	}
}

// TestLegacyLeaseAfterIssuerChange: a lease from before issuers were
// recorded has no issuer and no token record, so the issuer change goes
// through; its revoke then fails instead of reaching the new issuer.
func TestLegacyLeaseAfterIssuerChange(t *testing.T) {
	h := plugintest.New(t)
	h.AcronisSetup(nil)
	lease := h.MustRead("creds/backup")
	tok := lease.Data["access_token"].(string)
	delete(lease.Secret.InternalData, "issuer")
	keys, _ := h.Storage.List(context.Background(), "tokens/acr/")
	for _, k := range keys {
		_ = h.Storage.Delete(context.Background(), "tokens/acr/"+k)
		h.B.InvalidateKey(context.Background(), "tokens/acr/"+k)
	}
	var hits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer other.Close()
	h.Clock.Advance(time.Second)
	h.MustWrite("config/acr", map[string]any{"revocation_url": other.URL + "/revoke", "client_secret": plugintest.AcronisSecret, "verify": false})
	if _, err := h.Revoke(lease); err == nil {
		t.Error("a legacy lease's revoke was reported done at the new issuer")
	}
	if hits.Load() != 0 || !h.Emu.TokenLive(tok) {
		t.Errorf("the new issuer got %d calls; token live: %v", hits.Load(), h.Emu.TokenLive(tok))
	}
}

// TestIssuerChangeDropsUserAuthorizations: a role's refresh token is never
// sent to another issuer; an issuer change revokes it at the previous one.
func TestIssuerChangeDropsUserAuthorizations(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(map[string]any{"revocation_url": h.Emu.URL() + "/oauth/revoke"})
	h.CodeRole()
	if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
	}
	rt := h.StoredRefreshToken()
	var hits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer other.Close()
	resp := h.MustWrite("config/site", map[string]any{"token_url": other.URL + "/oauth/token", "client_secret": plugintest.SourceSecret, "verify": false})
	if resp == nil || !strings.Contains(strings.Join(resp.Warnings, " "), "role user") {
		t.Errorf("no warning about the dropped authorization: %v", resp)
	}
	if h.Emu.SourceRefreshLive(rt) {
		t.Error("the refresh token lives on at the previous issuer")
	}
	if h.Stored("role-tokens/user") {
		t.Error("the authorization is still stored")
	}
	if _, ok := plugintest.BadRequest(h.Read("creds/user")); !ok || hits.Load() != 0 {
		t.Errorf("creds after the change: want a 400 asking to authorize and no call to the new issuer (%d calls)", hits.Load())
	}

	// An authorization stored before issuers were recorded is not sent to
	// an issuer that changed after it was granted.
	legacy, _ := logical.StorageEntryJSON("role-tokens/user", map[string]any{"config": "site", "refresh_token": "legacy-rt",
		"authorized_at": h.Clock.Now().Add(-time.Hour)})
	_ = h.Storage.Put(context.Background(), legacy)
	if msg, ok := plugintest.BadRequest(h.Read("creds/user")); !ok || !strings.Contains(msg, "another issuer") || hits.Load() != 0 {
		t.Errorf("legacy authorization after an issuer change: %s (%d calls)", msg, hits.Load())
	}
}

// A name longer than any config or role may have is a 400 naming the
// field on every path that takes one, reads included.
func TestEveryPathRefusesOverlongNames(t *testing.T) {
	h := plugintest.New(t)
	long := strings.Repeat("n", 129)
	for _, c := range []struct {
		op   logical.Operation
		path string
	}{
		{logical.ReadOperation, "creds/"},
		{logical.ReadOperation, "static-creds/"},
		{logical.ReadOperation, "roles/"},
		{logical.ReadOperation, "static-roles/"},
		{logical.ReadOperation, "config/"},
		{logical.DeleteOperation, "roles/"},
		{logical.DeleteOperation, "static-roles/"},
		{logical.DeleteOperation, "config/"},
		{logical.UpdateOperation, "rotate-role/"},
		{logical.UpdateOperation, "authorize/"},
	} {
		msg, ok := plugintest.BadRequest(h.Do(c.op, c.path+long, nil))
		if !ok || !strings.HasPrefix(msg, "name:") || !strings.Contains(msg, "128") {
			t.Errorf("%s %s<129 characters>: %s; want a 400 naming name and its limit", c.op, c.path, msg)
		}
	}
	if msg, ok := plugintest.BadRequest(h.Do(logical.ReadOperation, "creds/"+long[:128], nil)); !ok || strings.HasPrefix(msg, "name:") {
		t.Errorf("a 128-character name: %s; want the role's absence", msg)
	}
}

// TestMetricsAndStatusHoldNoSecret: neither a scrape nor a config's status
// holds a secret or a token: not the credentials, not a token read, not a
// secret an upstream echoed in its error code; the logs neither (the
// plugintest.Harness checks them at cleanup).
func TestMetricsAndStatusHoldNoSecret(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/deploy", map[string]any{"config": "c"})
	h.MustRead("creds/deploy")
	h.MustWrite("static-roles/shared", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID, "rotation_period": "60s"})
	h.StaticToken("shared")
	h.CDPSetup(2, h.Clock.Now().Add(365*24*time.Hour))
	lease := h.MustRead("creds/sync")
	if _, err := h.Revoke(lease); err != nil {
		t.Fatal(err)
	}
	h.MustRead("creds/sync")
	// A private_key_jwt config whose server refuses its assertion.
	h.MustWrite("config/jwt", h.OAuth2JWTData(map[string]any{"generate_key": true}))
	h.MustWrite("roles/jwt", map[string]any{"config": "jwt"})
	if resp, err := h.Read("creds/jwt"); err == nil && !resp.IsError() {
		t.Fatal("a key the server does not know minted a token")
	}
	stored, _ := h.Storage.Get(context.Background(), "config/jwt")
	var jwt struct {
		PrivateKey string `json:"private_key"`
	}
	if err := stored.DecodeJSON(&jwt); err != nil || jwt.PrivateKey == "" {
		t.Fatalf("no key stored: %v", err)
	}
	for _, line := range strings.Split(jwt.PrivateKey, "\n") {
		if !strings.HasPrefix(line, "-----") && line != "" {
			h.Secrets = append(h.Secrets, line)
		}
	}
	// An upstream that echoes the secret in its error code, for a read and
	// for a rotation.
	echo := `{"error":"` + plugintest.CloudSecret + `","error_description":"` + plugintest.CloudSecret + `"}`
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/auth/oauth/token", Status: 401, Body: echo, Times: 1})
	if resp, err := h.Read("creds/deploy"); err == nil && !resp.IsError() {
		t.Fatal("the read passed a 401")
	}
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/auth/oauth/token", Status: 401, Body: echo, Times: 1000})
	h.Clock.Advance(61 * time.Second)
	h.RotateDue()
	h.Emu.ClearFaults()

	outputs := map[string]string{"metrics": h.Scrape()}
	for _, c := range []string{"c", "cdp", "jwt"} {
		raw, err := json.Marshal(h.MustRead("config/" + c + "/status").Data)
		if err != nil {
			t.Fatal(err)
		}
		outputs["config/"+c+"/status"] = string(raw)
	}
	for _, p := range []string{"config/jwt", "config/jwt/jwks"} {
		raw, err := json.Marshal(h.MustRead(p).Data)
		if err != nil {
			t.Fatal(err)
		}
		outputs[p] = string(raw)
	}
	if !strings.Contains(outputs["config/c/status"], "[redacted]") {
		t.Errorf("the echoed code is not in the status, redacted: %s", outputs["config/c/status"])
	}
	if len(h.Secrets) < 5 {
		t.Fatalf("only %d secrets and tokens to look for", len(h.Secrets))
	}
	for path, out := range outputs {
		for _, s := range h.Secrets {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("%s holds a secret or token", path)
			}
		}
	}
}

// TestMetricsAndStatusAnswerOnTheNodeAsked: neither path is forwarded or
// unauthenticated; a performance standby, which cannot write, answers both
// itself, with its own counters (it called nothing upstream) and the
// storage gauges every plugintest.Node sees.
func TestMetricsAndStatusAnswerOnTheNodeAsked(t *testing.T) {
	h := plugintest.New(t)
	for _, path := range []string{"metrics", "config/x/status"} {
		p := h.B.Route(path)
		if p == nil {
			t.Fatalf("no path for %s", path)
		}
		po, ok := p.Operations[logical.ReadOperation].(*framework.PathOperation)
		if !ok || po.ForwardPerformanceStandby || po.ForwardPerformanceSecondary {
			t.Errorf("read %s is forwarded", path)
		}
		if slices.Contains(h.B.PathsSpecial.Unauthenticated, path) {
			t.Errorf("%s is unauthenticated", path)
		}
	}
	h.CDPSetup(2, h.Clock.Now().Add(365*24*time.Hour))
	h.MustRead("creds/sync")
	if !strings.Contains(h.Scrape(), "vault_acquia_upstream_requests_total") {
		t.Fatal("the active plugintest.Node counted no upstream request")
	}
	standby := h.Node(consts.ReplicationPerformanceStandby, false)
	resp, err := standby.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "metrics"})
	if err != nil || resp == nil || resp.Data[logical.HTTPStatusCode] != 200 {
		t.Fatalf("standby metrics: %v %v", err, resp)
	}
	body := string(resp.Data[logical.HTTPRawBody].([]byte))
	if strings.Contains(body, "vault_acquia_upstream_requests_total{") {
		t.Error("the standby shows upstream requests it never made")
	}
	if !strings.Contains(body, `vault_acquia_held_tokens{config="cdp",provider="cdp"} 1`) {
		t.Errorf("the standby does not show the tokens held:\n%s", body)
	}
	resp, err = standby.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "config/cdp/status"})
	if err != nil || resp == nil || resp.Data["held_tokens"] != 1 || resp.Data["last_success"] != nil {
		t.Fatalf("standby status: %v %v", err, resp)
	}
}
