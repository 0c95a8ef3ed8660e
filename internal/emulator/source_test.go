package emulator_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

const (
	srcCallback = "http://127.0.0.1:8200/v1/acquia/callback"
	srcState    = "st8 +/=&é"
	// srcVerifier is 43 characters, the shortest RFC 7636 allows.
	srcVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

var (
	srcBasic = emulator.DemoSourceClientID + ":" + emulator.DemoSourceClientSecret
	// noFollow leaves redirects to the test, which reads Location itself.
	noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
)

func srcChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// srcCreds appends the demo client's body credentials to kv.
func srcCreds(kv ...string) string {
	return form(append(kv, "client_id", emulator.DemoSourceClientID, "client_secret", emulator.DemoSourceClientSecret)...)
}

func srcPost(t *testing.T, base, body string) reply {
	t.Helper()
	return mustCall(t, "POST", base+"/oauth/token", formType, body, "", "")
}

type authReply struct {
	status   int
	location *url.URL // nil when the answer is not a redirect
	header   http.Header
	raw      string
}

// srcAuthorize GETs /oauth/authorize with query kv and does not follow the
// redirect.
func srcAuthorize(t *testing.T, base string, accept string, kv ...string) authReply {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/oauth/authorize?"+form(kv...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := authReply{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	if loc := resp.Header.Get("Location"); loc != "" {
		if r.location, err = url.Parse(loc); err != nil {
			t.Fatalf("Location %q: %v", loc, err)
		}
	}
	return r
}

// srcAuthParams is a valid PKCE authorization request for the demo
// client, with each key of overrides replaced (or added).
func srcAuthParams(overrides ...string) []string {
	p := []string{"response_type", "code", "client_id", emulator.DemoSourceClientID, "redirect_uri", srcCallback,
		"scope", emulator.DemoSourceScope, "state", srcState,
		"code_challenge", srcChallenge(srcVerifier), "code_challenge_method", "S256"}
next:
	for j := 0; j+1 < len(overrides); j += 2 {
		for i := 0; i < len(p); i += 2 {
			if p[i] == overrides[j] {
				p[i+1] = overrides[j+1]
				continue next
			}
		}
		p = append(p, overrides[j], overrides[j+1])
	}
	return p
}

// srcWithout drops keys from query parameters p.
func srcWithout(p []string, keys ...string) []string {
	var out []string
	for i := 0; i+1 < len(p); i += 2 {
		if !slices.Contains(keys, p[i]) {
			out = append(out, p[i], p[i+1])
		}
	}
	return out
}

// srcCode runs the authorization step and returns the code.
func srcCode(t *testing.T, base string, kv ...string) string {
	t.Helper()
	r := srcAuthorize(t, base, "", kv...)
	if r.status != http.StatusFound || r.location == nil {
		t.Fatalf("authorize: %d %s", r.status, r.raw)
	}
	q := r.location.Query()
	if q.Get("code") == "" || q.Get("error") != "" {
		t.Fatalf("authorize redirect %s", r.location)
	}
	return q.Get("code")
}

// srcUserTokens runs the whole PKCE code flow and returns the tokens.
func srcUserTokens(t *testing.T, base string) (access, refresh string) {
	t.Helper()
	code := srcCode(t, base, srcAuthParams()...)
	r := srcPost(t, base, srcCreds("grant_type", "authorization_code", "code", code, "redirect_uri", srcCallback, "code_verifier", srcVerifier))
	access, _ = r.body["access_token"].(string)
	refresh, _ = r.body["refresh_token"].(string)
	if r.status != 200 || access == "" || refresh == "" {
		t.Fatalf("exchange: %d %s", r.status, r.raw)
	}
	return access, refresh
}

func srcRefresh(t *testing.T, base, refresh string, kv ...string) reply {
	t.Helper()
	return srcPost(t, base, srcCreds(append([]string{"grant_type", "refresh_token", "refresh_token", refresh}, kv...)...))
}

// srcMe answers who /jsonapi says owns bearer, or "" with the status.
func srcMe(t *testing.T, base, bearer string) (string, int) {
	t.Helper()
	r := mustCall(t, "GET", base+"/jsonapi", "", "", "", bearer)
	if r.status != 200 {
		if r.body["error"] != "invalid_token" || r.header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
			t.Fatalf("jsonapi %d: %v %s", r.status, r.header, r.raw)
		}
		return "", r.status
	}
	var doc struct {
		JSONAPI struct{ Version string } `json:"jsonapi"`
		Meta    struct {
			Links struct {
				Me struct {
					Meta struct{ ID string } `json:"meta"`
				} `json:"me"`
			} `json:"links"`
		} `json:"meta"`
	}
	if err := json.Unmarshal([]byte(r.raw), &doc); err != nil || doc.JSONAPI.Version != "1.0" {
		t.Fatalf("jsonapi body %s: %v", r.raw, err)
	}
	return doc.Meta.Links.Me.Meta.ID, r.status
}

