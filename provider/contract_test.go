package provider_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// The contract test: every upstream call the clients make, against the
// emulator in its strictest mode, checked for method, path and query, where
// the credentials go and how they are encoded, the body's encoding and
// every field sent, and every field read back. The list of calls in docs/development.md
// ("The emulator") is this file's.

type sent struct {
	method, path, query string
	header              http.Header
	body                []byte
}

type recorder struct {
	mu    sync.Mutex
	calls []sent
}

func (r *recorder) take() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// strictest starts the emulator in its strictest mode behind a recorder.
func strictest(t *testing.T) (*emulator.Emulator, string, *recorder) {
	t.Helper()
	emu := emulator.New()
	emu.SetStrictest()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		rec.mu.Lock()
		rec.calls = append(rec.calls, sent{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), b})
		rec.mu.Unlock()
		emu.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(emu.Close)
	return emu, srv.URL, rec
}

// Where the client's credentials go.
const (
	basicRaw  = "Basic, raw"                       // base64(id:secret) as they are
	basicForm = "Basic, form-encoded"              // RFC 6749 §2.3.1
	inBody    = "client_id, client_secret in body" // form fields
	bearer    = "Bearer"
	noAuth    = "none"
)

// call is one upstream call as the plugin must make it.
type call struct {
	name        string // as docs/development.md lists it
	method      string
	path        string
	query       string // exact
	auth        string
	bearer      string // the Bearer credential; "*" any
	contentType string // the body's media type; "" no body
	form        map[string]string
	jsonNoBody  bool // Content-Type: application/json and no body (CDP)
	// jsonBody is every field of a JSON object body, exactly.
	jsonBody map[string]string
}

