package backend_test

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
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

const (
	sourceID       = "site-app"
	sourceSecret   = "src+Se/cr=et=="
	sourceCallback = "https://vault.example.com/v1/acquia/callback"
)

func (h *harness) sourceSetup(extra map[string]any) {
	h.t.Helper()
	h.emu.AddSourceClient(emulator.SourceClient{ID: sourceID, Secret: sourceSecret,
		Scopes: []string{"content:read", "content:write"}, RedirectURIs: []string{sourceCallback}})
	h.secrets = append(h.secrets, sourceSecret)
	d := map[string]any{"provider": "source", "client_id": sourceID, "client_secret": sourceSecret, "base_url": h.emu.URL()}
	for k, v := range extra {
		d[k] = v
	}
	h.mustWrite("config/site", d)
	h.t.Cleanup(func() { h.secrets = append(h.secrets, h.emu.SourceCredentials()...) })
}

func TestSourceClientCredentials(t *testing.T) {
	h := newHarness(t)
	h.sourceSetup(nil)
	data := h.mustRead("config/site").Data
	if data["token_url"] != h.emu.URL()+"/oauth/token" || data["authorize_url"] != h.emu.URL()+"/oauth/authorize" || data["auth_style"] != "body" {
		t.Errorf("defaults: %v", data)
	}
	h.mustWrite("roles/editor", map[string]any{"config": "site", "scopes": "content:read,content:write", "ttl": "1h"})
	resp := h.mustRead("creds/editor")
	tok := resp.Data["access_token"].(string)
	if testutil.BearerStatus(h.t, httpClient, h.emu.URL()+"/jsonapi", tok) != 200 {
		t.Fatal("the site refuses the token")
	}
	if resp.Secret.TTL != 300*time.Second {
		t.Errorf("TTL %s, want the 300 s upstream lifetime", resp.Secret.TTL)
	}
	if et, ok := h.emu.Token(tok); ok && et.Service == "source" && et.Scope != "content:read content:write" {
		t.Errorf("scope sent as %q, want space-delimited", et.Scope)
	}
	if _, ok := resp.Secret.InternalData["access_token"]; ok {
		t.Error("without revocation_url the lease needs no token")
	}

	// With the site's RFC 7009 endpoint, lease revoke revokes upstream.
	h.mustWrite("config/site", map[string]any{"revocation_url": h.emu.URL() + "/oauth/revoke", "client_secret": sourceSecret})
	resp = h.mustRead("creds/editor")
	tok = resp.Data["access_token"].(string)
	if _, err := h.revoke(resp); err != nil {
		t.Fatal(err)
	}
	if testutil.BearerStatus(h.t, httpClient, h.emu.URL()+"/jsonapi", tok) != http.StatusUnauthorized {
		t.Error("token still accepted after lease revoke")
	}
}

func TestSourceRejectsBadRoles(t *testing.T) {
	h := newHarness(t)
	h.sourceSetup(nil)
	for name, tc := range map[string]struct {
		data  map[string]any
		field string
	}{
		"code role without redirect_url": {map[string]any{"grant_type": "authorization_code"}, "redirect_url"},
		"redirect_url on client creds":   {map[string]any{"redirect_url": sourceCallback}, "redirect_url"},
		"http redirect_url off loopback": {map[string]any{"grant_type": "authorization_code", "redirect_url": "http://vault.example.com/v1/acquia/callback"}, "redirect_url"},
		"redirect_url with fragment":     {map[string]any{"grant_type": "authorization_code", "redirect_url": sourceCallback + "#x"}, "redirect_url"},
		"unknown grant":                  {map[string]any{"grant_type": "password"}, "grant_type"},
		"ttl over max_ttl":               {map[string]any{"ttl": "2h", "max_ttl": "1h"}, "ttl"},
		"unknown field":                  {map[string]any{"redirect_uri": sourceCallback}, "redirect_uri"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.data["config"] = "site"
			msg, ok := badRequest(h.write("roles/bad", tc.data))
			if !ok || !strings.Contains(msg, tc.field) {
				t.Errorf("want a 400 naming %s, got %s", tc.field, msg)
			}
			if h.stored("roles/bad") {
				t.Error("stored")
			}
		})
	}
	h.mustWrite("roles/cc", map[string]any{"config": "site"})
	msg, ok := badRequest(h.write("authorize/cc", nil))
	if !ok || !strings.Contains(msg, "authorization_code") {
		t.Errorf("authorize on a client-credentials role: %s", msg)
	}
	// Cloud has no user flow.
	h.cloudConfig("cloud", nil)
	msg, ok = badRequest(h.write("roles/bad", map[string]any{"config": "cloud", "grant_type": "authorization_code", "redirect_url": sourceCallback}))
	if !ok || !strings.Contains(msg, "grant_type") {
		t.Errorf("authorization_code on cloud: %s", msg)
	}
}

