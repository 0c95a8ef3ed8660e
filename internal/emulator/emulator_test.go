package emulator_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

const (
	orgA   = "11111111-2222-4333-8444-555555555555"
	orgFed = "99999999-8888-4777-8666-555555555555"
)

func start(t *testing.T) (*emulator.Emulator, string) {
	t.Helper()
	e := emulator.New()
	e.AddDemo()
	base, err := e.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if e.URL() != base || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("URL() %q, Start %q", e.URL(), base)
	}
	return e, base
}

type reply struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// call sends one request; basic is "user:pass" sent as-is in a Basic header.
func call(t *testing.T, ctx context.Context, method, u, contentType, body, basic, bearer string) (reply, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if basic != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic)))
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r, nil
}

func mustCall(t *testing.T, method, u, contentType, body, basic, bearer string) reply {
	t.Helper()
	r, err := call(t, context.Background(), method, u, contentType, body, basic, bearer)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const formType = "application/x-www-form-urlencoded"

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func demoForm(extra ...string) string {
	return form(append([]string{"grant_type", "client_credentials",
		"client_id", emulator.DemoCloudClientID, "client_secret", emulator.DemoCloudClientSecret}, extra...)...)
}

// token gets a cloud token or fails the test.
func token(t *testing.T, base, body string) string {
	t.Helper()
	r := mustCall(t, "POST", base+"/api/auth/oauth/token", formType, body, "", "")
	tok, _ := r.body["access_token"].(string)
	if r.status != 200 || tok == "" {
		t.Fatalf("token: %d %s", r.status, r.raw)
	}
	return tok
}

func TestTokenEndpoint(t *testing.T) {
	e, base := start(t)
	e.AddCloudClient(emulator.CloudClient{ID: "fed", Secret: "fed-secret", Orgs: []string{orgA}, FederatedOrgs: []string{orgFed}})
	id, secret := emulator.DemoCloudClientID, emulator.DemoCloudClientSecret
	encodedBasic := url.QueryEscape(id) + ":" + url.QueryEscape(secret) // RFC 6749 §2.3.1

	cases := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		basic       string
		status      int
		errCode     string // "" for success
		scope       string
	}{
		{"body creds, documented path", "POST", "/api/auth/oauth/token", formType, demoForm(), "", 200, "", ""},
		{"body creds, OpenAPI path", "POST", "/api/token", formType, demoForm(), "", 200, "", ""},
		{"form type with charset", "POST", "/api/token", formType + "; charset=utf-8", demoForm(), "", 200, "", ""},
		{"raw Basic", "POST", "/api/token", formType, form("grant_type", "client_credentials"), id + ":" + secret, 200, "", ""},
		{"url-encoded Basic (server quirk)", "POST", "/api/token", formType, form("grant_type", "client_credentials"), encodedBasic, 401, "invalid_client", ""},
		{"Basic and body secret", "POST", "/api/token", formType, demoForm(), id + ":" + secret, 400, "invalid_request", ""},
		{"wrong secret", "POST", "/api/token", formType, form("grant_type", "client_credentials", "client_id", id, "client_secret", "nope"), "", 401, "invalid_client", ""},
		{"secret sent unencoded (+ becomes space)", "POST", "/api/token", formType, "grant_type=client_credentials&client_id=" + id + "&client_secret=" + secret, "", 401, "invalid_client", ""},
		{"unknown client", "POST", "/api/token", formType, form("grant_type", "client_credentials", "client_id", "who", "client_secret", secret), "", 401, "invalid_client", ""},
		{"missing credentials", "POST", "/api/token", formType, form("grant_type", "client_credentials"), "", 400, "invalid_request", ""},
		{"missing secret", "POST", "/api/token", formType, form("grant_type", "client_credentials", "client_id", id), "", 400, "invalid_request", ""},
		{"missing grant_type", "POST", "/api/token", formType, form("client_id", id, "client_secret", secret), "", 400, "invalid_request", ""},
		{"password grant", "POST", "/api/token", formType, form("grant_type", "password", "client_id", id, "client_secret", secret), "", 400, "unsupported_grant_type", ""},
		{"org scope granted", "POST", "/api/token", formType, demoForm("scope", "organization:"+emulator.DemoOrgUUID), "", 200, "", "organization:" + emulator.DemoOrgUUID},
		{"federated org scope granted", "POST", "/api/token", formType, form("grant_type", "client_credentials", "client_id", "fed", "client_secret", "fed-secret", "scope", "organization:"+orgFed), "", 200, "", "organization:" + orgFed},
		{"scope of another key's org", "POST", "/api/token", formType, demoForm("scope", "organization:"+orgA), "", 400, "invalid_scope", ""},
		{"two scopes", "POST", "/api/token", formType, demoForm("scope", "organization:"+emulator.DemoOrgUUID+" organization:"+emulator.DemoOrgUUID), "", 400, "invalid_scope", ""},
		{"non-org scope", "POST", "/api/token", formType, demoForm("scope", "openid"), "", 400, "invalid_scope", ""},
		{"empty org", "POST", "/api/token", formType, demoForm("scope", "organization:"), "", 400, "invalid_scope", ""},
		{"JSON body", "POST", "/api/token", "application/json", `{"grant_type":"client_credentials"}`, "", 400, "invalid_request", ""},
		{"no content type", "POST", "/api/token", "", demoForm(), "", 400, "invalid_request", ""},
		{"duplicate parameter", "POST", "/api/token", formType, demoForm("grant_type", "client_credentials"), "", 400, "invalid_request", ""},
		{"credentials in the URI", "POST", "/api/token?" + form("client_id", id, "client_secret", secret), formType, form("grant_type", "client_credentials"), "", 400, "invalid_request", ""},
		{"GET", "GET", "/api/token", "", "", "", 405, "invalid_request", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.Tokens("cloud"))
			r := mustCall(t, tc.method, base+tc.path, tc.contentType, tc.body, tc.basic, "")
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if strings.Contains(r.raw, secret) || strings.Contains(r.raw, "fed-secret") {
				t.Errorf("the answer echoes a secret: %s", r.raw)
			}
			issued := e.Tokens("cloud")[before:]
			if tc.errCode != "" {
				if r.body["error"] != tc.errCode || r.body["error_description"] == "" || r.body["error_description"] == nil {
					t.Errorf("error body %s, want error %q with a description", r.raw, tc.errCode)
				}
				if len(issued) != 0 {
					t.Errorf("a failed request issued %d tokens", len(issued))
				}
				return
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
			tok, _ := r.body["access_token"].(string)
			if len(tok) < 43 || r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(300) {
				t.Errorf("token answer %s", r.raw)
			}
			if got, _ := r.body["scope"].(string); got != tc.scope {
				t.Errorf("scope %q, want %q", got, tc.scope)
			}
			if _, has := r.body["scope"]; has != (tc.scope != "") {
				t.Errorf("scope field present=%v for scope %q", has, tc.scope)
			}
			if len(issued) != 1 || issued[0].Value != tok || issued[0].Scope != tc.scope || issued[0].Service != "cloud" ||
				issued[0].ExpiresAt.Sub(issued[0].IssuedAt) != 300*time.Second {
				t.Errorf("recorded %+v", issued)
			}
			if !e.TokenLive(tok) {
				t.Error("the issued token is not live")
			}
		})
	}
}