// wantSourceError checks the RFC 6749 error shape and that nothing secret
// came back.
func wantSourceError(t *testing.T, r reply, status int, code string, secrets ...string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
	if d, _ := r.body["error_description"].(string); d == "" {
		t.Fatalf("no error_description: %s", r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	for _, s := range append(secrets, emulator.DemoSourceClientSecret) {
		if s != "" && strings.Contains(r.raw, s) {
			t.Fatalf("error body echoes a secret: %s", r.raw)
		}
	}
}

func TestSourceClientCredentials(t *testing.T) {
	e, base := start(t)
	id, secret := emulator.DemoSourceClientID, emulator.DemoSourceClientSecret
	encodedBasic := url.QueryEscape(id) + ":" + url.QueryEscape(secret) // RFC 6749 §2.3.1
	cc := "client_credentials"
	cases := []struct {
		name   string
		method string
		body   string
		basic  string
		status int
		code   string // "" for success
		scope  string
	}{
		{"body creds", "POST", srcCreds("grant_type", cc), "", 200, "", ""},
		{"body creds with scopes", "POST", srcCreds("grant_type", cc, "scope", emulator.DemoSourceScope), "", 200, "", emulator.DemoSourceScope},
		{"repeated scope folded", "POST", srcCreds("grant_type", cc, "scope", "content:read content:read"), "", 200, "", "content:read"},
		{"raw Basic", "POST", form("grant_type", cc, "scope", "content:read"), srcBasic, 200, "", "content:read"},
		{"url-encoded Basic (server quirk)", "POST", form("grant_type", cc), encodedBasic, 401, "invalid_client", ""},
		{"Basic and body secret", "POST", srcCreds("grant_type", cc), srcBasic, 400, "invalid_request", ""},
		{"wrong secret", "POST", form("grant_type", cc, "client_id", id, "client_secret", "wrong+secret"), "", 401, "invalid_client", ""},
		{"secret sent unencoded", "POST", "grant_type=client_credentials&client_id=" + id + "&client_secret=" + secret, "", 401, "invalid_client", ""},
		{"unknown client", "POST", form("grant_type", cc, "client_id", "who", "client_secret", secret), "", 401, "invalid_client", ""},
		{"missing secret", "POST", form("grant_type", cc, "client_id", id), "", 400, "invalid_request", ""},
		{"scope not allowed", "POST", srcCreds("grant_type", cc, "scope", "content:read admin"), "", 400, "invalid_scope", ""},
		{"scope with two spaces", "POST", srcCreds("grant_type", cc, "scope", "content:read  content:write"), "", 400, "invalid_scope", ""},
		{"missing grant_type", "POST", srcCreds(), "", 400, "invalid_request", ""},
		{"password grant", "POST", srcCreds("grant_type", "password"), "", 400, "unsupported_grant_type", ""},
		{"GET", "GET", "", "", 405, "invalid_request", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.Tokens("source"))
			r := mustCall(t, tc.method, base+"/oauth/token", formType, tc.body, tc.basic, "")
			if tc.code != "" {
				wantSourceError(t, r, tc.status, tc.code, "wrong+secret")
				if n := len(e.Tokens("source")); n != before {
					t.Fatalf("a failed request issued a token")
				}
				if tc.status == 401 && tc.basic != "" && r.header.Get("WWW-Authenticate") == "" {
					t.Fatal("no WWW-Authenticate after failed Basic")
				}
				return
			}
			tok, _ := r.body["access_token"].(string)
			if r.status != 200 || tok == "" || r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(300) ||
				r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d %v %s", r.status, r.header, r.raw)
			}
			if _, has := r.body["refresh_token"]; has {
				t.Fatalf("client_credentials returned a refresh token: %s", r.raw)
			}
			// simple_oauth does not repeat the scope; the token holds it.
			if got, has := r.body["scope"]; has {
				t.Fatalf("the answer repeats scope %v", got)
			}
			if et, _ := e.Token(tok); et.Scope != tc.scope {
				t.Fatalf("scope %q, want %q", et.Scope, tc.scope)
			}
			if who, _ := srcMe(t, base, tok); who != id {
				t.Fatalf("jsonapi says %q, want the client", who)
			}
		})
	}
}

