package lifecycle_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

func TestCDPConfigValidation(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.AddCDPUser(emulator.CDPUser{Username: plugintest.CDPUser, Password: plugintest.CDPPass})
	h.Secrets = append(h.Secrets, plugintest.CDPPass)
	good := func() map[string]any {
		return map[string]any{"provider": "cdp", "username": plugintest.CDPUser, "password": plugintest.CDPPass, "base_url": h.Emu.URL()}
	}
	for name, tc := range map[string]struct {
		change func(map[string]any)
		field  string
	}{
		"missing password":   {func(d map[string]any) { delete(d, "password") }, "password"},
		"missing username":   {func(d map[string]any) { delete(d, "username") }, "username"},
		"http non-loopback":  {func(d map[string]any) { d["base_url"] = "http://auth.agilone.com" }, "base_url"},
		"max_tokens 0":       {func(d map[string]any) { d["max_tokens"] = 0 }, "max_tokens"},
		"max_tokens -1":      {func(d map[string]any) { d["max_tokens"] = -1 }, "max_tokens"},
		"unknown field":      {func(d map[string]any) { d["tenant"] = "x" }, "tenant"},
		"client_id on cdp":   {func(d map[string]any) { d["client_id"] = "x" }, "client_id"},
		"scopes on cdp":      {func(d map[string]any) { d["scopes"] = "a" }, "scopes"},
		"wrong password":     {func(d map[string]any) { d["password"] = "nope" }, "401"},
		"verify, user holds": {func(d map[string]any) { d["username"] = "ghost" }, "401"},
	} {
		t.Run(name, func(t *testing.T) {
			d := good()
			tc.change(d)
			if msg := h.Refused(t, "config/cdp", d, plugintest.CDPPass); !strings.Contains(msg, tc.field) {
				t.Fatalf("want a 400 naming %s, got %s", tc.field, msg)
			}
		})
	}
	// verify creates nothing upstream.
	h.MustWrite("config/cdp", good())
	if n := len(h.Emu.Tokens("cdp")); n != 1 {
		t.Errorf("verify created %d tokens", n-1)
	}
	d := h.MustRead("config/cdp").Data
	if d["base_url"] != h.Emu.URL() || d["max_tokens"] != 2 || d["username"] != plugintest.CDPUser {
		t.Errorf("read: %#v", d)
	}
	if _, ok := d["password"]; ok {
		t.Error("read shows the password")
	}
}

func TestCDPLeaseLifecycle(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(200*24*time.Hour))
	issued := h.Clock.Now()
	resp := h.MustRead("creds/sync")
	tok := resp.Data["access_token"].(string)
	if !h.Emu.TokenLive(tok) || h.CDPLive() != 1 {
		t.Fatal("the lease's token is not live upstream")
	}
	for k, want := range map[string]string{"token_type": "Bearer", "tenant_id": "tenant-7", "username": plugintest.CDPUser, "user_type": "CLIENT"} {
		if resp.Data[k] != want {
			t.Errorf("%s = %v, want %s", k, resp.Data[k], want)
		}
	}
	if resp.Data["password_expiry_date"] == nil || len(resp.Warnings) != 0 {
		t.Errorf("password_expiry_date %v, warnings %v", resp.Data["password_expiry_date"], resp.Warnings)
	}
	if resp.Secret.TTL != time.Hour {
		t.Errorf("TTL %s, want the role's 1h", resp.Secret.TTL)
	}

	// Renew extends upstream and honours max_ttl.
	h.Clock.Advance(30 * 24 * time.Hour) // a month later the token has 150 days left
	before, known := h.Emu.Token(tok)
	if !known || before.Service != "cdp" {
		t.Fatal("token unknown upstream")
	}
	r, err := h.Renew(resp, issued)
	if err == nil && r != nil && !r.IsError() {
		t.Fatalf("renew past max_ttl succeeded")
	}
	h.Clock.Advance(-30 * 24 * time.Hour)
	h.Clock.Advance(90 * time.Minute)
	// The token has months left: the renew asks nothing upstream.
	calls := h.Emu.Requests("/token")
	r, err = h.Renew(resp, issued)
	if err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, plugintest.ErrText(r))
	}
	if after, _ := h.Emu.Token(tok); !after.ExpiresAt.Equal(before.ExpiresAt) || h.Emu.Requests("/token") != calls {
		t.Errorf("a renew the token outlives called upstream: %s -> %s", before.ExpiresAt, after.ExpiresAt)
	}
	if r.Secret.TTL != time.Hour {
		t.Errorf("renewed TTL %s", r.Secret.TTL)
	}

	// Revoke deletes upstream; a second revoke (token gone: 401) succeeds.
	for i := 0; i < 2; i++ {
		if r, err := h.Revoke(resp); err != nil || (r != nil && r.IsError()) {
			t.Fatalf("revoke %d: %v", i, err)
		}
	}
	if h.Emu.TokenLive(tok) {
		t.Fatal("token live upstream after lease revoke")
	}
	// The config no longer counts it: deleting the role and config works.
	h.MustDelete("roles/sync")
	if resp, err := h.Do(logical.DeleteOperation, "config/cdp", nil); err != nil || (resp != nil && resp.IsError()) {
		t.Fatalf("delete config: %v %v", err, plugintest.ErrText(resp))
	}
}