func TestTokenErrorShapes(t *testing.T) {
	e, base := start(t)
	wrong := form("grant_type", "client_credentials", "client_id", emulator.DemoCloudClientID, "client_secret", "wrong+secret")
	for _, okta := range []bool{false, true} {
		t.Run(fmt.Sprintf("okta=%v", okta), func(t *testing.T) {
			e.SetOktaErrors(okta)
			r := mustCall(t, "POST", base+"/api/auth/oauth/token", formType, wrong, "", "")
			if r.status != 401 {
				t.Fatalf("status %d", r.status)
			}
			codeKey, descKey, otherKey := "error", "error_description", "errorCode"
			if okta {
				codeKey, descKey, otherKey = "errorCode", "errorSummary", "error"
			}
			if r.body[codeKey] != "invalid_client" || r.body[descKey] != "Client authentication failed" {
				t.Errorf("body %s lacks %s/%s", r.raw, codeKey, descKey)
			}
			if _, ok := r.body[otherKey]; ok {
				t.Errorf("body %s mixes shapes", r.raw)
			}
			if strings.Contains(r.raw, "wrong+secret") {
				t.Error("the secret is echoed")
			}
		})
	}
}

func TestRemovedClientIsRefused(t *testing.T) {
	e, base := start(t)
	token(t, base, demoForm())
	e.RemoveCloudClient(emulator.DemoCloudClientID)
	r := mustCall(t, "POST", base+"/api/token", formType, demoForm(), "", "")
	if r.status != 401 || r.body["error"] != "invalid_client" {
		t.Errorf("after removal: %d %s", r.status, r.raw)
	}
}