func TestSourceCodeFlowPKCE(t *testing.T) {
	e, base := start(t)
	redirect := srcCallback + "?keep=1&x=a%2Bb"
	r := srcAuthorize(t, base, "", srcAuthParams("redirect_uri", redirect)...)
	if r.status != http.StatusFound || r.location == nil {
		t.Fatalf("authorize: %d %s", r.status, r.raw)
	}
	loc := r.location
	q := loc.Query()
	if loc.Scheme+"://"+loc.Host+loc.Path != srcCallback || !strings.HasPrefix(loc.RawQuery, "keep=1&x=a%2Bb&") {
		t.Fatalf("redirect %s does not keep the redirect_uri", loc)
	}
	if q.Get("state") != srcState || q.Get("code") == "" || q.Has("error") {
		t.Fatalf("redirect query %v", q)
	}

	tr := srcPost(t, base, srcCreds("grant_type", "authorization_code", "code", q.Get("code"), "redirect_uri", redirect, "code_verifier", srcVerifier))
	access, _ := tr.body["access_token"].(string)
	refresh, _ := tr.body["refresh_token"].(string)
	if tr.status != 200 || access == "" || refresh == "" || tr.body["token_type"] != "Bearer" || tr.body["expires_in"] != float64(300) ||
		tr.body["scope"] != nil || tr.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("exchange: %d %v %s", tr.status, tr.header, tr.raw)
	}
	if who, _ := srcMe(t, base, access); who != emulator.DemoSourceUser {
		t.Fatalf("jsonapi says %q, want the user", who)
	}
	if live := e.LiveTokens("source"); len(live) != 1 || live[0].Value != access || live[0].Scope != emulator.DemoSourceScope {
		t.Fatalf("live tokens %v", live)
	}
	if !e.SourceRefreshLive(refresh) || e.SourceRefreshTokens() != 1 || e.TokenLive(refresh) {
		t.Fatal("the refresh token is not kept apart from access tokens")
	}

	// Without PKCE the flow works too, and Basic is accepted.
	code := srcCode(t, base, srcWithout(srcAuthParams(), "code_challenge", "code_challenge_method")...)
	tr = mustCall(t, "POST", base+"/oauth/token", formType, form("grant_type", "authorization_code", "code", code, "redirect_uri", srcCallback), srcBasic, "")
	if tr.status != 200 || tr.body["refresh_token"] == nil {
		t.Fatalf("exchange without PKCE: %d %s", tr.status, tr.raw)
	}
}

func TestSourceCodeExchangeErrors(t *testing.T) {
	e, base := start(t)
	e.AddSourceClient(emulator.SourceClient{ID: "other", Secret: "other-secret"})
	noPKCE := srcWithout(srcAuthParams(), "code_challenge", "code_challenge_method")
	exchange := func(code string, kv ...string) string {
		return srcCreds(append([]string{"grant_type", "authorization_code", "code", code}, kv...)...)
	}
	cases := []struct {
		name    string
		auth    []string
		body    func(code string) string
		advance time.Duration
		status  int
		errCode string
	}{
		{"wrong verifier", srcAuthParams(), func(c string) string {
			return exchange(c, "redirect_uri", srcCallback, "code_verifier", strings.Repeat("a", 43))
		}, 0, 400, "invalid_grant"},
		{"missing verifier", srcAuthParams(), func(c string) string { return exchange(c, "redirect_uri", srcCallback) }, 0, 400, "invalid_grant"},
		{"malformed verifier", srcAuthParams(), func(c string) string {
			return exchange(c, "redirect_uri", srcCallback, "code_verifier", "short")
		}, 0, 400, "invalid_request"},
		{"verifier without challenge", noPKCE, func(c string) string {
			return exchange(c, "redirect_uri", srcCallback, "code_verifier", srcVerifier)
		}, 0, 400, "invalid_request"},
		{"wrong redirect_uri", srcAuthParams(), func(c string) string {
			return exchange(c, "redirect_uri", srcCallback+"/other", "code_verifier", srcVerifier)
		}, 0, 400, "invalid_grant"},
		{"missing redirect_uri", srcAuthParams(), func(c string) string { return exchange(c, "code_verifier", srcVerifier) }, 0, 400, "invalid_request"},
		{"expired code", srcAuthParams(), func(c string) string {
			return exchange(c, "redirect_uri", srcCallback, "code_verifier", srcVerifier)
		}, 60 * time.Second, 400, "invalid_grant"},
		{"unknown code", srcAuthParams(), func(string) string {
			return exchange("nope", "redirect_uri", srcCallback, "code_verifier", srcVerifier)
		}, 0, 400, "invalid_grant"},
		{"missing code", srcAuthParams(), func(string) string {
			return exchange("", "redirect_uri", srcCallback, "code_verifier", srcVerifier)
		}, 0, 400, "invalid_request"},
		{"another client's code", srcAuthParams(), func(c string) string {
			return form("grant_type", "authorization_code", "code", c, "redirect_uri", srcCallback, "code_verifier", srcVerifier,
				"client_id", "other", "client_secret", "other-secret")
		}, 0, 400, "invalid_grant"},
		{"wrong client secret", srcAuthParams(), func(c string) string {
			return form("grant_type", "authorization_code", "code", c, "redirect_uri", srcCallback, "code_verifier", srcVerifier,
				"client_id", emulator.DemoSourceClientID, "client_secret", "nope")
		}, 0, 401, "invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code := srcCode(t, base, tc.auth...)
			e.Advance(tc.advance)
			before := len(e.Tokens("source"))
			wantSourceError(t, srcPost(t, base, tc.body(code)), tc.status, tc.errCode, code, srcVerifier)
			if len(e.Tokens("source")) != before {
				t.Fatal("a failed exchange issued a token")
			}
		})
	}
}