func TestCDPRevokeRetriesOnUpstreamFailure(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(200*24*time.Hour))
	h.MustWrite("config/cdp", map[string]any{"request_timeout": "2s"})
	resp := h.MustRead("creds/sync")
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/token", Method: "DELETE", Status: 500, Times: 100})
	if _, err := h.Revoke(resp); err == nil {
		t.Fatal("revoke reported success while the upstream failed: Vault would not retry")
	}
	// Its record stays: the token still counts toward max_tokens.
	held := func() any { return h.MustRead("config/cdp/status").Data["held_tokens"] }
	if n := held(); n != 1 {
		t.Errorf("held_tokens %v after a failed revoke, want 1", n)
	}
	h.Emu.ClearFaults()
	if _, err := h.Revoke(resp); err != nil {
		t.Fatal(err)
	}
	if h.CDPLive() != 0 {
		t.Error("token survived")
	}
	if n := held(); n != 0 {
		t.Errorf("held_tokens %v once the revoke answered, want 0", n)
	}
}

func TestCDPTokenLimit(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(2, h.Clock.Now().Add(200*24*time.Hour))
	var leases []*logical.Response
	for i := 0; i < 2; i++ {
		leases = append(leases, h.MustRead("creds/sync"))
	}
	resp, err := h.Read("creds/sync")
	msg, ok := plugintest.BadRequest(resp, err)
	if !ok || !strings.Contains(msg, "max_tokens") || !strings.Contains(msg, "already holds 2") {
		t.Fatalf("third read: want a refusal naming max_tokens, got %s", msg)
	}
	if h.Emu.CDPDisabledByLimit() != 0 || h.CDPLive() != 2 {
		t.Fatalf("the plugin disabled someone's token: disabled=%d live=%d", h.Emu.CDPDisabledByLimit(), h.CDPLive())
	}
	// Deleting a config that holds tokens is refused.
	h.MustDelete("roles/sync")
	if msg, ok := plugintest.BadRequest(h.Do(logical.DeleteOperation, "config/cdp", nil)); !ok || !strings.Contains(msg, "holds 2") {
		t.Errorf("delete with held tokens: %s", msg)
	}
	h.MustWrite("roles/sync", map[string]any{"config": "cdp"})
	// Revoking a lease frees a slot.
	if _, err := h.Revoke(leases[0]); err != nil {
		t.Fatal(err)
	}
	h.MustRead("creds/sync")

	// Concurrent reads never pass the limit.
	if _, err := h.Revoke(leases[1]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	okCount := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "creds/sync", Storage: h.Storage})
			if err == nil && resp != nil && !resp.IsError() {
				mu.Lock()
				okCount++
				h.Secrets = append(h.Secrets, resp.Data["access_token"].(string))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if okCount != 1 || h.CDPLive() != 2 || h.Emu.CDPDisabledByLimit() != 0 {
		t.Errorf("concurrent reads: %d succeeded, %d live, %d disabled", okCount, h.CDPLive(), h.Emu.CDPDisabledByLimit())
	}
}

func TestCDPRevokeAll(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(200*24*time.Hour))
	a := h.MustRead("creds/sync")
	h.MustRead("creds/sync")
	resp := h.MustWrite("config/cdp/revoke-all", nil)
	if resp.Data["revoked_held_tokens"] != 2 || h.CDPLive() != 0 {
		t.Fatalf("revoke-all: %v, live %d", resp.Data, h.CDPLive())
	}
	// The slots are free again, and the old lease's revoke is still fine.
	h.MustRead("creds/sync")
	if _, err := h.Revoke(a); err != nil {
		t.Fatal(err)
	}
	// Renewing a lease whose token revoke-all deleted says so.
	b := h.MustRead("creds/sync")
	h.MustWrite("config/cdp/revoke-all", nil)
	if msg, ok := plugintest.BadRequest(h.Renew(b, h.Clock.Now())); !ok || !strings.Contains(msg, "no longer exists") {
		t.Errorf("renew after revoke-all: %s", msg)
	}
	// Not a cdp config: a 400 naming the reason.
	h.CloudConfig("c", nil)
	if msg, ok := plugintest.BadRequest(h.Write("config/c/revoke-all", nil)); !ok || !strings.Contains(msg, "cdp") {
		t.Errorf("revoke-all on cloud: %s", msg)
	}
}