// check compares the calls made with the contract, in order.
func check(t *testing.T, got []sent, id, secret string, want ...call) {
	t.Helper()
	if len(got) != len(want) {
		var names []string
		for _, g := range got {
			names = append(names, g.method+" "+g.path+"?"+g.query)
		}
		t.Fatalf("%d calls %v, want %d", len(got), names, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.method != w.method || g.path != w.path || g.query != w.query {
			t.Errorf("%s: %s %s?%s, want %s %s?%s", w.name, g.method, g.path, g.query, w.method, w.path, w.query)
		}
		mt, _, _ := mime.ParseMediaType(g.header.Get("Content-Type"))
		var form url.Values
		switch {
		case w.jsonNoBody:
			if mt != "application/json" || len(g.body) != 0 {
				t.Errorf("%s: Content-Type %q, body %q; want application/json and no body", w.name, mt, g.body)
			}
		case w.jsonBody != nil:
			var body map[string]string
			if err := json.Unmarshal(g.body, &body); mt != "application/json" || err != nil || !maps.Equal(body, w.jsonBody) {
				t.Errorf("%s: Content-Type %q, body %s; want application/json %v", w.name, mt, g.body, w.jsonBody)
			}
		case w.contentType == "":
			if len(g.body) != 0 {
				t.Errorf("%s: body %q, want none", w.name, g.body)
			}
		default:
			if mt != w.contentType {
				t.Errorf("%s: Content-Type %q, want %q", w.name, mt, w.contentType)
			}
			var err error
			if form, err = url.ParseQuery(string(g.body)); err != nil {
				t.Errorf("%s: body is not form encoding: %v", w.name, err)
			}
			var keys, wantKeys []string
			for k, v := range form {
				keys = append(keys, k)
				if len(v) != 1 {
					t.Errorf("%s: %s sent %d times", w.name, k, len(v))
				}
			}
			for k, v := range w.form {
				wantKeys = append(wantKeys, k)
				if got := form.Get(k); v == "*" && got == "" || v != "*" && got != v {
					t.Errorf("%s: %s=%q, want %q", w.name, k, got, v)
				}
			}
			sort.Strings(keys)
			sort.Strings(wantKeys)
			if !slices.Equal(keys, wantKeys) {
				t.Errorf("%s: form fields %v, want %v", w.name, keys, wantKeys)
			}
		}
		if a, tok := authOf(g, form, id, secret); a != w.auth || w.auth == bearer && w.bearer != "*" && tok != w.bearer {
			t.Errorf("%s: auth %s, want %s", w.name, a, w.auth)
		}
	}
}

func authOf(g sent, form url.Values, id, secret string) (string, string) {
	h := g.header.Get("Authorization")
	switch {
	case strings.HasPrefix(h, "Basic "):
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
		switch string(raw) {
		case id + ":" + secret:
			return basicRaw, ""
		case url.QueryEscape(id) + ":" + url.QueryEscape(secret):
			return basicForm, ""
		}
		return "Basic, other", ""
	case strings.HasPrefix(h, "Bearer "):
		return bearer, strings.TrimPrefix(h, "Bearer ")
	case form.Has("client_secret"):
		return inBody, ""
	}
	return noAuth, ""
}

const formType = "application/x-www-form-urlencoded"

// expiresNear checks an expiry the client derived from an answer against
// the emulator's: never later, and at most a few seconds earlier.
func expiresNear(t *testing.T, what string, got, upstream time.Time) {
	t.Helper()
	if got.After(upstream) || upstream.Sub(got) > 5*time.Second {
		t.Errorf("%s: expires %s, upstream %s", what, got, upstream)
	}
}

func mustNew(t *testing.T, c provider.Config) provider.Client {
	t.Helper()
	c.RequestTimeout = 10 * time.Second
	cl, err := provider.New(c, provider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestContractCloud(t *testing.T) {
	emu, base, rec := strictest(t)
	const id, secret, org = "contract-cloud", "c+l/o=ud==", "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	emu.AddCloudClient(emulator.CloudClient{ID: id, Secret: secret, Orgs: []string{org}})
	c := mustNew(t, provider.Config{Provider: "cloud", ClientID: id, ClientSecret: secret,
		TokenURL: base + "/api/auth/oauth/token", APIURL: base + "/api"})
	ctx := context.Background()
	token := call{name: "cloud token", method: "POST", path: "/api/auth/oauth/token", auth: inBody, contentType: formType,
		form: map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret, "scope": "organization:" + org}}

	tok, err := c.Token(ctx, []string{"organization:" + org})
	if err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, token)
	up, _ := emu.Token(tok.AccessToken)
	expiresNear(t, "cloud token", tok.ExpiresAt, up.ExpiresAt)
	if up.Service != "cloud" || !slices.Equal(tok.Scopes, []string{"organization:" + org}) {
		t.Errorf("cloud token: %s token, scopes %v", up.Service, tok.Scopes)
	}

	if _, err := c.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	delete(token.form, "scope")
	check(t, rec.take(), id, secret, token,
		call{name: "cloud account check", method: "GET", path: "/api/account", auth: bearer, bearer: "*"})

	// The key API (rotate-root), answering as the spec shows it.
	kr := c.(provider.KeyRotator)
	key, err := kr.CreateKey(ctx, "contract key")
	if err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, token,
		call{name: "cloud key create", method: "POST", path: "/api/account/tokens", auth: bearer, bearer: "*",
			jsonBody: map[string]string{"label": "contract key"}})
	if key.ClientID == "" || key.ClientSecret == "" || key.UUID != "" {
		t.Errorf("cloud key create read %+v: want the credentials and no uuid", provider.APIKey{ClientID: key.ClientID, UUID: key.UUID})
	}
	keys, err := kr.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, token, call{name: "cloud key list", method: "GET", path: "/api/account/tokens", auth: bearer, bearer: "*"})
	var uuid string
	for _, k := range keys {
		if k.Label == "contract key" && k.Active {
			uuid = k.UUID
		}
	}
	if !provider.IsUUID(uuid) || uuid == key.ClientID {
		t.Fatalf("cloud key list read %+v: no live key labelled as created", keys)
	}
	got, err := kr.GetKey(ctx, uuid)
	if err != nil || got == nil || got.UUID != uuid || got.Label != "contract key" || !got.Active {
		t.Fatalf("cloud key read: %+v, %v", got, err)
	}
	check(t, rec.take(), id, secret, token, call{name: "cloud key read", method: "GET", path: "/api/account/tokens/" + uuid, auth: bearer, bearer: "*"})
	if err := kr.DeleteKey(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, token, call{name: "cloud key delete", method: "DELETE", path: "/api/account/tokens/" + uuid, auth: bearer, bearer: "*"})
	if got, err := kr.GetKey(ctx, uuid); err != nil || got == nil || got.Active {
		t.Errorf("a deleted key reads %+v, %v; want it inactive", got, err)
	}
	rec.take()
	if got, err := kr.GetKey(ctx, key.ClientID); err == nil && got != nil {
		t.Errorf("the client id %s found a key: the spec's uuids are their own", key.ClientID)
	}
}