func TestAccount(t *testing.T) {
	e, base := start(t)
	tok := token(t, base, demoForm())
	cases := []struct {
		name    string
		advance time.Duration
		bearer  string
		status  int
	}{
		{"live token", 0, tok, 200},
		{"no token", 0, "", 401},
		{"unknown token", 0, "not-a-token", 401},
		{"at 299 s", 299 * time.Second, tok, 200},
		{"at 301 s", 2 * time.Second, tok, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.Advance(tc.advance)
			r := mustCall(t, "GET", base+"/api/account", "", "", "", tc.bearer)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if r.header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
			if tc.status == 200 {
				if r.body["uuid"] == "" || r.body["name"] != "Demo User" || r.body["mail"] != "demo@example.com" {
					t.Errorf("account %s", r.raw)
				}
				return
			}
			if r.body["error"] != "invalid_token" || r.body["message"] == nil {
				t.Errorf("body %s", r.raw)
			}
			if got := r.header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
				t.Errorf("WWW-Authenticate %q", got)
			}
		})
	}
	if e.TokenLive(tok) || len(e.LiveTokens("cloud")) != 0 || len(e.Tokens("cloud")) != 1 {
		t.Errorf("after expiry: live=%v live tokens %d, tokens %d", e.TokenLive(tok), len(e.LiveTokens("cloud")), len(e.Tokens("cloud")))
	}
	if r := mustCall(t, "POST", base+"/api/account", "", "", "", tok); r.status != 405 {
		t.Errorf("POST /api/account: %d", r.status)
	}
}

func TestClockSeam(t *testing.T) {
	e, base := start(t)
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	e.SetClock(func() time.Time { return fixed })
	tok := token(t, base, demoForm())
	got := e.Tokens("cloud")[0]
	if !got.IssuedAt.Equal(fixed) || !got.ExpiresAt.Equal(fixed.Add(300*time.Second)) {
		t.Errorf("issued %v expires %v, want from %v", got.IssuedAt, got.ExpiresAt, fixed)
	}
	// A real-time wait does not age a token on a fixed clock.
	time.Sleep(10 * time.Millisecond)
	e.Advance(299 * time.Second)
	if !e.TokenLive(tok) {
		t.Error("dead before 300 s")
	}
	e.Advance(time.Second)
	if e.TokenLive(tok) {
		t.Error("live at exactly 300 s")
	}
}

func TestTokenLookup(t *testing.T) {
	e, base := start(t)
	tok := token(t, base, demoForm())
	got, ok := e.Token(tok)
	if !ok || got.Value != tok || got.Service != "cloud" || got.ClientID != emulator.DemoCloudClientID || got.Revoked {
		t.Fatalf("Token(%q) = %+v, %v", tok, got, ok)
	}
	// Dead tokens are still found: Token is for inspecting what was issued.
	e.Advance(time.Hour)
	if got, ok := e.Token(tok); !ok || got.Value != tok || e.TokenLive(tok) {
		t.Errorf("expired token: %+v, %v", got, ok)
	}
	if _, ok := e.Token("not-a-token"); ok {
		t.Error("an unknown value was found")
	}
}

// A key with a Lifetime issues tokens that say so in expires_in and die
// when it ends.
func TestCloudClientLifetime(t *testing.T) {
	e, base := start(t)
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	e.SetClock(func() time.Time { return fixed })
	e.AddCloudClient(emulator.CloudClient{ID: "short", Secret: "s", Lifetime: 20 * time.Second})
	r := mustCall(t, "POST", base+"/api/token", formType, form("grant_type", "client_credentials", "client_id", "short", "client_secret", "s"), "", "")
	tok, _ := r.body["access_token"].(string)
	if r.status != 200 || r.body["expires_in"] != float64(20) {
		t.Fatalf("token: %d %s, want expires_in 20", r.status, r.raw)
	}
	e.Advance(19 * time.Second)
	if mustCall(t, "GET", base+"/api/account", "", "", "", tok).status != 200 {
		t.Error("dead before its 20 s")
	}
	e.Advance(time.Second)
	if mustCall(t, "GET", base+"/api/account", "", "", "", tok).status != 401 {
		t.Error("live at 20 s")
	}
}