func TestCDPPasswordExpiryWarning(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(5*24*time.Hour))
	resp := h.MustRead("creds/sync")
	if len(resp.Warnings) == 0 || !strings.Contains(resp.Warnings[0], "expires on") {
		t.Fatalf("creds warnings: %v", resp.Warnings)
	}
	cfg := h.MustRead("config/cdp")
	if cfg.Data["password_expiry_date"] == "" || len(cfg.Warnings) == 0 {
		t.Errorf("config read: %v %v", cfg.Data["password_expiry_date"], cfg.Warnings)
	}
	h.MustRead("creds/sync")
	if n := strings.Count(h.Logs.String(), "password expires soon"); n != 1 {
		t.Errorf("logged %d times, want once a day", n)
	}
}

func TestCDPNoLeakWhenTheRequestFails(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(200*24*time.Hour))
	broken := &plugintest.FlakyStorage{Storage: h.Storage, Prefix: "tokens/", Op: "put", N: 1}
	read := func() error {
		resp, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "creds/sync", Storage: broken})
		if err == nil && resp != nil && resp.IsError() {
			err = resp.Error()
		}
		return err
	}
	// The request fails after the create: the token is deleted at once.
	if err := read(); err == nil {
		t.Fatal("want the injected failure")
	}
	if h.CDPLive() != 0 || len(h.Emu.Tokens("cdp")) != 2 {
		t.Fatalf("token leaked: %d live of %d", h.CDPLive(), len(h.Emu.Tokens("cdp"))-1)
	}
	// Also the delete fails: the WAL entry stays and the rollback deletes it.
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/token", Method: "DELETE", Status: 500, Times: 100})
	if err := read(); err == nil {
		t.Fatal("want the injected failure")
	}
	if h.CDPLive() != 1 {
		t.Fatalf("want the token still live before rollback, %d live", h.CDPLive())
	}
	wals, _ := framework.ListWAL(context.Background(), h.Storage)
	if len(wals) != 1 {
		t.Fatalf("%d WAL entries, want 1", len(wals))
	}
	h.Emu.ClearFaults()
	if rb, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.RollbackOperation, Path: "",
		Storage: h.Storage, Data: map[string]any{"immediate": true}}); err != nil || (rb != nil && rb.IsError()) {
		t.Fatal(err, plugintest.ErrText(rb))
	}
	if h.CDPLive() != 0 {
		t.Fatal("rollback left the token live")
	}
	if wals, _ := framework.ListWAL(context.Background(), h.Storage); len(wals) != 0 {
		t.Errorf("%d WAL entries left", len(wals))
	}
	for _, et := range h.Emu.Tokens("cdp") {
		h.Secrets = append(h.Secrets, et.Value)
	}
}

// listHook runs once, on the first List under prefix, before it lists.
type listHook struct {
	logical.Storage
	prefix string
	once   sync.Once
	run    func()
}

func (l *listHook) List(ctx context.Context, prefix string) ([]string, error) {
	if strings.HasPrefix(prefix, l.prefix) {
		l.once.Do(l.run)
	}
	return l.Storage.List(ctx, prefix)
}

// A static role that rotates after revoke-all killed its token, and before
// revoke-all gets to it, keeps the token it just minted: that token is
// live, held and served, and revoke-all mints no other.
func TestCDPRevokeAllRacingARotation(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(200*24*time.Hour))
	h.MustWrite("static-roles/feed", map[string]any{"config": "cdp"})
	killed := h.StaticToken("feed")
	s := &listHook{Storage: h.Storage, prefix: "static-roles/", run: func() {
		// revoke-all has deleted every token upstream and not yet
		// turned to the static roles: the ticker rotates now.
		h.MustWrite("rotate-role/feed", nil)
	}}
	resp, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation,
		Path: "config/cdp/revoke-all", Storage: s})
	if err != nil || resp.IsError() {
		t.Fatal(err, plugintest.ErrText(resp))
	}
	served := h.StaticToken("feed")
	if served == killed || !h.Emu.TokenLive(served) {
		t.Fatal("static-creds serves a token revoke-all deleted")
	}
	if n := h.CDPLive(); n != 1 {
		t.Errorf("%d plugin tokens live upstream after revoke-all, want the one static-creds serves", n)
	}
	// Nothing is left that holds up deleting the config.
	h.MustDelete("static-roles/feed")
	h.MustDelete("roles/sync")
	if resp, err := h.Do(logical.DeleteOperation, "config/cdp", nil); err != nil || resp.IsError() {
		t.Errorf("the config cannot be deleted: %v %v", err, plugintest.ErrText(resp))
	}
}

