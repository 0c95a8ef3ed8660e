package staticrole_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// TestStaticCredsServeOneTokenWithoutUpstreamCalls: every reader gets the
// same token from Vault's state; the token endpoint sees none of them.
func TestStaticCredsServeOneTokenWithoutUpstreamCalls(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("static-roles/shared", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID})
	first := h.StaticToken("shared")
	calls := h.Emu.Requests("/api/auth/oauth/token")
	for range 200 {
		resp := h.MustRead("static-creds/shared")
		if resp.Data["access_token"] != first || resp.Secret != nil {
			t.Fatal("a static-creds read changed the token or carried a lease")
		}
	}
	if n := h.Emu.Requests("/api/auth/oauth/token") - calls; n != 0 {
		t.Errorf("200 static-creds reads made %d token calls", n)
	}
	resp := h.MustRead("static-creds/shared")
	// Default rotation_period: 80% of the 300 s lifetime.
	if ttl := resp.Data["ttl"].(int64); ttl <= 0 || ttl > 240 {
		t.Errorf("ttl %d, want (0, 240]", ttl)
	}
	for _, k := range []string{"token_type", "expires_at", "expires_at_unix", "last_rotated", "scopes"} {
		if _, ok := resp.Data[k]; !ok {
			t.Errorf("static-creds lacks %s", k)
		}
	}
	if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/api/account", first) != 200 {
		t.Error("the static token does not work")
	}
	if got := h.MustRead("static-roles/shared").Data["rotation_period"]; got != int64(240) {
		t.Errorf("rotation_period reads %v, want the 240 s default", got)
	}

	// On schedule, with no reads: a new token before the old one expires.
	h.Clock.Advance(239 * time.Second)
	h.RotateDue()
	if h.StaticToken("shared") != first {
		t.Fatal("rotated before rotation_period")
	}
	h.Clock.Advance(2 * time.Second)
	h.RotateDue()
	second := h.StaticToken("shared")
	if second == first || testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/api/account", second) != 200 {
		t.Fatal("no working new token after rotation_period")
	}
}

func TestStaticRoleValidation(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
	cases := map[string]struct {
		data  map[string]any
		field string
	}{
		"no config":         {map[string]any{}, "config"},
		"unknown config":    {map[string]any{"config": "nope"}, "config"},
		"short period":      {map[string]any{"config": "c", "rotation_period": "5s"}, "rotation_period"},
		"past 80% of life":  {map[string]any{"config": "c", "rotation_period": "250s"}, "rotation_period"},
		"bad scope":         {map[string]any{"config": "c", "scopes": "openid"}, "scopes"},
		"negative grace":    {map[string]any{"config": "cdp", "grace_period": "-1s"}, "grace_period"},
		"grace over period": {map[string]any{"config": "cdp", "rotation_period": "1h", "grace_period": "2h"}, "grace_period"},
		"cdp period too long": {map[string]any{"config": "cdp", "rotation_period": (150 * 24 * time.Hour).String()},
			"rotation_period"},
		"unknown field": {map[string]any{"config": "c", "ttl": "1h"}, "ttl"},
	}
	for name, c := range cases {
		msg, ok := plugintest.BadRequest(h.Write("static-roles/s", c.data))
		if !ok || !strings.Contains(msg, c.field) {
			t.Errorf("%s: %s", name, msg)
		}
		if h.Stored("static-roles/s") || h.Stored("static-tokens/s") {
			t.Fatalf("%s: a refused write stored something", name)
		}
	}
	if n := h.CDPLive(); n != 0 {
		t.Errorf("refused cdp static roles left %d tokens upstream", n)
	}
}

// TestStaticCDPGraceAndLimit: a rotation keeps the previous token for the
// grace period, then deletes it upstream; static tokens count toward
// max_tokens.
func TestStaticCDPGraceAndLimit(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
	h.MustWrite("static-roles/feed", map[string]any{"config": "cdp", "grace_period": "30s"})
	old := h.StaticToken("feed")
	h.MustWrite("rotate-role/feed", nil)
	cur := h.StaticToken("feed")
	if cur == old || !h.Emu.TokenLive(old) || !h.Emu.TokenLive(cur) {
		t.Fatal("after rotate-role the previous token must stay valid for the grace period")
	}
	// Two slots taken (current + grace): one left for a lease.
	h.MustRead("creds/sync")
	if msg, ok := plugintest.BadRequest(h.Read("creds/sync")); !ok || !strings.Contains(msg, "max_tokens") {
		t.Errorf("a fourth token: %s", msg)
	}
	h.Clock.Advance(31 * time.Second)
	h.RotateDue()
	if h.Emu.TokenLive(old) {
		t.Error("the previous token lives past the grace period")
	}
	if h.CDPLive() != 2 {
		t.Errorf("%d live cdp tokens, want the static one and the lease's", h.CDPLive())
	}

	// Deleting the static role deletes its token upstream.
	h.MustDelete("static-roles/feed")
	if h.Emu.TokenLive(cur) || h.Stored("static-tokens/feed") {
		t.Error("a deleted static role's token lives on")
	}
	if _, ok := plugintest.BadRequest(h.Read("static-creds/feed")); !ok {
		t.Error("static-creds of a deleted role")
	}
}