func TestFederatedOrg(t *testing.T) {
	e, base := start(t)
	e.AddCloudClient(emulator.CloudClient{ID: "k", Secret: "s", Orgs: []string{orgA, orgFed}, FederatedOrgs: []string{orgFed}})
	creds := []string{"grant_type", "client_credentials", "client_id", "k", "client_secret", "s"}
	cases := []struct {
		name   string
		scope  string
		status int
	}{
		{"no scope", "", 403},
		{"other org scope", "organization:" + orgA, 403},
		{"federated org scope", "organization:" + orgFed, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := form(creds...)
			if tc.scope != "" {
				body = form(append(creds, "scope", tc.scope)...)
			}
			tok := token(t, base, body)
			r := mustCall(t, "GET", base+"/api/account", "", "", "", tok)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.status == 403 && (r.body["error"] != "additional_authentication_required" ||
				r.body["message"] != "This resource requires additional authentication.") {
				t.Errorf("body %s", r.raw)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name  string
		fault emulator.Fault
		check func(t *testing.T, r reply)
	}{
		{"503 with Retry-After", emulator.Fault{PathPrefix: "/api/auth", Status: 503, RetryAfter: "1"}, func(t *testing.T, r reply) {
			if r.status != 503 || r.header.Get("Retry-After") != "1" || r.body["error"] == nil {
				t.Errorf("got %d Retry-After=%q %s", r.status, r.header.Get("Retry-After"), r.raw)
			}
		}},
		{"429 twice", emulator.Fault{PathPrefix: "/api/auth", Method: "post", Status: 429, RetryAfter: "Mon, 02 Jan 2006 15:04:05 GMT", Times: 2}, func(t *testing.T, r reply) {
			if r.status != 429 || r.header.Get("Retry-After") != "Mon, 02 Jan 2006 15:04:05 GMT" {
				t.Errorf("got %d %q", r.status, r.header.Get("Retry-After"))
			}
		}},
		{"malformed body", emulator.Fault{PathPrefix: "/api/auth", Body: "{not json"}, func(t *testing.T, r reply) {
			if r.status != 200 || r.raw != "{not json" || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("got %d %q %q", r.status, r.raw, r.header.Get("Content-Type"))
			}
		}},
		{"status and body", emulator.Fault{PathPrefix: "/api/auth", Status: 502, Body: "<html>bad gateway</html>"}, func(t *testing.T, r reply) {
			if r.status != 502 || r.raw != "<html>bad gateway</html>" {
				t.Errorf("got %d %q", r.status, r.raw)
			}
		}},
		{"delay only passes through", emulator.Fault{PathPrefix: "/api/auth", Delay: 50 * time.Millisecond}, func(t *testing.T, r reply) {
			if r.status != 200 || r.body["access_token"] == nil {
				t.Errorf("got %d %s", r.status, r.raw)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, base := start(t)
			e.InjectFault(tc.fault)
			// A fault for another path or method is not consumed.
			e.InjectFault(emulator.Fault{PathPrefix: "/api/auth", Method: "GET", Status: 500, Times: 5})
			e.InjectFault(emulator.Fault{PathPrefix: "/api/account", Status: 500, Times: 5})
			times := max(tc.fault.Times, 1)
			for i := 0; i < times; i++ {
				began := time.Now()
				tc.check(t, mustCall(t, "POST", base+"/api/auth/oauth/token", formType, demoForm(), "", ""))
				if time.Since(began) < tc.fault.Delay {
					t.Errorf("answered before the %s delay", tc.fault.Delay)
				}
			}
			r := mustCall(t, "POST", base+"/api/auth/oauth/token", formType, demoForm(), "", "")
			if r.status != 200 || r.header.Get("Retry-After") != "" {
				t.Errorf("after %d faulted requests: %d %s", times, r.status, r.raw)
			}
			if got := e.Requests("/api/auth"); got != times+1 {
				t.Errorf("Requests %d, want %d", got, times+1)
			}
		})
	}
}

func TestFaultDelayHonoursClientTimeout(t *testing.T) {
	e, base := start(t)
	const delay = 600 * time.Millisecond
	e.InjectFault(emulator.Fault{PathPrefix: "/api/auth", Delay: delay})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := call(t, ctx, "POST", base+"/api/auth/oauth/token", formType, demoForm(), "", "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a deadline error, got %v", err)
	}
	if time.Since(began) >= delay {
		t.Errorf("the client waited %s", time.Since(began))
	}
	// Once the delay would have run out, the abandoned request must not
	// have minted a token.
	time.Sleep(delay + 200*time.Millisecond)
	if n := len(e.Tokens("cloud")); n != 0 {
		t.Errorf("an abandoned request issued %d tokens", n)
	}
	token(t, base, demoForm())
	if got := e.Requests("/api/auth"); got != 2 {
		t.Errorf("Requests %d, want 2", got)
	}
}

func TestCloseReleasesDelayedRequests(t *testing.T) {
	e := emulator.New()
	e.AddDemo()
	base, err := e.Start()
	if err != nil {
		t.Fatal(err)
	}
	e.InjectFault(emulator.Fault{PathPrefix: "/", Delay: time.Minute})
	done := make(chan error, 1)
	go func() {
		_, err := call(t, context.Background(), "GET", base+"/api/account", "", "", "", "")
		done <- err
	}()
	for e.Requests("/") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	e.Close()
	e.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a request cut off by Close got an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a delayed request hanging")
	}
	if _, err := call(t, context.Background(), "GET", base+"/api/account", "", "", "", ""); err == nil {
		t.Error("still serving after Close")
	}
}