func TestSourceCodeReuse(t *testing.T) {
	e, base := start(t)
	code := srcCode(t, base, srcAuthParams()...)
	body := srcCreds("grant_type", "authorization_code", "code", code, "redirect_uri", srcCallback, "code_verifier", srcVerifier)
	first := srcPost(t, base, body)
	access, _ := first.body["access_token"].(string)
	refresh, _ := first.body["refresh_token"].(string)
	if first.status != 200 {
		t.Fatalf("first exchange: %d %s", first.status, first.raw)
	}
	// A token rotated from the code's refresh token descends from the code
	// too, and must die with it.
	rotated := srcRefresh(t, base, refresh)
	access2, _ := rotated.body["access_token"].(string)
	refresh2, _ := rotated.body["refresh_token"].(string)
	if rotated.status != 200 || !e.TokenLive(access2) || !e.SourceRefreshLive(refresh2) {
		t.Fatalf("refresh: %d %s", rotated.status, rotated.raw)
	}
	cc := srcPostField(t, base, srcCreds("grant_type", "client_credentials"), "access_token")

	wantSourceError(t, srcPost(t, base, body), 400, "invalid_grant", code)
	for _, tok := range []string{access, access2} {
		if _, status := srcMe(t, base, tok); status != 401 {
			t.Fatalf("a token from the replayed code still works: %d", status)
		}
	}
	if e.SourceRefreshLive(refresh) || e.SourceRefreshLive(refresh2) || e.SourceRefreshTokens() != 0 {
		t.Fatal("a refresh token from the replayed code is still live")
	}
	if !e.TokenLive(cc) {
		t.Fatal("the replay revoked an unrelated token")
	}
}

// srcField reads a non-empty string field of a token response or fails.
func srcField(t *testing.T, r reply, k string) string {
	t.Helper()
	v, _ := r.body[k].(string)
	if v == "" {
		t.Fatalf("no %s in %d %s", k, r.status, r.raw)
	}
	return v
}

func srcGet(r reply, k string) string {
	v, _ := r.body[k].(string)
	return v
}

func srcPostField(t *testing.T, base, body, k string) string {
	t.Helper()
	return srcField(t, srcPost(t, base, body), k)
}

func TestSourceAuthorizeErrors(t *testing.T) {
	e, base := start(t)
	e.AddSourceClient(emulator.SourceClient{ID: "fixed", Secret: "s", RedirectURIs: []string{"https://app.example.com/cb"}})
	without := func(k string) []string { return srcWithout(srcAuthParams(), k) }
	redirects := []struct {
		name   string
		params []string
		code   string
	}{
		{"token response type", srcAuthParams("response_type", "token"), "unsupported_response_type"},
		{"missing response type", without("response_type"), "invalid_request"},
		{"scope not allowed", srcAuthParams("scope", "content:read admin"), "invalid_scope"},
		{"scope repeated param", append(srcAuthParams(), "scope", "content:read"), "invalid_request"},
		{"plain PKCE", srcAuthParams("code_challenge_method", "plain"), "invalid_request"},
		{"other PKCE method", srcAuthParams("code_challenge_method", "S512"), "invalid_request"},
		{"challenge without method", without("code_challenge_method"), "invalid_request"},
		{"method without challenge", without("code_challenge"), "invalid_request"},
		{"malformed challenge", srcAuthParams("code_challenge", "abc"), "invalid_request"},
	}
	for _, tc := range redirects {
		t.Run(tc.name, func(t *testing.T) {
			r := srcAuthorize(t, base, "", tc.params...)
			if r.status != http.StatusFound || r.location == nil {
				t.Fatalf("want a redirect, got %d %s", r.status, r.raw)
			}
			q := r.location.Query()
			if q.Get("error") != tc.code || q.Get("error_description") == "" || q.Has("code") {
				t.Fatalf("redirect %s, want error=%s", r.location, tc.code)
			}
			if q.Get("state") != srcState {
				t.Fatalf("state %q not passed back", q.Get("state"))
			}
		})
	}

	t.Run("user denies", func(t *testing.T) {
		e.SetSourceDeny(true)
		defer e.SetSourceDeny(false)
		r := srcAuthorize(t, base, "", srcAuthParams()...)
		if r.status != http.StatusFound || r.location == nil {
			t.Fatalf("want a redirect, got %d %s", r.status, r.raw)
		}
		q := r.location.Query()
		if q.Get("error") != "access_denied" || q.Get("error_description") == "" || q.Get("state") != srcState || q.Has("code") {
			t.Fatalf("deny redirect %s", r.location)
		}
	})

	pages := []struct {
		name   string
		params []string
	}{
		{"unknown client", srcAuthParams("client_id", "nobody")},
		{"missing client", without("client_id")},
		{"missing redirect_uri", without("redirect_uri")},
		{"relative redirect_uri", srcAuthParams("redirect_uri", "/cb")},
		{"redirect_uri with fragment", srcAuthParams("redirect_uri", srcCallback+"#frag")},
		{"http to a public host", srcAuthParams("redirect_uri", "http://evil.example.com/cb")},
		{"other scheme", srcAuthParams("redirect_uri", "ftp://127.0.0.1/cb")},
		{"not in the client's list", []string{"response_type", "code", "client_id", "fixed", "redirect_uri", "https://app.example.com/cb2"}},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			r := srcAuthorize(t, base, "", tc.params...)
			if r.status != 400 || r.location != nil {
				t.Fatalf("want a 400 page, got %d Location %v", r.status, r.location)
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(r.raw), &body); err != nil || body["error"] == nil || body["error_description"] == nil {
				t.Fatalf("page %s", r.raw)
			}
			if h := srcAuthorize(t, base, "text/html", tc.params...); h.status != 400 || h.location != nil ||
				!strings.HasPrefix(h.header.Get("Content-Type"), "text/html") {
				t.Fatalf("browser page: %d %v", h.status, h.header)
			}
		})
	}

	// The client's own list is an exact match, and wins over the loopback rule.
	if r := srcAuthorize(t, base, "", "response_type", "code", "client_id", "fixed", "redirect_uri", "https://app.example.com/cb"); r.status != 302 ||
		r.location.Query().Get("code") == "" {
		t.Fatalf("listed redirect_uri: %d %v", r.status, r.location)
	}
	if r := srcAuthorize(t, base, "", "response_type", "code", "client_id", "fixed", "redirect_uri", srcCallback); r.status != 400 {
		t.Fatalf("loopback for a client with a list: %d", r.status)
	}
	if r := mustCall(t, "POST", base+"/oauth/authorize", formType, "", "", ""); r.status != 405 {
		t.Fatalf("POST authorize: %d", r.status)
	}
}