func TestContractSource(t *testing.T) {
	emu, base, rec := strictest(t)
	const id, secret, redirect = "contract-source", "s+o/u=rce==", "https://vault.example.com/v1/acquia/callback"
	emu.AddSourceClient(emulator.SourceClient{ID: id, Secret: secret, RedirectURIs: []string{redirect}})
	c := mustNew(t, provider.Config{Provider: "source", ClientID: id, ClientSecret: secret, BaseURL: base,
		RevocationURL: base + "/oauth/revoke"})
	ctx := context.Background()
	creds := func(kv ...string) map[string]string {
		m := map[string]string{"client_id": id, "client_secret": secret}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tokenCall := func(name string, kv ...string) call {
		return call{name: name, method: "POST", path: "/oauth/token", auth: inBody, contentType: formType, form: creds(kv...)}
	}
	revokeCall := func(name, tok, hint string) call {
		return call{name: name, method: "POST", path: "/oauth/revoke", auth: inBody, contentType: formType,
			form: creds("token", tok, "token_type_hint", hint)}
	}

	cc, err := c.Token(ctx, []string{"content:read", "content:write"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, tokenCall("source token", "grant_type", "client_credentials", "scope", "content:read content:write"))
	up, _ := emu.Token(cc.AccessToken)
	expiresNear(t, "source token", cc.ExpiresAt, up.ExpiresAt)
	if !slices.Equal(cc.Scopes, []string{"content:read", "content:write"}) || up.Scope != "content:read content:write" {
		t.Errorf("source token scopes %v, upstream %q", cc.Scopes, up.Scope)
	}

	// authorize: a URL for the browser, which the test follows.
	cg := c.(provider.CodeGranter)
	verifier := strings.Repeat("v", 43)
	u, err := url.Parse(cg.AuthCodeURL("st4te", verifier, redirect, []string{"content:read"}))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	var keys []string
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if u.Path != "/oauth/authorize" || !slices.Equal(keys, []string{"client_id", "code_challenge", "code_challenge_method",
		"redirect_uri", "response_type", "scope", "state"}) || q.Get("client_id") != id || q.Get("redirect_uri") != redirect ||
		q.Get("response_type") != "code" || q.Get("scope") != "content:read" || q.Get("state") != "st4te" ||
		q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 {
		t.Errorf("source authorize URL %s", u)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	rec.take()

	user, err := cg.Exchange(ctx, code, verifier, redirect)
	if err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, tokenCall("source code exchange", "grant_type", "authorization_code", "code", code,
		"redirect_uri", redirect, "code_verifier", verifier))
	up, _ = emu.Token(user.AccessToken)
	expiresNear(t, "source code exchange", user.ExpiresAt, up.ExpiresAt)
	if !emu.SourceRefreshLive(user.RefreshToken) {
		t.Error("source code exchange: the refresh token read is not live upstream")
	}

	next, err := cg.Refresh(ctx, user.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, tokenCall("source refresh", "grant_type", "refresh_token", "refresh_token", user.RefreshToken))
	if next.RefreshToken == user.RefreshToken || !emu.SourceRefreshLive(next.RefreshToken) || !emu.TokenLive(next.AccessToken) {
		t.Error("source refresh: the rotated refresh token or the access token was not read")
	}

	if err := c.(provider.RefreshRevoker).RevokeRefresh(ctx, next.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if err := c.(provider.Revoker).Revoke(ctx, cc.AccessToken); err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, revokeCall("source revoke refresh token", next.RefreshToken, "refresh_token"),
		revokeCall("source revoke", cc.AccessToken, "access_token"))
	if emu.SourceRefreshLive(next.RefreshToken) || emu.TokenLive(cc.AccessToken) {
		t.Error("source revoke: tokens live")
	}

	if _, err := c.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, tokenCall("source token", "grant_type", "client_credentials"),
		revokeCall("source revoke", "*", "access_token"))

	// A consumer refused client_credentials: verify's credential probe.
	emu.AddSourceClient(emulator.SourceClient{ID: id, Secret: secret, Grants: []string{"authorization_code", "refresh_token"}})
	if w, err := c.Verify(ctx); err != nil || len(w) != 1 {
		t.Fatalf("verify of a consumer without client credentials: %v %v", w, err)
	}
	check(t, rec.take(), id, secret, tokenCall("source token", "grant_type", "client_credentials"),
		tokenCall("source credential probe", "grant_type", "refresh_token", "refresh_token", "vault-credential-check"))
}

func TestContractCDP(t *testing.T) {
	emu, base, rec := strictest(t)
	const user, pass = "tracker_contract", "p@ss:w+/=rd"
	expiry := time.Now().Add(5 * 24 * time.Hour).UTC().Truncate(time.Millisecond)
	emu.AddCDPUser(emulator.CDPUser{Username: user, Password: pass, TenantID: "7123", PasswordExpiry: expiry})
	c := mustNew(t, provider.Config{Provider: "cdp", Username: user, Password: pass, BaseURL: base, MaxTokens: 2})
	ctx := context.Background()
	cdp := func(name, method, path, query, auth, tok string) call {
		return call{name: name, method: method, path: path, query: query, auth: auth, bearer: tok, jsonNoBody: true}
	}
	retrieve := cdp("cdp retrieve", "GET", "/token", "scheme=a1user", basicRaw, "")
	deleteAll := cdp("cdp delete all", "DELETE", "/token", "scheme=a1user", basicRaw, "")
	login := cdp("cdp login", "POST", "/authentication", "action=login", basicRaw, "")
	logout := cdp("cdp logout", "POST", "/authentication", "action=logout", bearer, "*")

	// retrieve, for a user holding the token CDP made for it.
	w, err := c.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), user, pass, retrieve)
	if all := strings.Join(w, " "); !strings.Contains(all, "already holds at least 1 live token") || !strings.Contains(all, "password expires on") {
		t.Errorf("cdp retrieve: warnings %v", w)
	}

	tok, err := c.Token(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), user, pass, cdp("cdp create", "POST", "/token", "scheme=a1user&action=create", basicRaw, ""))
	up, _ := emu.Token(tok.AccessToken)
	expiresNear(t, "cdp create", tok.ExpiresAt, up.ExpiresAt)
	if parsed, ok := provider.ParseCDPDate(tok.Data["password_expiry_date"]); !ok || !parsed.Equal(expiry) ||
		tok.Data["tenant_id"] != "7123" || tok.Data["username"] != user || tok.Data["user_type"] != "CLIENT" {
		t.Errorf("cdp create: data %v", tok.Data)
	}

	ext, err := c.(provider.Renewer).Renew(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), user, pass, cdp("cdp extend", "POST", "/token", "scheme=a1user&action=extend", bearer, tok.AccessToken))
	up, _ = emu.Token(tok.AccessToken)
	expiresNear(t, "cdp extend", ext.ExpiresAt, up.ExpiresAt)

	if err := c.(provider.Revoker).Revoke(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), user, pass, cdp("cdp delete one", "DELETE", "/token", "scheme=a1user", bearer, tok.AccessToken))
	if emu.TokenLive(tok.AccessToken) {
		t.Error("cdp delete one: token live")
	}

	if _, err := c.Token(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rec.take()
	ur := c.(provider.UserRevoker)
	if err := ur.RevokeAll(ctx); err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), user, pass, deleteAll)
	if n := len(emu.LiveTokens("cdp")); n != 0 {
		t.Errorf("cdp delete all: %d tokens live", n)
	}

	// Nothing left: the strictest server answers 401, and login tells the
	// credentials good.
	if err := ur.RevokeAll(ctx); err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), user, pass, deleteAll, login, logout)
	if w, err := c.Verify(ctx); err != nil || len(w) != 0 {
		t.Fatalf("verify of a user without tokens: %v %v", w, err)
	}
	check(t, rec.take(), user, pass, retrieve, login, logout)
	if n := len(emu.LiveTokens("cdp-session")); n != 0 {
		t.Errorf("%d login sessions left live", n)
	}
}