// browse follows the authorize URL as the user's browser would, up to the
// redirect to Vault, and returns the callback's query.
func (h *harness) browse(authURL string) url.Values {
	h.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), sourceCallback) {
		h.t.Fatalf("authorize answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

func (h *harness) callback(q url.Values, op logical.Operation) (*logical.Response, error) {
	data := map[string]any{}
	for k := range q {
		data[k] = q.Get(k)
	}
	req := &logical.Request{Operation: op, Path: "callback", Data: data, Storage: h.storage, Unauthenticated: true}
	return h.b.HandleRequest(context.Background(), req)
}

func (h *harness) codeRole() {
	h.t.Helper()
	h.mustWrite("roles/user", map[string]any{"config": "site", "grant_type": "authorization_code",
		"redirect_url": sourceCallback, "scopes": "content:read,content:write", "ttl": "5m"})
}

func (h *harness) authorizeRole() url.Values {
	h.t.Helper()
	resp := h.mustWrite("authorize/user", nil)
	return h.browse(resp.Data["url"].(string))
}

func TestSourceAuthorizationCodeFlow(t *testing.T) {
	h := newHarness(t)
	h.sourceSetup(nil)
	h.codeRole()
	if h.mustRead("roles/user").Data["authorized"] != false {
		t.Error("a new role reads as authorized")
	}
	if _, ok := badRequest(h.read("creds/user")); !ok {
		t.Error("creds on an unauthorized role should be a 400 telling to authorize")
	}

	resp := h.mustWrite("authorize/user", nil)
	u, err := url.Parse(resp.Data["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	state := resp.Data["state"].(string)
	want := map[string]string{"client_id": sourceID, "redirect_uri": sourceCallback, "response_type": "code",
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
	if err != nil || !exp.Equal(h.clock.Now().Add(10*time.Minute)) {
		t.Errorf("expires_at %v", resp.Data["expires_at"])
	}

	back := h.browse(u.String())
	back.Set("iss", h.emu.URL()) // extra parameters a provider adds are ignored
	cb, err := h.callback(back, logical.ReadOperation)
	if err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, errText(cb))
	}
	role := h.mustRead("roles/user").Data
	if role["authorized"] != true || role["authorized_at"] == nil {
		t.Errorf("role after callback: %v", role)
	}
	if h.emu.SourceRefreshTokens() != 1 {
		t.Errorf("%d live refresh tokens upstream, want 1", h.emu.SourceRefreshTokens())
	}

	// Replay of the same redirect: 400, and the authorization is unchanged.
	before, _ := h.storage.Get(context.Background(), "role-tokens/user")
	msg, ok := badRequest(h.callback(back, logical.UpdateOperation))
	if !ok || !strings.Contains(msg, "used already") {
		t.Errorf("replayed state: %s", msg)
	}
	after, _ := h.storage.Get(context.Background(), "role-tokens/user")
	if string(before.Value) != string(after.Value) {
		t.Error("a replayed callback changed the stored authorization")
	}

	// creds uses the refresh grant; each read rotates the refresh token.
	var last string
	var seen []map[string]any
	for i := 0; i < 3; i++ {
		r := h.mustRead("creds/user")
		seen = append(seen, r.Data)
		if warned := strings.Contains(strings.Join(r.Warnings, " "), "previous access token"); warned != (i > 0) {
			t.Errorf("read %d: warnings %v; want the retired-token warning from the second read on", i, r.Warnings)
		}
		tok := r.Data["access_token"].(string)
		if testutil.BearerStatus(h.t, httpClient, h.emu.URL()+"/jsonapi", tok) != 200 {
			t.Fatalf("read %d: token refused", i)
		}
		if tok == last {
			t.Error("same token twice")
		}
		last = tok
	}
	if h.emu.SourceRefreshReuses() != 0 || h.emu.SourceRefreshTokens() != 1 {
		t.Errorf("reuses %d, live refresh tokens %d; want 0 and 1", h.emu.SourceRefreshReuses(), h.emu.SourceRefreshTokens())
	}
	for _, c := range h.emu.SourceCredentials() {
		for _, d := range append(seen, cb.Data, role, h.mustRead("roles/user").Data, h.mustRead("config/site").Data) {
			for _, v := range d {
				if s, ok := v.(string); ok && strings.Contains(s, c) {
					t.Error("a read holds a code or refresh token")
				}
			}
		}
	}
}

func TestSourceConcurrentReadsNeverReuseARefreshToken(t *testing.T) {
	h := newHarness(t)
	h.sourceSetup(nil)
	h.codeRole()
	if cb, err := h.callback(h.authorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, errText(cb))
	}
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan string, n)
	toks := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &logical.Request{Operation: logical.ReadOperation, Path: "creds/user", Storage: h.storage}
			resp, err := h.b.HandleRequest(context.Background(), req)
			if err != nil || resp == nil || resp.IsError() {
				errs <- errText(resp) + " " + fmtErr(err)
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
		h.secrets = append(h.secrets, tok)
		seen[tok] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct tokens from %d reads", len(seen), n)
	}
	if r := h.emu.SourceRefreshReuses(); r != 0 {
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
	h := newHarness(t)
	h.sourceSetup(nil)
	h.codeRole()

	// Expired: the state lives 10 minutes.
	back := h.authorizeRole()
	h.clock.Advance(10*time.Minute + time.Second)
	msg, ok := badRequest(h.callback(back, logical.ReadOperation))
	if !ok || !strings.Contains(msg, "expired") {
		t.Errorf("expired state: %s", msg)
	}
	if h.stored("role-tokens/user") {
		t.Error("an expired state stored an authorization")
	}

	for name, q := range map[string]url.Values{
		"unknown state": {"code": {"abc"}, "state": {"forged-state-value"}},
		"missing state": {"code": {"abc"}},
	} {
		msg, ok := badRequest(h.callback(q, logical.ReadOperation))
		if !ok || !strings.Contains(msg, "state") {
			t.Errorf("%s: %s", name, msg)
		}
	}

	// The user says no.
	h.emu.SetSourceDeny(true)
	back = h.authorizeRole()
	if back.Get("error") != "access_denied" {
		t.Fatalf("emulator did not deny: %v", back)
	}
	msg, ok = badRequest(h.callback(back, logical.ReadOperation))
	if !ok || !strings.Contains(msg, "access_denied") {
		t.Errorf("access_denied: %s", msg)
	}
	if h.stored("role-tokens/user") {
		t.Error("a denied authorization stored something")
	}

	// Abandoned states are pruned by the periodic function.
	h.emu.SetSourceDeny(false)
	h.mustWrite("authorize/user", nil)
	h.clock.Advance(11 * time.Minute)
	if err := h.b.Env().PruneStates(context.Background(), &logical.Request{Storage: h.storage}); err != nil {
		t.Fatal(err)
	}
	if keys, _ := h.storage.List(context.Background(), "oauth-state/"); len(keys) != 0 {
		t.Errorf("%d expired states left", len(keys))
	}
}

func TestSourceDeadRefreshTokenSaysAuthorizeAgain(t *testing.T) {
	h := newHarness(t)
	h.sourceSetup(nil)
	h.emu.SetSourceLifetimes(0, time.Hour, 0)
	h.codeRole()
	if cb, err := h.callback(h.authorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, errText(cb))
	}
	h.clock.Advance(2 * time.Hour)
	msg, ok := badRequest(h.read("creds/user"))
	if !ok || !strings.Contains(msg, "invalid_grant") || !strings.Contains(msg, "authorize/user") {
		t.Errorf("dead refresh token: %s", msg)
	}

	// Deleting the role forgets its authorization.
	if _, err := h.do(logical.DeleteOperation, "roles/user", nil); err != nil {
		t.Fatal(err)
	}
	if h.stored("role-tokens/user") {
		t.Error("the authorization outlived its role")
	}
}

func TestSourceRoleConfigChangeDropsAuthorization(t *testing.T) {
	h := newHarness(t)
	h.sourceSetup(map[string]any{"revocation_url": h.emu.URL() + "/oauth/revoke"})
	h.codeRole()
	if cb, err := h.callback(h.authorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, errText(cb))
	}
	h.mustWrite("roles/user", map[string]any{"grant_type": "client_credentials", "redirect_url": ""})
	if h.stored("role-tokens/user") {
		t.Error("the authorization survived a grant change")
	}
	if h.emu.SourceRefreshTokens() != 0 {
		t.Error("the dropped refresh token is still live upstream")
	}
}