func TestSourceRefreshRotation(t *testing.T) {
	e, base := start(t)
	e.AddSourceClient(emulator.SourceClient{ID: "other", Secret: "other-secret"})
	a1, r1 := srcUserTokens(t, base)

	rr := srcRefresh(t, base, r1)
	a2, r2 := srcField(t, rr, "access_token"), srcField(t, rr, "refresh_token")
	if et, _ := e.Token(a2); rr.status != 200 || a2 == a1 || r2 == r1 || et.Scope != emulator.DemoSourceScope || rr.body["scope"] != nil ||
		rr.body["expires_in"] != float64(300) {
		t.Fatalf("refresh: %d %s", rr.status, rr.raw)
	}
	if _, status := srcMe(t, base, a1); status != 401 || e.SourceRefreshLive(r1) {
		t.Fatal("the old access or refresh token survived rotation")
	}
	if who, _ := srcMe(t, base, a2); who != emulator.DemoSourceUser || !e.SourceRefreshLive(r2) || e.SourceRefreshTokens() != 1 {
		t.Fatalf("new tokens: me %q, refresh live %v", who, e.SourceRefreshLive(r2))
	}

	for i := 1; i <= 2; i++ {
		r := srcRefresh(t, base, r1)
		wantSourceError(t, r, 400, "invalid_grant", r1)
		if r.body["error_description"] != "The refresh token is invalid." || r.body["hint"] != "Token has been revoked" {
			t.Fatalf("reuse body %s", r.raw)
		}
		if n := e.SourceRefreshReuses(); n != i {
			t.Fatalf("reuses %d, want %d", n, i)
		}
	}
	if !e.TokenLive(a2) || !e.SourceRefreshLive(r2) {
		t.Fatal("a reuse of the old token killed the new ones")
	}

	// A narrower access token does not narrow the refresh token (RFC 6749 §6).
	narrow := srcRefresh(t, base, r2, "scope", "content:read")
	scopeOf := func(r reply) string { et, _ := e.Token(srcGet(r, "access_token")); return et.Scope }
	if narrow.status != 200 || scopeOf(narrow) != "content:read" {
		t.Fatalf("narrow refresh: %d %s", narrow.status, narrow.raw)
	}
	r3 := srcField(t, narrow, "refresh_token")
	wide := srcRefresh(t, base, r3, "scope", "content:write")
	if wide.status != 200 || scopeOf(wide) != "content:write" {
		t.Fatalf("refresh after narrowing: %d %s", wide.status, wide.raw)
	}
	r4 := srcField(t, wide, "refresh_token")

	wantSourceError(t, srcRefresh(t, base, r4, "scope", "content:read admin"), 400, "invalid_scope", r4)
	wantSourceError(t, srcRefresh(t, base, ""), 400, "invalid_request")
	wantSourceError(t, srcRefresh(t, base, "unknown"), 400, "invalid_grant")
	wantSourceError(t, srcPost(t, base, form("grant_type", "refresh_token", "refresh_token", r4, "client_id", "other", "client_secret", "other-secret")),
		400, "invalid_grant", r4)
	if !e.SourceRefreshLive(r4) {
		t.Fatal("a failed refresh spent the token")
	}
	if n := e.SourceRefreshReuses(); n != 2 {
		t.Fatalf("reuses %d after unrelated failures, want 2", n)
	}

	stats := mustCall(t, "GET", base+"/_emulator/source/stats", "", "", "", "")
	if stats.status != 200 || stats.body["refresh_reuses"] != float64(2) || stats.body["live_refresh_tokens"] != float64(1) {
		t.Fatalf("stats %d %s", stats.status, stats.raw)
	}

	e.Advance(14 * 24 * time.Hour)
	r := srcRefresh(t, base, r4)
	wantSourceError(t, r, 400, "invalid_grant", r4)
	if r.body["hint"] != "Token has expired" || e.SourceRefreshTokens() != 0 {
		t.Fatalf("expired refresh: %s", r.raw)
	}
}