// TestStaticUpstreamDown: a failed rotation keeps the still-valid token,
// records the error, and retries.
func TestStaticUpstreamDown(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("static-roles/shared", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID, "rotation_period": "60s"})
	first := h.StaticToken("shared")
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/auth/oauth/token", Status: 503, Times: 1000})
	h.Clock.Advance(61 * time.Second)
	h.RotateDue()
	if h.StaticToken("shared") != first {
		t.Fatal("the served token changed while the upstream was down")
	}
	role := h.MustRead("static-roles/shared").Data
	if !strings.Contains(role["last_error"].(string), "503") || role["last_error_at"] == "" {
		t.Errorf("the role does not show the failure: %v", role)
	}
	h.Emu.ClearFaults()
	h.Clock.Advance(6 * time.Second)
	h.RotateDue()
	if h.StaticToken("shared") == first {
		t.Fatal("no rotation after the upstream came back")
	}
	if h.MustRead("static-roles/shared").Data["last_error"] != "" {
		t.Error("last_error kept after a success")
	}
}

// TestStaticRotationRollsForwardOrBack: a rotation that cannot store its
// token deletes it; a WAL entry of a stored rotation keeps the token, also
// once retired (its grace period's end revokes it), one of a token the
// role does not hold deletes it.
func TestStaticRotationRollsForwardOrBack(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
	h.MustWrite("static-roles/feed", map[string]any{"config": "cdp"})
	cur := h.StaticToken("feed")
	broken := &plugintest.FlakyStorage{Storage: h.Storage, Prefix: "static-tokens/", Op: "put", N: 1}
	_, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "rotate-role/feed", Storage: broken})
	if err == nil {
		t.Fatal("want the injected failure")
	}
	if h.CDPLive() != 1 || h.StaticToken("feed") != cur {
		t.Fatalf("a failed rotation left %d live tokens or changed the served one", h.CDPLive())
	}
	if wal, _ := framework.ListWAL(context.Background(), h.Storage); len(wal) != 0 {
		t.Errorf("%d WAL entries left", len(wal))
	}
	rollback := func(token string) error {
		return h.B.Env().WALRollback(context.Background(), &logical.Request{Storage: h.Storage}, "upstream_token",
			map[string]any{"config": "cdp", "static": "feed", "token": token, "expires_at": h.Clock.Now().Add(time.Hour)})
	}
	if err := rollback(cur); err != nil || !h.Emu.TokenLive(cur) {
		t.Errorf("roll forward: %v; the stored token must stay live", err)
	}
	h.MustWrite("rotate-role/feed", nil)
	next := h.StaticToken("feed")
	if err := rollback(cur); err != nil || !h.Emu.TokenLive(cur) {
		t.Errorf("roll forward of a retired token: %v; it must stay live for its grace period", err)
	}
	h.Clock.Advance(61 * time.Second)
	h.RotateDue()
	if h.Emu.TokenLive(cur) {
		t.Error("the retired token lives past its grace period")
	}
	if err := rollback(cur); err != nil {
		t.Errorf("roll back of a token the role no longer holds: %v", err)
	}
	if !h.Emu.TokenLive(next) {
		t.Error("the current token died")
	}
	// A token the role never held goes.
	stray := h.MustRead("creds/sync").Data["access_token"].(string)
	h.Secrets = append(h.Secrets, stray)
	if err := rollback(stray); err != nil || h.Emu.TokenLive(stray) {
		t.Errorf("roll back: %v; a token the role does not hold must go", err)
	}
}