func TestContractAcronis(t *testing.T) {
	emu, base, rec := strictest(t)
	const id, secret = "contract-acronis", "a+c/r=o:nis"
	emu.AddAcronisClient(emulator.AcronisClient{ID: id, Secret: secret, TenantID: "t-1"})
	c := mustNew(t, provider.Config{Provider: "acronis", ClientID: id, ClientSecret: secret, BaseURL: base})
	ctx := context.Background()
	token := call{name: "acronis token", method: "POST", path: "/bc/idp/token", auth: basicRaw, contentType: formType,
		form: map[string]string{"grant_type": "client_credentials"}}
	revokeBasic := func(tok string) call {
		return call{name: "acronis revoke", method: "POST", path: "/api/2/idp/revoke_token", auth: basicRaw, contentType: formType,
			form: map[string]string{"token": tok, "token_type_hint": "access_token"}}
	}

	tok, err := c.Token(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, token)
	up, _ := emu.Token(tok.AccessToken)
	if !tok.ExpiresAt.Equal(up.ExpiresAt.Truncate(time.Second)) || strings.Count(tok.Data["id_token"], ".") != 2 {
		t.Errorf("acronis token: expires %s (upstream %s), id_token %q", tok.ExpiresAt, up.ExpiresAt, tok.Data["id_token"])
	}

	if _, err := c.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, token,
		call{name: "acronis client check", method: "GET", path: "/api/2/clients/" + id, auth: bearer, bearer: "*"},
		revokeBasic("*"))

	rv := c.(provider.Revoker)
	if err := rv.Revoke(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, revokeBasic(tok.AccessToken))

	// Where the data center takes the token itself: one retry with Bearer.
	emu.SetAcronisRevokeWithBearer(true)
	tok, err = c.Token(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.take()
	if err := rv.Revoke(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, secret, revokeBasic(tok.AccessToken),
		call{name: "acronis revoke, Bearer", method: "POST", path: "/api/2/idp/revoke_token", auth: bearer, bearer: tok.AccessToken,
			contentType: formType, form: map[string]string{"token": tok.AccessToken, "token_type_hint": "access_token"}})
	if emu.TokenLive(tok.AccessToken) {
		t.Error("acronis revoke: token live")
	}
}