func TestRequestsCounting(t *testing.T) {
	e, base := start(t)
	e.InjectFault(emulator.Fault{PathPrefix: "/api/token", Status: 503})
	mustCall(t, "POST", base+"/api/token", formType, demoForm(), "", "")
	mustCall(t, "POST", base+"/api/token", formType, demoForm(), "", "")
	mustCall(t, "GET", base+"/api/account", "", "", "", "")
	mustCall(t, "GET", base+"/_emulator/requests?path_prefix=/api", "", "", "", "")
	mustCall(t, "GET", base+"/nowhere", "", "", "", "")
	for prefix, want := range map[string]int{"/api": 3, "/api/token": 2, "/api/account": 1, "/api/auth": 0, "/_emulator": 0, "/": 4} {
		if got := e.Requests(prefix); got != want {
			t.Errorf("Requests(%q) = %d, want %d", prefix, got, want)
		}
	}
}

func TestAdminAPI(t *testing.T) {
	e, base := start(t)
	admin := func(method, path, body string, wantStatus int) reply {
		t.Helper()
		r := mustCall(t, method, base+"/_emulator/"+path, "application/json", body, "", "")
		if r.status != wantStatus {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, wantStatus, r.raw)
		}
		return r
	}

	admin("POST", "cloud/clients", `{"id":"adm","secret":"a+b/c=","orgs":["`+orgA+`"],"federated_orgs":["`+orgA+`"]}`, 204)
	tok := token(t, base, form("grant_type", "client_credentials", "client_id", "adm", "client_secret", "a+b/c=", "scope", "organization:"+orgA))
	if r := mustCall(t, "GET", base+"/api/account", "", "", "", tok); r.status != 200 {
		t.Errorf("federated account with scope: %d", r.status)
	}

	var list []map[string]any
	if err := json.Unmarshal([]byte(admin("GET", "tokens?service=cloud", "", 200).raw), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0]["value"] != tok || list[0]["client_id"] != "adm" || list[0]["service"] != "cloud" ||
		list[0]["scope"] != "organization:"+orgA || list[0]["live"] != true || list[0]["revoked"] != false ||
		list[0]["issued_at"] == nil || list[0]["expires_at"] == nil {
		t.Errorf("tokens %v", list)
	}
	if r := admin("GET", "tokens?service=oauth2", "", 200); strings.TrimSpace(r.raw) != "[]" {
		t.Errorf("other service: %s", r.raw)
	}

	admin("POST", "faults", `{"path_prefix":"/api/token","method":"POST","status":503,"retry_after":"2","times":2}`, 204)
	admin("POST", "faults", `{"path_prefix":"/api/auth","delay_ms":1,"body":"{not json"}`, 204)
	for i := 0; i < 2; i++ {
		r := mustCall(t, "POST", base+"/api/token", formType, demoForm(), "", "")
		if r.status != 503 || r.header.Get("Retry-After") != "2" {
			t.Errorf("fault %d: %d %q", i, r.status, r.header.Get("Retry-After"))
		}
	}
	admin("DELETE", "faults", "", 204)
	if r := mustCall(t, "POST", base+"/api/auth/oauth/token", formType, demoForm(), "", ""); r.status != 200 || r.body["access_token"] == nil {
		t.Errorf("after DELETE faults: %d %s", r.status, r.raw)
	}
	if r := admin("GET", "requests?path_prefix=/api/token", "", 200); r.body["count"] != float64(2) {
		t.Errorf("requests: %s", r.raw)
	}

	admin("POST", "clock/advance?seconds=301", "", 204)
	if e.TokenLive(tok) {
		t.Error("token live after advancing 301 s")
	}
	if err := json.Unmarshal([]byte(admin("GET", "tokens?service=cloud", "", 200).raw), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0]["live"] != false {
		t.Errorf("after advance: %v", list)
	}

	admin("POST", "cloud/okta-errors", `{"on":true}`, 204)
	r := mustCall(t, "POST", base+"/api/token", formType, form("grant_type", "client_credentials", "client_id", "adm", "client_secret", "x"), "", "")
	if r.body["errorCode"] != "invalid_client" {
		t.Errorf("okta via admin: %s", r.raw)
	}
	admin("DELETE", "cloud/clients/adm", "", 204)
	admin("POST", "cloud/okta-errors", `{"on":false}`, 204)
	r = mustCall(t, "POST", base+"/api/token", formType, form("grant_type", "client_credentials", "client_id", "adm", "client_secret", "a+b/c="), "", "")
	if r.status != 401 || r.body["error"] != "invalid_client" {
		t.Errorf("removed via admin: %d %s", r.status, r.raw)
	}

	// The admin API is exempt from faults, and strict about its input.
	e.InjectFault(emulator.Fault{PathPrefix: "/", Status: 500, Times: 100})
	admin("GET", "tokens", "", 200)
	for _, bad := range []struct{ method, path, body string }{
		{"POST", "faults", `{"path_prefx":"/api"}`},
		{"POST", "faults", `{"status":-1}`},
		{"POST", "faults", `not json`},
		{"POST", "cloud/clients", `{"id":"x"}`},
		{"POST", "cloud/clients", `{"id":"x","secret":"y"} {}`},
		{"POST", "clock/advance?seconds=-5", ""},
		{"POST", "clock/advance?seconds=soon", ""},
	} {
		admin(bad.method, bad.path, bad.body, 400)
	}
	admin("GET", "nope", "", 404)
}