// TestStaticRevokeAllAndConfigDelete: revoke-all makes the config's static
// roles rotate at once, and static-creds never serves a deleted token; a
// config used by a static role cannot be deleted.
func TestStaticRevokeAllAndConfigDelete(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
	h.MustWrite("static-roles/feed", map[string]any{"config": "cdp"})
	old := h.StaticToken("feed")
	h.MustWrite("config/cdp/revoke-all", nil)
	cur := h.StaticToken("feed")
	if cur == old || h.Emu.TokenLive(old) || !h.Emu.TokenLive(cur) {
		t.Fatal("after revoke-all the static role must serve a new, live token")
	}
	h.MustDelete("roles/sync")
	if msg, ok := plugintest.BadRequest(h.Do(logical.DeleteOperation, "config/cdp", nil)); !ok || !strings.Contains(msg, "static role feed") {
		t.Errorf("deleting a config a static role uses: %s", msg)
	}
}

// TestStaticScheduleSurvivesRestart: a new backend on the same storage (a
// restart, a fail-over) rotates an overdue role at once.
func TestStaticScheduleSurvivesRestart(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("static-roles/shared", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID, "rotation_period": "60s"})
	first := h.StaticToken("shared")
	h.Clock.Advance(90 * time.Second)

	n := h.Node(0, false)
	if err := n.B.Initialize(context.Background(), &logical.InitializationRequest{Storage: h.Storage}); err != nil {
		t.Fatal(err)
	}
	n.B.Env().StopRotation() // the test drives the schedule itself
	n.B.Env().RotateDue(context.Background(), h.Storage)
	resp, err := n.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "static-creds/shared"})
	if err != nil || resp.IsError() {
		t.Fatal(err, plugintest.ErrText(resp))
	}
	if tok := resp.Data["access_token"].(string); tok == first {
		t.Error("the restarted node did not rotate the overdue role")
	} else {
		h.Secrets = append(h.Secrets, tok)
	}
}

// TestStaticUserAuthorization: an authorization_code static role is
// authorized through authorize/<name> and the callback, gets its first
// token then, and each rotation refreshes the user's grant.
func TestStaticUserAuthorization(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(map[string]any{"revocation_url": h.Emu.URL() + "/oauth/revoke"})
	h.MustWrite("static-roles/editor", map[string]any{"config": "site", "grant_type": "authorization_code",
		"redirect_url": plugintest.SourceCallback, "scopes": "content:read"})
	if h.MustRead("static-roles/editor").Data["authorized"] != false {
		t.Error("a new static role reads as authorized")
	}
	if msg, ok := plugintest.BadRequest(h.Read("static-creds/editor")); !ok {
		t.Errorf("static-creds before authorization: %s", msg)
	}
	q := h.Browse(h.MustWrite("authorize/editor", nil).Data["url"].(string))
	cb, err := h.Callback(q, logical.ReadOperation)
	if err != nil || cb.IsError() || !strings.Contains(cb.Data["message"].(string), "static-creds/editor") {
		t.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
	}
	first := h.StaticToken("editor")
	if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/jsonapi", first) != 200 {
		t.Fatal("the first token does not work")
	}
	h.MustWrite("rotate-role/editor", nil)
	second := h.StaticToken("editor")
	if second == first || testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/jsonapi", second) != 200 {
		t.Fatal("rotation did not refresh the grant into a working token")
	}
	if h.Emu.SourceRefreshReuses() != 0 {
		t.Error("a refresh token was presented twice")
	}
	if h.MustRead("static-roles/editor").Data["authorized"] != true {
		t.Error("the authorized static role reads as not authorized")
	}
	// Deleting the static role ends its grant upstream.
	h.MustDelete("static-roles/editor")
	if h.Stored("role-tokens/static:editor") || h.Emu.SourceRefreshTokens() != 0 {
		t.Errorf("the deleted static role's authorization lives on (%d live refresh tokens)", h.Emu.SourceRefreshTokens())
	}
}

// The previous token of a user's-grant static role is never revoked on a
// site that may cascade the revoke to the grant: the grant survives the
// grace period and the next rotation works.
func TestStaticUserGrantSurvivesCascade(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.SetSourceRevocationCascades(true)
	h.SourceSetup(map[string]any{"revocation_url": h.Emu.URL() + "/oauth/revoke"})
	h.MustWrite("static-roles/editor", map[string]any{"config": "site", "grant_type": "authorization_code",
		"redirect_url": plugintest.SourceCallback, "scopes": "content:read", "rotation_period": "60s"})
	q := h.Browse(h.MustWrite("authorize/editor", nil).Data["url"].(string))
	if cb, err := h.Callback(q, logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatal(err, plugintest.ErrText(cb))
	}
	h.StaticToken("editor")
	h.MustWrite("rotate-role/editor", nil)
	h.Clock.Advance(61 * time.Second)
	h.RotateDue()
	if n := h.Emu.SourceRefreshTokens(); n != 1 {
		t.Fatalf("%d live refresh tokens after the grace period, want the grant's 1", n)
	}
	h.MustWrite("rotate-role/editor", nil)
	h.StaticToken("editor")

	// plugintest.New scopes, same authorization: the next token comes from it at once.
	h.MustWrite("static-roles/editor", map[string]any{"scopes": "content:write"})
	tok := h.StaticToken("editor")
	if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/jsonapi", tok) != 200 || h.Emu.SourceRefreshTokens() != 1 {
		t.Error("after a scope change the static role must serve a working token from the same grant")
	}
}

