package lifecycle_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

func TestSourceClientCredentials(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(nil)
	data := h.MustRead("config/site").Data
	if data["token_url"] != h.Emu.URL()+"/oauth/token" || data["authorize_url"] != h.Emu.URL()+"/oauth/authorize" || data["auth_style"] != "body" {
		t.Errorf("defaults: %v", data)
	}
	h.MustWrite("roles/editor", map[string]any{"config": "site", "scopes": "content:read,content:write", "ttl": "1h"})
	resp := h.MustRead("creds/editor")
	tok := resp.Data["access_token"].(string)
	if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/jsonapi", tok) != 200 {
		t.Fatal("the site refuses the token")
	}
	if resp.Secret.TTL != 300*time.Second {
		t.Errorf("TTL %s, want the 300 s upstream lifetime", resp.Secret.TTL)
	}
	if et, ok := h.Emu.Token(tok); ok && et.Service == "source" && et.Scope != "content:read content:write" {
		t.Errorf("scope sent as %q, want space-delimited", et.Scope)
	}
	if _, ok := resp.Secret.InternalData["access_token"]; ok {
		t.Error("without revocation_url the lease needs no token")
	}

	// With the site's RFC 7009 endpoint, lease revoke revokes upstream.
	h.MustWrite("config/site", map[string]any{"revocation_url": h.Emu.URL() + "/oauth/revoke", "client_secret": plugintest.SourceSecret})
	resp = h.MustRead("creds/editor")
	tok = resp.Data["access_token"].(string)
	if _, err := h.Revoke(resp); err != nil {
		t.Fatal(err)
	}
	if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/jsonapi", tok) != http.StatusUnauthorized {
		t.Error("token still accepted after lease revoke")
	}
}

func TestSourceRejectsBadRoles(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(nil)
	for name, tc := range map[string]struct {
		data  map[string]any
		field string
	}{
		"code role without redirect_url": {map[string]any{"grant_type": "authorization_code"}, "redirect_url"},
		"redirect_url on client creds":   {map[string]any{"redirect_url": plugintest.SourceCallback}, "redirect_url"},
		"http redirect_url off loopback": {map[string]any{"grant_type": "authorization_code", "redirect_url": "http://vault.example.com/v1/acquia/callback"}, "redirect_url"},
		"redirect_url with fragment":     {map[string]any{"grant_type": "authorization_code", "redirect_url": plugintest.SourceCallback + "#x"}, "redirect_url"},
		"unknown grant":                  {map[string]any{"grant_type": "password"}, "grant_type"},
		"ttl over max_ttl":               {map[string]any{"ttl": "2h", "max_ttl": "1h"}, "ttl"},
		"unknown field":                  {map[string]any{"redirect_uri": plugintest.SourceCallback}, "redirect_uri"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.data["config"] = "site"
			msg, ok := plugintest.BadRequest(h.Write("roles/bad", tc.data))
			if !ok || !strings.Contains(msg, tc.field) {
				t.Errorf("want a 400 naming %s, got %s", tc.field, msg)
			}
			if h.Stored("roles/bad") {
				t.Error("stored")
			}
		})
	}
	h.MustWrite("roles/cc", map[string]any{"config": "site"})
	msg, ok := plugintest.BadRequest(h.Write("authorize/cc", nil))
	if !ok || !strings.Contains(msg, "authorization_code") {
		t.Errorf("authorize on a client-credentials role: %s", msg)
	}
	// Cloud has no user flow.
	h.CloudConfig("cloud", nil)
	msg, ok = plugintest.BadRequest(h.Write("roles/bad", map[string]any{"config": "cloud", "grant_type": "authorization_code", "redirect_url": plugintest.SourceCallback}))
	if !ok || !strings.Contains(msg, "grant_type") {
		t.Errorf("authorization_code on cloud: %s", msg)
	}
}