func TestContractOAuth2(t *testing.T) {
	emu, base, rec := strictest(t)
	const id, secret = "contract-oauth2", "o+a/u=th:2"
	emu.AddOAuth2Client(emulator.OAuth2Client{ID: id, Secret: secret})
	ctx := context.Background()
	for _, style := range []string{provider.AuthStyleBody, provider.AuthStyleBasic} {
		c := mustNew(t, provider.Config{Provider: "oauth2", ClientID: id, ClientSecret: secret, AuthStyle: style,
			TokenURL: base + "/oauth2/token", RevocationURL: base + "/oauth2/revoke"})
		auth, creds := basicForm, map[string]string{}
		if style == provider.AuthStyleBody {
			auth, creds = inBody, map[string]string{"client_id": id, "client_secret": secret}
		}
		with := func(kv ...string) map[string]string {
			m := map[string]string{}
			for k, v := range creds {
				m[k] = v
			}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m
		}
		tok, err := c.Token(ctx, []string{"read", "write"})
		if err != nil {
			t.Fatal(err)
		}
		check(t, rec.take(), id, secret, call{name: "oauth2 token, " + style, method: "POST", path: "/oauth2/token", auth: auth,
			contentType: formType, form: with("grant_type", "client_credentials", "scope", "read write")})
		up, _ := emu.Token(tok.AccessToken)
		expiresNear(t, "oauth2 token", tok.ExpiresAt, up.ExpiresAt)
		if !slices.Equal(tok.Scopes, []string{"read", "write"}) {
			t.Errorf("oauth2 token: scopes %v", tok.Scopes)
		}
		if err := c.(provider.Revoker).Revoke(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		check(t, rec.take(), id, secret, call{name: "oauth2 revoke, " + style, method: "POST", path: "/oauth2/revoke", auth: auth,
			contentType: formType, form: with("token", tok.AccessToken, "token_type_hint", "access_token")})
		if emu.TokenLive(tok.AccessToken) {
			t.Error("oauth2 revoke: token live")
		}
	}
}

// private_key_jwt: the token and revocation calls carry client_id and a
// client assertion in the body, no secret and no Authorization header;
// the strictest emulator verifies each assertion (aud: the token URL).
func TestContractOAuth2PrivateKeyJWT(t *testing.T) {
	emu, base, rec := strictest(t)
	const id = "contract-oauth2-jwt"
	key, err := provider.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := provider.Config{Provider: "oauth2", ClientID: id, AuthStyle: provider.AuthStylePrivateKeyJWT, PrivateKey: key,
		TokenURL: base + "/oauth2/token", RevocationURL: base + "/oauth2/revoke"}
	jwks, err := provider.PublicJWKS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(jwks)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	emu.AddOAuth2Client(emulator.OAuth2Client{ID: id, JWKS: &set})
	c := mustNew(t, cfg)
	ctx := context.Background()
	assertion := func(kv ...string) map[string]string {
		m := map[string]string{"client_id": id, "client_assertion_type": provider.ClientAssertionType, "client_assertion": "*"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tok, err := c.Token(ctx, []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, "", call{name: "oauth2 token, private_key_jwt", method: "POST", path: "/oauth2/token", auth: noAuth,
		contentType: formType, form: assertion("grant_type", "client_credentials", "scope", "read")})
	if err := c.(provider.Revoker).Revoke(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	check(t, rec.take(), id, "", call{name: "oauth2 revoke, private_key_jwt", method: "POST", path: "/oauth2/revoke", auth: noAuth,
		contentType: formType, form: assertion("token", tok.AccessToken, "token_type_hint", "access_token")})
	if emu.TokenLive(tok.AccessToken) {
		t.Error("oauth2 revoke: token live")
	}
}

// The device grant (RFC 8628): the device authorization request and the
// token endpoint polls, under both auth styles; the client reads the
// answer's fields, the polls' refusals by code, then the tokens.
func TestContractOAuth2Device(t *testing.T) {
	emu, base, rec := strictest(t)
	const id, secret = "contract-device", "d+e/v=ice:2"
	emu.AddOAuth2Client(emulator.OAuth2Client{ID: id, Secret: secret})
	ctx := context.Background()
	for _, style := range []string{provider.AuthStyleBody, provider.AuthStyleBasic} {
		c := mustNew(t, provider.Config{Provider: "oauth2", ClientID: id, ClientSecret: secret, AuthStyle: style,
			TokenURL: base + "/oauth2/token", DeviceAuthorizationURL: base + "/oauth2/device_authorization"})
		dg := c.(provider.DeviceGranter)
		auth, creds := basicForm, map[string]string{"client_id": id}
		if style == provider.AuthStyleBody {
			auth, creds = inBody, map[string]string{"client_id": id, "client_secret": secret}
		}
		da, err := dg.DeviceAuthorize(ctx, []string{"read", "write"})
		if err != nil {
			t.Fatal(err)
		}
		check(t, rec.take(), id, secret, call{name: "oauth2 device authorization, " + style, method: "POST",
			path: "/oauth2/device_authorization", auth: auth, contentType: formType, form: withKV(creds, "scope", "read write")})
		if da.DeviceCode == "" || da.UserCode == "" || !strings.HasSuffix(da.VerificationURI, "/oauth2/device") ||
			!strings.Contains(da.VerificationURIComplete, da.UserCode) || da.Interval != 5*time.Second ||
			da.ExpiresIn < 595*time.Second || da.ExpiresIn > 600*time.Second {
			t.Errorf("device authorization read %+v", da)
		}
		tokenCreds := map[string]string{}
		if style == provider.AuthStyleBody {
			tokenCreds = creds
		}
		poll := call{name: "oauth2 device token, " + style, method: "POST", path: "/oauth2/token", auth: auth, contentType: formType,
			form: withKV(tokenCreds, "grant_type", provider.DeviceCodeGrant, "device_code", da.DeviceCode)}
		if _, err := dg.DevicePoll(ctx, da.DeviceCode); !provider.HasCode(err, "authorization_pending") ||
			strings.Contains(err.Error(), da.DeviceCode) {
			t.Errorf("poll before the answer: %v", err)
		}
		check(t, rec.take(), id, secret, poll)
		emu.OAuth2DeviceAnswer(da.UserCode, true)
		emu.Advance(5 * time.Second)
		tok, err := dg.DevicePoll(ctx, da.DeviceCode)
		if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" || !emu.TokenLive(tok.AccessToken) {
			t.Fatalf("poll after approval: %v %+v", err, tok)
		}
		check(t, rec.take(), id, secret, poll)
		if _, err := dg.DevicePoll(ctx, da.DeviceCode); !provider.HasCode(err, "invalid_grant") {
			t.Errorf("a used device code: %v", err)
		}
		rec.take()
	}
}

func withKV(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}