// A static role moved to another config revokes its old token at the old
// config's issuer, not the new one's.
func TestStaticConfigChangeRevokesAtTheOldIssuer(t *testing.T) {
	h := plugintest.New(t)
	h.AcronisSetup(nil)
	h.Emu.AddAcronisClient(emulator.AcronisClient{ID: "other-client", Secret: "other+secret", TenantID: plugintest.AcronisTenant})
	h.Secrets = append(h.Secrets, "other+secret")
	h.MustWrite("config/acr2", map[string]any{"provider": "acronis", "client_id": "other-client", "client_secret": "other+secret",
		"base_url": h.Emu.URL()})
	h.MustWrite("static-roles/s", map[string]any{"config": "acr"})
	old := h.StaticToken("s")
	h.MustWrite("static-roles/s", map[string]any{"config": "acr2"})
	h.Clock.Advance(61 * time.Second)
	h.RotateDue()
	if h.Emu.TokenLive(old) {
		t.Error("the old config's token lives past the grace period")
	}
	if keys, _ := h.Storage.List(context.Background(), "tokens/acr/"); len(keys) != 0 {
		t.Errorf("%d records of the old config's tokens left", len(keys))
	}
	h.MustDelete("roles/backup")
	if resp, err := h.Do(logical.DeleteOperation, "config/acr", nil); err != nil || resp.IsError() {
		t.Errorf("the old config cannot be deleted: %v %v", err, plugintest.ErrText(resp))
	}
}

// walDeleteFails fails WAL deletes.
type walDeleteFails struct{ logical.Storage }

func (w walDeleteFails) Delete(ctx context.Context, k string) error {
	if strings.HasPrefix(k, framework.WALPrefix) {
		return errors.New("injected storage failure")
	}
	return w.Storage.Delete(ctx, k)
}

// A rotation whose WAL entry cannot be cleared keeps the token it stored
// and serves: the entry rolls forward.
func TestStaticRotationKeepsItsTokenWhenTheWALStays(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
	h.MustWrite("static-roles/feed", map[string]any{"config": "cdp"})
	h.StaticToken("feed")
	_, _ = h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "rotate-role/feed",
		Storage: walDeleteFails{h.Storage}})
	tok := h.StaticToken("feed")
	if !h.Emu.TokenLive(tok) {
		t.Fatal("static-creds serves a token that is dead upstream")
	}
	ids, _ := framework.ListWAL(context.Background(), h.Storage)
	for _, id := range ids {
		w, _ := framework.GetWAL(context.Background(), h.Storage, id)
		if err := h.B.Env().WALRollback(context.Background(), &logical.Request{Storage: h.Storage}, w.Kind, w.Data); err != nil {
			t.Fatal(err)
		}
	}
	if !h.Emu.TokenLive(tok) {
		t.Error("the rollback revoked the token the static role serves")
	}
}

// An authorization_code static role has no token state until a user
// authorizes it: updating one of its settings then stores the setting,
// and the first token still comes with the callback.
func TestStaticUserGrantSettingBeforeAuthorization(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(map[string]any{"revocation_url": h.Emu.URL() + "/oauth/revoke"})
	h.MustWrite("static-roles/editor", map[string]any{"config": "site", "grant_type": "authorization_code",
		"redirect_url": plugintest.SourceCallback, "scopes": "content:read"})
	for _, d := range []map[string]any{{"rotation_period": "60s"}, {"grace_period": "10s"}, {"redirect_url": plugintest.SourceCallback}} {
		h.MustWrite("static-roles/editor", d)
	}
	if got := h.MustRead("static-roles/editor").Data["rotation_period"]; got != int64(60) {
		t.Errorf("rotation_period reads %v, want 60", got)
	}
	q := h.Browse(h.MustWrite("authorize/editor", nil).Data["url"].(string))
	if cb, err := h.Callback(q, logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatal(err, plugintest.ErrText(cb))
	}
	h.StaticToken("editor")
	if ttl := h.MustRead("static-creds/editor").Data["ttl"].(int64); ttl <= 0 || ttl > 60 {
		t.Errorf("ttl %d, want (0, 60] from the updated rotation_period", ttl)
	}
}