func TestSourceAuthorizationCodeFlow(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(nil)
	h.CodeRole()
	if h.MustRead("roles/user").Data["authorized"] != false {
		t.Error("a new role reads as authorized")
	}
	if _, ok := plugintest.BadRequest(h.Read("creds/user")); !ok {
		t.Error("creds on an unauthorized role should be a 400 telling to authorize")
	}

	resp := h.MustWrite("authorize/user", nil)
	u, err := url.Parse(resp.Data["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	state := resp.Data["state"].(string)
	want := map[string]string{"client_id": plugintest.SourceID, "redirect_uri": plugintest.SourceCallback, "response_type": "code",
		"scope": "content:read content:write", "state": state, "code_challenge_method": "S256"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("authorize url %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("code_challenge")) != 43 || len(state) < 22 {
		t.Errorf("challenge %q, state %q: want S256 and >= 128 bits", q.Get("code_challenge"), state)
	}
	exp, err := time.Parse(time.RFC3339, resp.Data["expires_at"].(string))
	if err != nil || !exp.Equal(h.Clock.Now().Add(10*time.Minute)) {
		t.Errorf("expires_at %v", resp.Data["expires_at"])
	}

	back := h.Browse(u.String())
	back.Set("iss", h.Emu.URL()) // extra parameters a provider adds are ignored
	cb, err := h.Callback(back, logical.ReadOperation)
	if err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
	}
	role := h.MustRead("roles/user").Data
	if role["authorized"] != true || role["authorized_at"] == nil {
		t.Errorf("role after callback: %v", role)
	}
	if h.Emu.SourceRefreshTokens() != 1 {
		t.Errorf("%d live refresh tokens upstream, want 1", h.Emu.SourceRefreshTokens())
	}

	// Replay of the same redirect: 400, and the authorization is unchanged.
	before, _ := h.Storage.Get(context.Background(), "role-tokens/user")
	msg, ok := plugintest.BadRequest(h.Callback(back, logical.UpdateOperation))
	if !ok || !strings.Contains(msg, "used already") {
		t.Errorf("replayed state: %s", msg)
	}
	after, _ := h.Storage.Get(context.Background(), "role-tokens/user")
	if string(before.Value) != string(after.Value) {
		t.Error("a replayed callback changed the stored authorization")
	}

	// creds uses the refresh grant; each read rotates the refresh token.
	var last string
	var seen []map[string]any
	for i := 0; i < 3; i++ {
		r := h.MustRead("creds/user")
		seen = append(seen, r.Data)
		if warned := strings.Contains(strings.Join(r.Warnings, " "), "previous access token"); warned != (i > 0) {
			t.Errorf("read %d: warnings %v; want the retired-token warning from the second read on", i, r.Warnings)
		}
		tok := r.Data["access_token"].(string)
		if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/jsonapi", tok) != 200 {
			t.Fatalf("read %d: token refused", i)
		}
		if tok == last {
			t.Error("same token twice")
		}
		last = tok
	}
	if h.Emu.SourceRefreshReuses() != 0 || h.Emu.SourceRefreshTokens() != 1 {
		t.Errorf("reuses %d, live refresh tokens %d; want 0 and 1", h.Emu.SourceRefreshReuses(), h.Emu.SourceRefreshTokens())
	}
	for _, c := range h.Emu.SourceCredentials() {
		for _, d := range append(seen, cb.Data, role, h.MustRead("roles/user").Data, h.MustRead("config/site").Data) {
			for _, v := range d {
				if s, ok := v.(string); ok && strings.Contains(s, c) {
					t.Error("a read holds a code or refresh token")
				}
			}
		}
	}
}

func TestSourceConcurrentReadsNeverReuseARefreshToken(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(nil)
	h.CodeRole()
	if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
	}
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan string, n)
	toks := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &logical.Request{Operation: logical.ReadOperation, Path: "creds/user", Storage: h.Storage}
			resp, err := h.B.HandleRequest(context.Background(), req)
			if err != nil || resp == nil || resp.IsError() {
				errs <- plugintest.ErrText(resp) + " " + fmtErr(err)
				return
			}
			toks <- resp.Data["access_token"].(string)
		}()
	}
	wg.Wait()
	close(errs)
	close(toks)
	for e := range errs {
		t.Errorf("read failed: %s", e)
	}
	seen := map[string]bool{}
	for tok := range toks {
		h.Secrets = append(h.Secrets, tok)
		seen[tok] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct tokens from %d reads", len(seen), n)
	}
	if r := h.Emu.SourceRefreshReuses(); r != 0 {
		t.Errorf("the plugin presented a rotated refresh token %d times", r)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSourceCallbackRejectsBadState(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(nil)
	h.CodeRole()

	// Expired: the state lives 10 minutes.
	back := h.AuthorizeRole()
	h.Clock.Advance(10*time.Minute + time.Second)
	msg, ok := plugintest.BadRequest(h.Callback(back, logical.ReadOperation))
	if !ok || !strings.Contains(msg, "expired") {
		t.Errorf("expired state: %s", msg)
	}
	if h.Stored("role-tokens/user") {
		t.Error("an expired state stored an authorization")
	}

	for name, q := range map[string]url.Values{
		"unknown state": {"code": {"abc"}, "state": {"forged-state-value"}},
		"missing state": {"code": {"abc"}},
	} {
		msg, ok := plugintest.BadRequest(h.Callback(q, logical.ReadOperation))
		if !ok || !strings.Contains(msg, "state") {
			t.Errorf("%s: %s", name, msg)
		}
	}

	// The user says no.
	h.Emu.SetSourceDeny(true)
	back = h.AuthorizeRole()
	if back.Get("error") != "access_denied" {
		t.Fatalf("emulator did not deny: %v", back)
	}
	msg, ok = plugintest.BadRequest(h.Callback(back, logical.ReadOperation))
	if !ok || !strings.Contains(msg, "access_denied") {
		t.Errorf("access_denied: %s", msg)
	}
	if h.Stored("role-tokens/user") {
		t.Error("a denied authorization stored something")
	}

	// Abandoned states are pruned by the periodic function.
	h.Emu.SetSourceDeny(false)
	h.MustWrite("authorize/user", nil)
	h.Clock.Advance(11 * time.Minute)
	if err := h.B.Env().PruneStates(context.Background(), &logical.Request{Storage: h.Storage}); err != nil {
		t.Fatal(err)
	}
	if keys, _ := h.Storage.List(context.Background(), "oauth-state/"); len(keys) != 0 {
		t.Errorf("%d expired states left", len(keys))
	}
}

func TestSourceDeadRefreshTokenSaysAuthorizeAgain(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(nil)
	h.Emu.SetSourceLifetimes(0, time.Hour, 0)
	h.CodeRole()
	if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
	}
	h.Clock.Advance(2 * time.Hour)
	msg, ok := plugintest.BadRequest(h.Read("creds/user"))
	if !ok || !strings.Contains(msg, "invalid_grant") || !strings.Contains(msg, "authorize/user") {
		t.Errorf("dead refresh token: %s", msg)
	}

	// Deleting the role forgets its authorization.
	if _, err := h.Do(logical.DeleteOperation, "roles/user", nil); err != nil {
		t.Fatal(err)
	}
	if h.Stored("role-tokens/user") {
		t.Error("the authorization outlived its role")
	}
}