func TestConcurrentUse(t *testing.T) {
	e, base := start(t)
	e.InjectFault(emulator.Fault{PathPrefix: "/api/token", Status: 503, Times: 10})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{}
	statuses := map[int]int{}
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := call(t, context.Background(), "POST", base+"/api/token", formType, demoForm(), "", "")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
			if tok, _ := r.body["access_token"].(string); tok != "" {
				mu.Lock()
				seen[tok] = true
				mu.Unlock()
				mustCall(t, "GET", base+"/api/account", "", "", "", tok)
			}
			e.Advance(time.Millisecond)
			_ = e.LiveTokens("cloud")
			_ = e.Requests("/api")
		}()
	}
	wg.Wait()
	if statuses[503] != 10 || statuses[200] != 40 || len(seen) != 40 || len(e.Tokens("cloud")) != 40 {
		t.Errorf("statuses %v, %d distinct tokens, %d recorded", statuses, len(seen), len(e.Tokens("cloud")))
	}
	if e.Requests("/api/token") != 50 || e.Requests("/api/account") != 40 {
		t.Errorf("requests %d %d", e.Requests("/api/token"), e.Requests("/api/account"))
	}
}

func TestHandlerWithoutStart(t *testing.T) {
	e := emulator.New()
	defer e.Close()
	if e.URL() != "" {
		t.Errorf("URL before Start: %q", e.URL())
	}
	if e.Handler() == nil {
		t.Fatal("nil handler")
	}
	if _, err := e.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Start(); err == nil {
		t.Error("a second Start succeeded")
	}
}