func TestSourceConcurrentRefresh(t *testing.T) {
	e, base := start(t)
	_, refresh := srcUserTokens(t, base)
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	var winner string
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := call(t, context.Background(), "POST", base+"/oauth/token", formType,
				srcCreds("grant_type", "refresh_token", "refresh_token", refresh), "", "")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			statuses[r.status]++
			if r.status == 200 {
				winner = srcGet(r, "refresh_token")
			} else if r.body["error"] != "invalid_grant" {
				t.Errorf("loser got %s", r.raw)
			}
		}()
	}
	wg.Wait()
	if statuses[200] != 1 || statuses[400] != n-1 {
		t.Fatalf("statuses %v, want exactly one success", statuses)
	}
	if e.SourceRefreshReuses() != n-1 || e.SourceRefreshTokens() != 1 || !e.SourceRefreshLive(winner) || len(e.LiveTokens("source")) != 1 {
		t.Fatalf("reuses %d, live refresh %d, live access %d", e.SourceRefreshReuses(), e.SourceRefreshTokens(), len(e.LiveTokens("source")))
	}
}

func TestSourceRevocation(t *testing.T) {
	e, base := start(t)
	e.AddSourceClient(emulator.SourceClient{ID: "other", Secret: "other-secret"})
	revoke := func(body, basic string) reply {
		t.Helper()
		return mustCall(t, "POST", base+"/oauth/revoke", formType, body, basic, "")
	}
	wantOK := func(r reply) {
		t.Helper()
		if r.status != 200 || r.raw != "" {
			t.Fatalf("revoke: %d %q", r.status, r.raw)
		}
	}

	a1, r1 := srcUserTokens(t, base)
	wantOK(revoke(srcCreds("token", a1, "token_type_hint", "access_token"), ""))
	if e.TokenLive(a1) || !e.SourceRefreshLive(r1) {
		t.Fatal("revoking the access token: wrong tokens died")
	}
	// The refresh token still works after its access token is revoked.
	rr := srcRefresh(t, base, r1)
	a2, r2 := srcField(t, rr, "access_token"), srcField(t, rr, "refresh_token")
	// Raw Basic works here as at the token endpoint; a wrong hint is ignored.
	wantOK(revoke(form("token", r2, "token_type_hint", "access_token"), srcBasic))
	if e.SourceRefreshLive(r2) || e.TokenLive(a2) {
		t.Fatal("revoking a refresh token must revoke its access token too")
	}
	wantSourceError(t, srcRefresh(t, base, r2), 400, "invalid_grant", r2)
	if e.SourceRefreshReuses() != 0 {
		t.Fatal("a revoked, never rotated, token counted as reused")
	}

	cc := srcPostField(t, base, srcCreds("grant_type", "client_credentials"), "access_token")
	wantSourceError(t, revoke(form("token", cc, "client_id", "other", "client_secret", "other-secret"), ""), 400, "unauthorized_client", cc)
	if !e.TokenLive(cc) {
		t.Fatal("another client revoked the token")
	}
	wantOK(revoke(srcCreds("token", cc), ""))
	wantOK(revoke(srcCreds("token", cc), "")) // already revoked
	wantOK(revoke(srcCreds("token", "never-issued"), ""))
	if e.TokenLive(cc) {
		t.Fatal("client credentials token survived revocation")
	}
	wantSourceError(t, revoke(srcCreds(), ""), 400, "invalid_request")
	wantSourceError(t, revoke(form("token", cc, "client_id", emulator.DemoSourceClientID, "client_secret", "nope"), ""), 401, "invalid_client")
	if r := mustCall(t, "GET", base+"/oauth/revoke", "", "", "", ""); r.status != 405 {
		t.Fatalf("GET revoke: %d", r.status)
	}
}