// Cleanup (unmount, reload, seal, step-down) does not wait for the due
// rotations: it cancels the one in flight and runs no other.
func TestCleanupDoesNotWaitForDueRotations(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	for _, n := range []string{"a", "b", "c"} {
		h.MustWrite("static-roles/"+n, map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID, "rotation_period": "60s"})
		h.StaticToken(n)
	}
	ctx := context.Background()
	if err := h.B.Initialize(ctx, &logical.InitializationRequest{Storage: h.Storage}); err != nil {
		t.Fatal(err)
	}
	calls := h.Emu.Requests("/api/auth/oauth/token")
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/auth/oauth/token", Delay: 20 * time.Second, Times: 10})
	h.Clock.Advance(61 * time.Second)
	plugintest.WaitFor(t, "a rotation's upstream call", func() bool { return h.Emu.Requests("/api/auth/oauth/token") > calls })

	start := time.Now()
	done := make(chan struct{})
	go func() {
		h.B.Cleanup(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Error("Cleanup waits for the rotations the upstream holds open")
		h.Emu.ClearFaults()
		<-done
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Logf("Cleanup took %s", d)
	}
	// A rotation cut short by Cleanup did not fail: nothing to report.
	if logs := h.Logs.String(); strings.Contains(logs, "rotation failed") || strings.Contains(logs, "could not record") {
		t.Errorf("a rotation stopped by Cleanup was reported as failed:\n%s", logs)
	}
}

// A WAL entry left by a rotation rolls forward also once a later rotation
// moved its token to the retired ones: the token stays valid for its grace
// period, then the grace's end revokes it.
func TestStaticRollbackKeepsARetiredTokensGrace(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
	h.MustWrite("static-roles/feed", map[string]any{"config": "cdp"})
	h.StaticToken("feed")
	_, _ = h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "rotate-role/feed",
		Storage: walDeleteFails{h.Storage}})
	tok := h.StaticToken("feed")
	h.MustWrite("rotate-role/feed", nil)
	if h.StaticToken("feed") == tok {
		t.Fatal("no rotation")
	}
	ids, _ := framework.ListWAL(context.Background(), h.Storage)
	if len(ids) == 0 {
		t.Fatal("no WAL entry left behind")
	}
	for _, id := range ids {
		w, _ := framework.GetWAL(context.Background(), h.Storage, id)
		if err := h.B.Env().WALRollback(context.Background(), &logical.Request{Storage: h.Storage}, w.Kind, w.Data); err != nil {
			t.Fatal(err)
		}
	}
	if !h.Emu.TokenLive(tok) {
		t.Fatal("the rollback revoked a retired token before its grace period ended")
	}
	h.Clock.Advance(61 * time.Second)
	h.RotateDue()
	if h.Emu.TokenLive(tok) {
		t.Error("the retired token lives past its grace period")
	}
}

// A retired token whose revoke keeps failing is tried again with a
// growing wait, capped, as a failed rotation is.
func TestStaticRetiredRevokeBacksOff(t *testing.T) {
	h := plugintest.New(t)
	h.AcronisSetup(nil)
	h.MustWrite("static-roles/s", map[string]any{"config": "acr"})
	old := h.StaticToken("s")
	h.MustWrite("rotate-role/s", nil)
	h.StaticToken("s")
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/2/idp/revoke_token", Status: 403, Body: `{"error":"forbidden"}`, Times: 1000})
	h.Clock.Advance(61 * time.Second)
	var waits []time.Duration
	for range 8 {
		h.RotateDue()
		at := h.RetiredRevokeAt("s")
		if len(at) != 1 {
			t.Fatalf("%d retired tokens, want the one whose revoke fails", len(at))
		}
		waits = append(waits, at[0].Sub(h.Clock.Now()))
		h.Clock.Advance(at[0].Sub(h.Clock.Now()))
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] || waits[i] > 5*time.Minute {
			t.Fatalf("retry waits %v: want them growing, capped at 5m", waits)
		}
	}
	if waits[len(waits)-1] <= waits[0] {
		t.Errorf("retry waits %v: no backoff", waits)
	}
	h.Emu.ClearFaults()
	h.Clock.Advance(5 * time.Minute)
	h.RotateDue()
	if h.Emu.TokenLive(old) {
		t.Error("the retired token lives once its revoke succeeds")
	}
}