// CDP static settings that could never rotate are refused when written:
// a grace period as long as the rotation period (explicit or the default
// 80% of the token's lifetime), or a max_tokens without room for the
// current token and the next.
func TestCDPStaticRoleThatCouldNeverRotate(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(2, h.Clock.Now().Add(365*24*time.Hour))
	// The default period: 80% of 180 days, 3456h.
	for _, d := range []map[string]any{
		{"config": "cdp", "grace_period": "3456h"},
		{"config": "cdp", "grace_period": "4000h"},
		{"config": "cdp", "rotation_period": "30s"}, // the default grace is 1m
	} {
		msg, ok := plugintest.BadRequest(h.Write("static-roles/bad", d))
		if !ok || !strings.HasPrefix(msg, "grace_period:") {
			t.Errorf("static role %v: %s; want a 400 naming grace_period", d, msg)
		}
		if h.Stored("static-roles/bad") {
			t.Fatalf("static role %v was stored", d)
		}
	}
	h.MustWrite("static-roles/feed", map[string]any{"config": "cdp"})
	if msg, ok := plugintest.BadRequest(h.Write("static-roles/feed", map[string]any{"grace_period": "3500h"})); !ok ||
		!strings.HasPrefix(msg, "grace_period:") {
		t.Errorf("updating grace_period past the default period: %s; want a 400 naming grace_period", msg)
	}
	h.MustWrite("static-roles/feed", map[string]any{"grace_period": "24h"})
	h.MustWrite("rotate-role/feed", nil)

	// max_tokens 1 holds the token, but no rotation could ever mint the next.
	if msg, ok := plugintest.BadRequest(h.Write("config/cdp", map[string]any{"max_tokens": 1, "verify": false})); !ok ||
		!strings.HasPrefix(msg, "max_tokens:") {
		t.Errorf("max_tokens 1 under a static role: %s; want a 400 naming max_tokens", msg)
	}
	h.MustDelete("static-roles/feed")
	h.MustWrite("config/cdp", map[string]any{"max_tokens": 1, "verify": false})
	msg, ok := plugintest.BadRequest(h.Write("static-roles/one", map[string]any{"config": "cdp"}))
	if !ok || !strings.HasPrefix(msg, "max_tokens:") {
		t.Errorf("a static role on max_tokens 1: %s; want a 400 naming max_tokens", msg)
	}
	if h.CDPLive() != 0 {
		t.Errorf("%d tokens live after the refused static role", h.CDPLive())
	}
}

// A renew whose upstream extend succeeded but whose record could not be
// stored fails, and the lease keeps its old expiry. Its revoke after that
// expiry still deletes the token, which the extend kept alive.
func TestCDPRevokeAfterAnUnrecordedExtend(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.AddCDPUser(emulator.CDPUser{Username: plugintest.CDPUser, Password: plugintest.CDPPass, TenantID: "tenant-7", UserType: "CLIENT",
		PasswordExpiry: h.Clock.Now().Add(365 * 24 * time.Hour), MaxTokens: 4, Lifetime: 2 * time.Hour})
	h.Secrets = append(h.Secrets, plugintest.CDPPass)
	h.MustWrite("config/cdp", map[string]any{"provider": "cdp", "username": plugintest.CDPUser, "password": plugintest.CDPPass,
		"base_url": h.Emu.URL(), "max_tokens": 3})
	h.MustWrite("roles/sync", map[string]any{"config": "cdp", "ttl": "1h", "max_ttl": "24h"})
	issued := h.Clock.Now()
	resp := h.MustRead("creds/sync")
	tok := resp.Data["access_token"].(string)
	before, _ := h.Emu.Token(tok)

	h.Clock.Advance(70 * time.Minute) // 50 minutes left: a 1h lease would outlive the token
	// Vault hands the plugin a copy of the lease: a change the failed
	// renew made to it is not kept.
	s := *resp.Secret
	s.IssueTime = issued
	s.InternalData = map[string]any{}
	for k, v := range resp.Secret.InternalData {
		s.InternalData[k] = v
	}
	r, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.RenewOperation, Path: "creds/sync",
		Secret: &s, Storage: &plugintest.FlakyStorage{Storage: h.Storage, Prefix: "tokens/", Op: "put", N: 1}})
	if err == nil && !r.IsError() {
		t.Fatal("the renew succeeded without its record")
	}
	if after, _ := h.Emu.Token(tok); !after.ExpiresAt.After(before.ExpiresAt) {
		t.Fatal("the extend did not reach the upstream; nothing to test")
	}
	// Vault revokes the lease once its old expiry has passed.
	h.Clock.Advance(71 * time.Minute)
	if r, err := h.Revoke(resp); err != nil || (r != nil && r.IsError()) {
		t.Fatalf("revoke: %v %v", err, plugintest.ErrText(r))
	}
	if h.Emu.TokenLive(tok) {
		t.Error("the revoke succeeded while the extended token lives upstream")
	}
}