// TestSourceClientGrants: a consumer may use only its grant types
// (league/oauth2-server answers invalid_client for another), and
// simple_oauth refuses client_credentials for a consumer without a default
// user with a 500, before it looks at the secret.
func TestSourceClientGrants(t *testing.T) {
	e, base := start(t)
	e.AddSourceClient(emulator.SourceClient{ID: "users", Secret: "pw", Grants: []string{"authorization_code", "refresh_token"},
		NoDefaultUser: true})
	e.AddSourceClient(emulator.SourceClient{ID: "server", Secret: "pw", Grants: []string{"client_credentials"}})
	cc := func(id, secret string) reply {
		return srcPost(t, base, form("grant_type", "client_credentials", "client_id", id, "client_secret", secret))
	}
	refresh := func(id, secret string) reply {
		return srcPost(t, base, form("grant_type", "refresh_token", "refresh_token", "bogus", "client_id", id, "client_secret", secret))
	}
	for _, secret := range []string{"pw", "wrong"} {
		r := cc("users", secret)
		wantSourceError(t, r, 500, "server_error")
		if !strings.HasSuffix(r.body["error_description"].(string), "Invalid default user for client.") {
			t.Fatalf("no default user: %s", r.raw)
		}
	}
	wantSourceError(t, refresh("users", "pw"), 400, "invalid_grant")
	wantSourceError(t, refresh("users", "wrong"), 401, "invalid_client")
	if r := cc("server", "pw"); r.status != 200 {
		t.Fatalf("client credentials of a consumer allowed them: %d %s", r.status, r.raw)
	}
	wantSourceError(t, refresh("server", "pw"), 401, "invalid_client")
	if r := mustCall(t, "POST", base+"/_emulator/source/clients", "application/json",
		`{"id":"adm","secret":"s","grants":["refresh_token"],"no_default_user":true}`, "", ""); r.status != 204 {
		t.Fatalf("admin add: %d %s", r.status, r.raw)
	}
	wantSourceError(t, cc("adm", "s"), 500, "server_error")
}

// TestSourceRevocationVariants: a server that revokes the whole grant with
// an access token (RFC 7009 §2.1 allows it), and one that revokes refresh
// tokens only.
func TestSourceRevocationVariants(t *testing.T) {
	e, base := start(t)
	revoke := func(body string) reply {
		t.Helper()
		return mustCall(t, "POST", base+"/oauth/revoke", formType, body, "", "")
	}
	e.SetSourceRevocationCascades(true)
	a1, r1 := srcUserTokens(t, base)
	cc := srcPostField(t, base, srcCreds("grant_type", "client_credentials"), "access_token")
	if r := revoke(srcCreds("token", a1, "token_type_hint", "access_token")); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if e.TokenLive(a1) || e.SourceRefreshLive(r1) {
		t.Fatal("cascading: revoking the access token left its refresh token live")
	}
	wantSourceError(t, srcRefresh(t, base, r1), 400, "invalid_grant", r1)
	if !e.TokenLive(cc) {
		t.Fatal("cascading revoked a client credentials token")
	}
	e.SetSourceRevocationCascades(false)

	e.SetSourceRevocationRefreshOnly(true)
	a2, r2 := srcUserTokens(t, base)
	wantSourceError(t, revoke(srcCreds("token", a2, "token_type_hint", "access_token")), 400, "unsupported_token_type", a2)
	if !e.TokenLive(a2) {
		t.Fatal("refused revocation revoked the access token")
	}
	if r := revoke(srcCreds("token", r2)); r.status != 200 || e.SourceRefreshLive(r2) {
		t.Fatalf("refresh-only: revoking the refresh token: %d %s", r.status, r.raw)
	}
	for _, sw := range []string{"revocation-cascades", "revocation-refresh-only"} {
		if r := mustCall(t, "POST", base+"/_emulator/source/"+sw, "application/json", `{"on":false}`, "", ""); r.status != 204 {
			t.Fatalf("admin %s: %d", sw, r.status)
		}
	}
}

func TestSourceMetadataAndDisabledRevocation(t *testing.T) {
	e, base := start(t)
	meta := func() map[string]any {
		t.Helper()
		r := mustCall(t, "GET", base+"/.well-known/oauth-authorization-server", "", "", "", "")
		if r.status != 200 {
			t.Fatalf("metadata: %d %s", r.status, r.raw)
		}
		return r.body
	}
	md := meta()
	if md["issuer"] != base || md["authorization_endpoint"] != base+"/oauth/authorize" || md["token_endpoint"] != base+"/oauth/token" ||
		md["revocation_endpoint"] != base+"/oauth/revoke" {
		t.Fatalf("metadata %v", md)
	}
	if m, _ := md["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
		t.Fatalf("code_challenge_methods_supported %v", md["code_challenge_methods_supported"])
	}
	if g, _ := md["grant_types_supported"].([]any); len(g) != 3 {
		t.Fatalf("grant_types_supported %v", md["grant_types_supported"])
	}

	cc := srcPostField(t, base, srcCreds("grant_type", "client_credentials"), "access_token")
	e.SetSourceRevocation(false)
	if _, has := meta()["revocation_endpoint"]; has {
		t.Fatal("metadata advertises a disabled revocation endpoint")
	}
	r := mustCall(t, "POST", base+"/oauth/revoke", formType, srcCreds("token", cc), "", "")
	if r.status != 404 || r.body["error"] != "not_found" || !e.TokenLive(cc) {
		t.Fatalf("disabled revoke: %d %s", r.status, r.raw)
	}

	// Through the admin API, back on.
	if r := mustCall(t, "POST", base+"/_emulator/source/revocation", "application/json", `{"on":true}`, "", ""); r.status != 204 {
		t.Fatalf("admin revocation: %d %s", r.status, r.raw)
	}
	if meta()["revocation_endpoint"] == nil {
		t.Fatal("revocation not re-enabled")
	}
}