func TestSourceUpstreamErrorsNeverShowTheRefreshToken(t *testing.T) {
	h := newHarness(t)
	h.sourceSetup(nil)
	h.codeRole()
	if cb, err := h.callback(h.authorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, errText(cb))
	}
	rt := h.storedRefreshToken()
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/oauth/token", Status: 400,
		Body: `{"error":"invalid_grant","error_description":"refresh token ` + rt + ` is revoked"}`})
	msg, ok := badRequest(h.read("creds/user"))
	if !ok || strings.Contains(msg, rt) || !strings.Contains(msg, "invalid_grant") {
		t.Errorf("echoed refresh token: %s", msg)
	}
	if strings.Contains(h.logs.String(), rt) {
		t.Error("the refresh token reached the log")
	}
}

func (h *harness) storedRefreshToken() string {
	h.t.Helper()
	e, err := h.storage.Get(context.Background(), "role-tokens/user")
	if err != nil || e == nil {
		h.t.Fatalf("no stored authorization: %v", err)
	}
	var rt struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := e.DecodeJSON(&rt); err != nil || rt.RefreshToken == "" {
		h.t.Fatalf("decoding the authorization: %v", err)
	}
	return rt.RefreshToken
}

func TestSourceAuthorizingAgainRetiresTheOldRefreshToken(t *testing.T) {
	h := newHarness(t)
	h.sourceSetup(map[string]any{"revocation_url": h.emu.URL() + "/oauth/revoke", "revoke_user_access_tokens": true})
	h.codeRole()
	for i := 0; i < 2; i++ {
		if cb, err := h.callback(h.authorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
			t.Fatalf("callback %d: %v %v", i, err, errText(cb))
		}
	}
	if n := h.emu.SourceRefreshTokens(); n != 1 {
		t.Errorf("%d live refresh tokens upstream after authorizing twice, want 1", n)
	}
	// The exchanges' own access tokens are leased to nobody: revoked.
	if n := len(h.emu.LiveTokens("source")); n != 0 {
		t.Errorf("%d unleased access tokens live upstream", n)
	}
}