func TestSourceRoleConfigChangeDropsAuthorization(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(map[string]any{"revocation_url": h.Emu.URL() + "/oauth/revoke"})
	h.CodeRole()
	if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
	}
	h.MustWrite("roles/user", map[string]any{"grant_type": "client_credentials", "redirect_url": ""})
	if h.Stored("role-tokens/user") {
		t.Error("the authorization survived a grant change")
	}
	if h.Emu.SourceRefreshTokens() != 0 {
		t.Error("the dropped refresh token is still live upstream")
	}
}

func TestSourceUpstreamErrorsNeverShowTheRefreshToken(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(nil)
	h.CodeRole()
	if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
	}
	rt := h.StoredRefreshToken()
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth/token", Status: 400,
		Body: `{"error":"invalid_grant","error_description":"refresh token ` + rt + ` is revoked"}`})
	msg, ok := plugintest.BadRequest(h.Read("creds/user"))
	if !ok || strings.Contains(msg, rt) || !strings.Contains(msg, "invalid_grant") {
		t.Errorf("echoed refresh token: %s", msg)
	}
	if strings.Contains(h.Logs.String(), rt) {
		t.Error("the refresh token reached the log")
	}
}

func TestSourceAuthorizingAgainRetiresTheOldRefreshToken(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(map[string]any{"revocation_url": h.Emu.URL() + "/oauth/revoke", "revoke_user_access_tokens": true})
	h.CodeRole()
	for i := 0; i < 2; i++ {
		if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
			t.Fatalf("callback %d: %v %v", i, err, plugintest.ErrText(cb))
		}
	}
	if n := h.Emu.SourceRefreshTokens(); n != 1 {
		t.Errorf("%d live refresh tokens upstream after authorizing twice, want 1", n)
	}
	// The exchanges' own access tokens are leased to nobody: revoked.
	if n := len(h.Emu.LiveTokens("source")); n != 0 {
		t.Errorf("%d unleased access tokens live upstream", n)
	}
}

func TestSourceCallbackExchangeFailures(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(map[string]any{"revocation_url": h.Emu.URL() + "/oauth/revoke"})
	h.CodeRole()

	// The site refuses the code: a 400 naming the upstream code, nothing stored.
	back := h.AuthorizeRole()
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth/token", Status: 400,
		Body: `{"error":"invalid_grant","error_description":"The authorization code has expired"}`})
	msg, ok := plugintest.BadRequest(h.Callback(back, logical.ReadOperation))
	if !ok || !strings.Contains(msg, "invalid_grant") || !strings.Contains(msg, "authorize/user") {
		t.Errorf("refused code: %s", msg)
	}
	if h.Stored("role-tokens/user") {
		t.Error("a refused exchange stored an authorization")
	}

	// No refresh token in the answer: a 400, and the access token revoked.
	back = h.AuthorizeRole()
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth/token", Status: 200,
		Body: `{"access_token":"orphan-token","token_type":"Bearer","expires_in":300}`})
	revokes := h.Emu.Requests("/oauth/revoke")
	msg, ok = plugintest.BadRequest(h.Callback(back, logical.ReadOperation))
	if !ok || !strings.Contains(msg, "no refresh token") {
		t.Errorf("no refresh token: %s", msg)
	}
	if h.Stored("role-tokens/user") {
		t.Error("stored an authorization without a refresh token")
	}
	if h.Emu.Requests("/oauth/revoke") != revokes+1 {
		t.Error("the unleased access token was not revoked")
	}
}