func TestSourceJSONAPI(t *testing.T) {
	e, base := start(t)
	tok := srcPostField(t, base, srcCreds("grant_type", "client_credentials"), "access_token")
	cloud := token(t, base, demoForm())
	cases := []struct {
		name    string
		advance time.Duration
		bearer  string
		status  int
	}{
		{"live", 0, tok, 200},
		{"none", 0, "", 401},
		{"unknown", 0, "nope", 401},
		{"another service's token", 0, cloud, 401},
		{"at 299 s", 299 * time.Second, tok, 200},
		{"at 300 s", time.Second, tok, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.Advance(tc.advance)
			if _, status := srcMe(t, base, tc.bearer); status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
		})
	}
}

func TestSourceLifetimes(t *testing.T) {
	e, base := start(t)
	e.SetSourceLifetimes(10*time.Second, 0, 5*time.Second)
	r := srcPost(t, base, srcCreds("grant_type", "client_credentials"))
	if r.body["expires_in"] != float64(10) {
		t.Fatalf("expires_in %v", r.body["expires_in"])
	}
	code := srcCode(t, base, srcAuthParams()...)
	e.Advance(5 * time.Second)
	wantSourceError(t, srcPost(t, base, srcCreds("grant_type", "authorization_code", "code", code, "redirect_uri", srcCallback,
		"code_verifier", srcVerifier)), 400, "invalid_grant", code)

	// The refresh lifetime kept its 14-day default.
	_, refresh := srcUserTokens(t, base)
	e.Advance(14*24*time.Hour - time.Second)
	if !e.SourceRefreshLive(refresh) {
		t.Fatal("refresh token died before 14 days")
	}
	e.Advance(time.Second)
	if e.SourceRefreshLive(refresh) {
		t.Fatal("refresh token outlived 14 days")
	}
}

func TestSourceAdmin(t *testing.T) {
	e, base := start(t)
	admin := func(path, body string, want int) {
		t.Helper()
		if r := mustCall(t, "POST", base+"/_emulator/source/"+path, "application/json", body, "", ""); r.status != want {
			t.Fatalf("%s %s: %d, want %d: %s", path, body, r.status, want, r.raw)
		}
	}
	admin("clients", `{"id":"app","secret":"a+b/c=","scopes":["content:read"],"redirect_uris":["https://app.example.com/cb"]}`, 204)
	if r := srcPost(t, base, form("grant_type", "client_credentials", "client_id", "app", "client_secret", "a+b/c=", "scope", "content:write")); r.status != 400 {
		t.Fatalf("scope outside the admin client's list: %d %s", r.status, r.raw)
	}
	code := srcCode(t, base, "response_type", "code", "client_id", "app", "redirect_uri", "https://app.example.com/cb", "scope", "content:read")
	r := srcPost(t, base, form("grant_type", "authorization_code", "code", code, "redirect_uri", "https://app.example.com/cb",
		"client_id", "app", "client_secret", "a+b/c="))
	if et, _ := e.Token(srcGet(r, "access_token")); r.status != 200 || et.Scope != "content:read" {
		t.Fatalf("admin client exchange: %d %s", r.status, r.raw)
	}

	admin("deny", `{"on":true}`, 204)
	if a := srcAuthorize(t, base, "", srcAuthParams()...); a.location == nil || a.location.Query().Get("error") != "access_denied" {
		t.Fatalf("deny via admin: %d %v", a.status, a.location)
	}
	admin("deny", `{"on":false}`, 204)
	srcCode(t, base, srcAuthParams()...)

	for _, bad := range []struct{ path, body string }{
		{"clients", `{"id":"x"}`},
		{"clients", `{"id":"x","secret":"y","redirect_uris":["/relative"]}`},
		{"clients", `{"id":"x","secret":"y","redirect_uris":["https://a.example.com/cb#f"]}`},
		{"clients", `{"id":"x","secret":"y","bogus":1}`},
		{"deny", `{"on":"yes"}`},
		{"revocation", `not json`},
	} {
		admin(bad.path, bad.body, 400)
	}
}