func TestSourceCallbackExchangeFailures(t *testing.T) {
	h := newHarness(t)
	h.sourceSetup(map[string]any{"revocation_url": h.emu.URL() + "/oauth/revoke"})
	h.codeRole()

	// The site refuses the code: a 400 naming the upstream code, nothing stored.
	back := h.authorizeRole()
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/oauth/token", Status: 400,
		Body: `{"error":"invalid_grant","error_description":"The authorization code has expired"}`})
	msg, ok := badRequest(h.callback(back, logical.ReadOperation))
	if !ok || !strings.Contains(msg, "invalid_grant") || !strings.Contains(msg, "authorize/user") {
		t.Errorf("refused code: %s", msg)
	}
	if h.stored("role-tokens/user") {
		t.Error("a refused exchange stored an authorization")
	}

	// No refresh token in the answer: a 400, and the access token revoked.
	back = h.authorizeRole()
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/oauth/token", Status: 200,
		Body: `{"access_token":"orphan-token","token_type":"Bearer","expires_in":300}`})
	revokes := h.emu.Requests("/oauth/revoke")
	msg, ok = badRequest(h.callback(back, logical.ReadOperation))
	if !ok || !strings.Contains(msg, "no refresh token") {
		t.Errorf("no refresh token: %s", msg)
	}
	if h.stored("role-tokens/user") {
		t.Error("stored an authorization without a refresh token")
	}
	if h.emu.Requests("/oauth/revoke") != revokes+1 {
		t.Error("the unleased access token was not revoked")
	}
}
