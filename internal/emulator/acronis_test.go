package emulator_test

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

const (
	acronisTokenPath  = "/bc/idp/token"
	acronisRevokePath = "/api/2/idp/revoke_token"
	acronisLifetime   = 2 * time.Hour
)

var (
	acronisRawBasic = emulator.DemoAcronisClientID + ":" + emulator.DemoAcronisClientSecret
	// RFC 6749 §2.3.1: each part form-url-encoded before Basic.
	acronisEncBasic = url.QueryEscape(emulator.DemoAcronisClientID) + ":" + url.QueryEscape(emulator.DemoAcronisClientSecret)
	acronisGrant    = form("grant_type", "client_credentials")
	acronisT0       = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
)

// acronisToken gets an Acronis token with Basic creds or fails the test.
func acronisToken(t *testing.T, base, basic string) string {
	t.Helper()
	r := mustCall(t, "POST", base+acronisTokenPath, formType, acronisGrant, basic, "")
	tok, _ := r.body["access_token"].(string)
	if r.status != 200 || tok == "" {
		t.Fatalf("token: %d %s", r.status, r.raw)
	}
	return tok
}

// wantAcronisError checks status and the platform API's error shape.
func wantAcronisError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	e, _ := r.body["error"].(map[string]any)
	if r.status != status || e == nil || e["code"] != code || e["domain"] != "PlatformAccountServer" {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("no message: %s", r.raw)
	}
	if _, ok := e["context"].(map[string]any); !ok {
		t.Fatalf("no context object: %s", r.raw)
	}
}

// wantRFC6749Error checks an RFC 6749 §5.2 error.
func wantRFC6749Error(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
	if d, _ := r.body["error_description"].(string); d == "" {
		t.Fatalf("no error_description: %s", r.raw)
	}
}

func acronisClientURL(base, id string) string { return base + "/api/2/clients/" + url.PathEscape(id) }

func TestAcronisTokenEndpoint(t *testing.T) {
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
		{"raw Basic, CyberApp path", "POST", acronisTokenPath, formType, acronisGrant, acronisRawBasic, 200, "", ""},
		{"raw Basic, account API path", "POST", "/api/2/idp/token", formType, acronisGrant, acronisRawBasic, 200, "", ""},
		{"RFC-encoded Basic, CyberApp path", "POST", acronisTokenPath, formType, acronisGrant, acronisEncBasic, 401, "invalid_client", ""},
		{"RFC-encoded Basic, account API path", "POST", "/api/2/idp/token", formType, acronisGrant, acronisEncBasic, 401, "invalid_client", ""},
		{"with scope", "POST", acronisTokenPath, formType, form("grant_type", "client_credentials", "scope", "openid urn:x"), acronisRawBasic, 200, "", "openid urn:x"},
		{"client_id in body too", "POST", acronisTokenPath, formType, form("grant_type", "client_credentials", "client_id", emulator.DemoAcronisClientID), acronisRawBasic, 200, "", ""},
		{"body creds only", "POST", acronisTokenPath, formType, form("grant_type", "client_credentials",
			"client_id", emulator.DemoAcronisClientID, "client_secret", emulator.DemoAcronisClientSecret), "", 401, "invalid_client", ""},
		{"Basic and body secret", "POST", acronisTokenPath, formType, form("grant_type", "client_credentials",
			"client_secret", emulator.DemoAcronisClientSecret), acronisRawBasic, 400, "invalid_request", ""},
		{"client_id mismatch", "POST", acronisTokenPath, formType, form("grant_type", "client_credentials", "client_id", "other"), acronisRawBasic, 400, "invalid_request", ""},
		{"wrong secret", "POST", acronisTokenPath, formType, acronisGrant, emulator.DemoAcronisClientID + ":nope", 401, "invalid_client", ""},
		{"half-encoded secret", "POST", acronisTokenPath, formType, acronisGrant, emulator.DemoAcronisClientID + ":demo%2BAcr/Secret=:x%", 401, "invalid_client", ""},
		{"unknown client", "POST", acronisTokenPath, formType, acronisGrant, "someone:" + emulator.DemoAcronisClientSecret, 401, "invalid_client", ""},
		{"missing grant_type", "POST", acronisTokenPath, formType, "", acronisRawBasic, 400, "invalid_request", ""},
		{"password grant", "POST", acronisTokenPath, formType, form("grant_type", "password"), acronisRawBasic, 400, "unsupported_grant_type", ""},
		{"JSON body", "POST", acronisTokenPath, "application/json", `{"grant_type":"client_credentials"}`, acronisRawBasic, 400, "invalid_request", ""},
		{"GET", "GET", acronisTokenPath, "", "", acronisRawBasic, 405, "invalid_request", ""},
		{"GET account API path", "GET", "/api/2/idp/token", "", "", acronisRawBasic, 405, "invalid_request", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, base := start(t)
			e.SetClock(func() time.Time { return acronisT0 })
			r := mustCall(t, tc.method, base+tc.path, tc.contentType, tc.body, tc.basic, "")
			if tc.errCode != "" {
				wantRFC6749Error(t, r, tc.status, tc.errCode)
				if tc.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
					t.Fatalf("401 without a Basic challenge: %v", r.header)
				}
				if tc.status == 405 && r.header.Get("Allow") != "POST" {
					t.Fatalf("405 Allow %q", r.header.Get("Allow"))
				}
				if strings.Contains(r.raw, emulator.DemoAcronisClientSecret) {
					t.Fatalf("error echoes the secret: %s", r.raw)
				}
				if n := len(e.Tokens("acronis")); n != 0 {
					t.Fatalf("a failed request issued %d tokens", n)
				}
				return
			}
			if r.status != 200 || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
				t.Fatalf("got %d %v %s", r.status, r.header, r.raw)
			}
			tok, _ := r.body["access_token"].(string)
			if tok == "" || !e.TokenLive(tok) {
				t.Fatalf("access_token %q not live", tok)
			}
			if r.body["token_type"] != "bearer" {
				t.Fatalf("token_type %v, want lower-case bearer", r.body["token_type"])
			}
			if r.body["expires_on"] != float64(acronisT0.Add(acronisLifetime).Unix()) {
				t.Fatalf("expires_on %v, want %d", r.body["expires_on"], acronisT0.Add(acronisLifetime).Unix())
			}
			if _, ok := r.body["expires_in"]; ok {
				t.Fatalf("expires_in sent by default: %s", r.raw)
			}
			if got, ok := r.body["scope"]; tc.scope == "" && ok || tc.scope != "" && got != tc.scope {
				t.Fatalf("scope %v, want %q", got, tc.scope)
			}
			claims := idTokenClaims(t, r.body["id_token"])
			if claims["sub"] != emulator.DemoAcronisClientID || claims["tenant_id"] != emulator.DemoAcronisTenant ||
				claims["exp"] != float64(acronisT0.Add(acronisLifetime).Unix()) {
				t.Fatalf("id_token claims %v", claims)
			}
			if ts := e.Tokens("acronis"); len(ts) != 1 || ts[0].ClientID != emulator.DemoAcronisClientID || ts[0].Scope != tc.scope {
				t.Fatalf("token store: %+v", ts)
			}
		})
	}
}

// idTokenClaims checks that v is three base64url parts, the first two JSON
// objects, and returns the second.
func idTokenClaims(t *testing.T, v any) map[string]any {
	t.Helper()
	s, _ := v.(string)
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q is not three parts", s)
	}
	var objs [2]map[string]any
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil || len(b) == 0 {
			t.Fatalf("id_token part %d not base64url: %v", i, err)
		}
		if i < 2 {
			if err := json.Unmarshal(b, &objs[i]); err != nil {
				t.Fatalf("id_token part %d not JSON: %v", i, err)
			}
		}
	}
	if objs[0]["typ"] != "JWT" || objs[0]["alg"] == nil {
		t.Fatalf("id_token header %v", objs[0])
	}
	return objs[1]
}

func TestAcronisExpiresIn(t *testing.T) {
	e, base := start(t)
	e.AddAcronisClient(emulator.AcronisClient{ID: "short", Secret: "s", TenantID: "t", Lifetime: 10 * time.Minute})
	e.SetAcronisExpiresIn(true)
	for _, tc := range []struct {
		basic string
		want  float64
	}{{acronisRawBasic, 7200}, {"short:s", 600}} {
		r := mustCall(t, "POST", base+acronisTokenPath, formType, acronisGrant, tc.basic, "")
		if r.status != 200 || r.body["expires_in"] != tc.want || r.body["expires_on"] == nil {
			t.Fatalf("with expires_in on: %d %s, want expires_in %v", r.status, r.raw, tc.want)
		}
	}
	e.SetAcronisExpiresIn(false)
	r := mustCall(t, "POST", base+acronisTokenPath, formType, acronisGrant, acronisRawBasic, "")
	if _, ok := r.body["expires_in"]; r.status != 200 || ok {
		t.Fatalf("with expires_in off: %d %s", r.status, r.raw)
	}
}

func TestAcronisClientEndpoint(t *testing.T) {
	e, base := start(t)
	e.AddAcronisClient(emulator.AcronisClient{ID: "other", Secret: "pw", TenantID: "t2"})
	tok := acronisToken(t, base, acronisRawBasic)

	r := mustCall(t, "GET", acronisClientURL(base, emulator.DemoAcronisClientID), "", "", "", tok)
	if r.status != 200 || r.body["id"] != emulator.DemoAcronisClientID || r.body["tenant_id"] != emulator.DemoAcronisTenant ||
		r.body["type"] != "api_client" || r.body["status"] != "enabled" {
		t.Fatalf("client: %d %s", r.status, r.raw)
	}
	wantAcronisError(t, mustCall(t, "GET", acronisClientURL(base, "other"), "", "", "", tok), 403, "forbidden")
	wantAcronisError(t, mustCall(t, "GET", acronisClientURL(base, emulator.DemoAcronisClientID), "", "", "", ""), 401, "unauthorized")
	wantAcronisError(t, mustCall(t, "GET", acronisClientURL(base, emulator.DemoAcronisClientID), "", "", "", "bogus"), 401, "unauthorized")
	// Basic is not a token.
	wantAcronisError(t, mustCall(t, "GET", acronisClientURL(base, emulator.DemoAcronisClientID), "", "", acronisRawBasic, ""), 401, "unauthorized")
	// Another upstream's token is unknown here.
	wantAcronisError(t, mustCall(t, "GET", acronisClientURL(base, emulator.DemoAcronisClientID), "", "", "", token(t, base, demoForm())), 401, "unauthorized")

	r = mustCall(t, "DELETE", acronisClientURL(base, emulator.DemoAcronisClientID), "", "", "", tok)
	wantAcronisError(t, r, 405, "method_not_allowed")
	if r.header.Get("Allow") != "GET" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
}

func TestAcronisExpiry(t *testing.T) {
	e, base := start(t)
	e.SetClock(func() time.Time { return acronisT0 })
	tok := acronisToken(t, base, acronisRawBasic)
	u := acronisClientURL(base, emulator.DemoAcronisClientID)

	e.Advance(acronisLifetime - time.Second)
	if r := mustCall(t, "GET", u, "", "", "", tok); r.status != 200 {
		t.Fatalf("a second before expiry: %d %s", r.status, r.raw)
	}
	e.Advance(time.Second)
	wantAcronisError(t, mustCall(t, "GET", u, "", "", "", tok), 401, "unauthorized")
	if len(e.LiveTokens("acronis")) != 0 {
		t.Fatal("expired token still live")
	}
}

func TestAcronisRevoke(t *testing.T) {
	e, base := start(t)
	e.AddAcronisClient(emulator.AcronisClient{ID: "other", Secret: "pw", TenantID: "t2"})
	tok := acronisToken(t, base, acronisRawBasic)
	keep := acronisToken(t, base, acronisRawBasic)
	others := acronisToken(t, base, "other:pw")
	u := acronisClientURL(base, emulator.DemoAcronisClientID)

	revoke := func(t *testing.T, body, basic string) reply {
		t.Helper()
		return mustCall(t, "POST", base+acronisRevokePath, formType, body, basic, "")
	}
	wantEmpty200 := func(t *testing.T, r reply) {
		t.Helper()
		if r.status != 200 || r.raw != "" {
			t.Fatalf("revoke: %d %q, want 200 with an empty body", r.status, r.raw)
		}
	}

	wantRFC6749Error(t, revoke(t, form("token", tok), acronisEncBasic), 401, "invalid_client")
	wantEmpty200(t, revoke(t, form("token", tok), acronisRawBasic))
	if e.TokenLive(tok) || !e.TokenLive(keep) {
		t.Fatalf("after revoke: revoked live %v, other live %v", e.TokenLive(tok), e.TokenLive(keep))
	}
	if n := e.AcronisUnknownRevokes(); n != 0 {
		t.Fatalf("a real revoke counted as unknown: %d", n)
	}
	wantAcronisError(t, mustCall(t, "GET", u, "", "", "", tok), 401, "unauthorized")
	if r := mustCall(t, "GET", u, "", "", "", keep); r.status != 200 {
		t.Fatalf("unrevoked token: %d %s", r.status, r.raw)
	}

	// Already revoked, unknown, and another client's: 200, counted, and
	// the other client's token survives.
	wantEmpty200(t, revoke(t, form("token", tok, "token_type_hint", "access_token"), acronisRawBasic))
	wantEmpty200(t, revoke(t, form("token", "no-such-token"), acronisRawBasic))
	wantEmpty200(t, revoke(t, form("token", others), acronisRawBasic))
	if n := e.AcronisUnknownRevokes(); n != 3 {
		t.Fatalf("unknown revokes %d, want 3", n)
	}
	if !e.TokenLive(others) {
		t.Fatal("a client revoked another client's token")
	}

	// Refused requests neither revoke nor count.
	cases := []struct {
		name    string
		body    string
		basic   string
		status  int
		errCode string
	}{
		{"missing token", form("token_type_hint", "access_token"), acronisRawBasic, 400, "invalid_request"},
		{"wrong secret", form("token", keep), emulator.DemoAcronisClientID + ":nope", 401, "invalid_client"},
		{"no client auth", form("token", keep), "", 401, "invalid_client"},
		{"body creds only", form("token", keep, "client_id", emulator.DemoAcronisClientID,
			"client_secret", emulator.DemoAcronisClientSecret), "", 401, "invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRFC6749Error(t, revoke(t, tc.body, tc.basic), tc.status, tc.errCode)
			if !e.TokenLive(keep) || e.AcronisUnknownRevokes() != 3 {
				t.Fatalf("refused revoke had an effect: live %v, unknown %d", e.TokenLive(keep), e.AcronisUnknownRevokes())
			}
		})
	}
	r := mustCall(t, "GET", base+acronisRevokePath, "", "", acronisRawBasic, "")
	wantRFC6749Error(t, r, 405, "invalid_request")
	if r.header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
}

// TestAcronisRevokeWithBearer: the revocation endpoint authenticated by the
// token being revoked, the other unverified reading.
func TestAcronisRevokeWithBearer(t *testing.T) {
	e, base := start(t)
	e.SetAcronisRevokeWithBearer(true)
	tok := acronisToken(t, base, acronisRawBasic)
	r := mustCall(t, "POST", base+acronisRevokePath, formType, form("token", tok), acronisRawBasic, "")
	wantAcronisError(t, r, 401, "unauthorized")
	if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") || strings.Contains(ch, "invalid_token") {
		t.Fatalf("Basic in bearer mode: challenge %q", ch)
	}
	if r := mustCall(t, "POST", base+acronisRevokePath, formType, form("token", tok), "", tok); r.status != 200 || e.TokenLive(tok) {
		t.Fatalf("Bearer revoke: %d %s, live %v", r.status, r.raw, e.TokenLive(tok))
	}
	// The token is gone: presenting it again is invalid_token.
	r = mustCall(t, "POST", base+acronisRevokePath, formType, form("token", tok), "", tok)
	wantAcronisError(t, r, 401, "unauthorized")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("dead bearer: challenge %q", r.header.Get("WWW-Authenticate"))
	}
	if r := mustCall(t, "POST", base+"/_emulator/acronis/revoke-with-bearer", "application/json", `{"on":false}`, "", ""); r.status != 204 {
		t.Fatalf("admin switch: %d", r.status)
	}
	tok = acronisToken(t, base, acronisRawBasic)
	if r := mustCall(t, "POST", base+acronisRevokePath, formType, form("token", tok), "", tok); r.status != 401 || !e.TokenLive(tok) {
		t.Fatalf("Bearer in Basic mode: %d %s", r.status, r.raw)
	}
}

func TestAcronisDisabledClient(t *testing.T) {
	e, base := start(t)
	tok := acronisToken(t, base, acronisRawBasic)
	u := acronisClientURL(base, emulator.DemoAcronisClientID)

	e.DisableAcronisClient(emulator.DemoAcronisClientID)
	for _, basic := range []string{acronisRawBasic, acronisEncBasic} {
		r := mustCall(t, "POST", base+acronisTokenPath, formType, acronisGrant, basic, "")
		wantRFC6749Error(t, r, 401, "invalid_client")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("no Basic challenge: %v", r.header)
		}
	}
	wantAcronisError(t, mustCall(t, "GET", u, "", "", "", tok), 401, "unauthorized")
	wantRFC6749Error(t, mustCall(t, "POST", base+acronisRevokePath, formType, form("token", tok), acronisRawBasic, ""), 401, "invalid_client")

	// Adding the client again (a regenerated key) enables it.
	e.AddAcronisClient(emulator.AcronisClient{ID: emulator.DemoAcronisClientID, Secret: "new", TenantID: emulator.DemoAcronisTenant})
	acronisToken(t, base, emulator.DemoAcronisClientID+":new")
}

func TestAcronisOpenIDConfiguration(t *testing.T) {
	_, base := start(t)
	r := mustCall(t, "GET", base+"/.well-known/openid-configuration", "", "", "", "")
	if r.status != 200 || r.body["issuer"] != base || r.body["token_endpoint"] != base+acronisTokenPath ||
		r.body["revocation_endpoint"] != base+acronisRevokePath {
		t.Fatalf("discovery: %d %s", r.status, r.raw)
	}
	if g, _ := r.body["grant_types_supported"].([]any); len(g) != 1 || g[0] != "client_credentials" {
		t.Fatalf("grant_types_supported %v", r.body["grant_types_supported"])
	}
	// The advertised endpoint works.
	acronisToken(t, base, acronisRawBasic)
	if r := mustCall(t, "POST", base+"/.well-known/openid-configuration", formType, "", "", ""); r.status != 405 || r.header.Get("Allow") != "GET" {
		t.Fatalf("POST discovery: %d %v", r.status, r.header)
	}
}

func TestAcronisAdmin(t *testing.T) {
	e, base := start(t)
	e.SetClock(func() time.Time { return acronisT0 })
	admin := base + "/_emulator/acronis/"

	cases := []struct {
		name   string
		path   string
		body   string
		status int
	}{
		{"add", "clients", `{"id":"adm","secret":"a+b/c=:d","tenant_id":"t9","lifetime_seconds":60}`, 204},
		{"add without secret", "clients", `{"id":"x"}`, 400},
		{"negative lifetime", "clients", `{"id":"x","secret":"s","lifetime_seconds":-1}`, 400},
		{"unknown field", "clients", `{"id":"x","secret":"s","orgs":[]}`, 400},
		{"disable unknown", "clients/nobody/disable", "", 404},
		{"expires-in on", "expires-in", `{"on":true}`, 204},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := mustCall(t, "POST", admin+tc.path, "application/json", tc.body, "", ""); r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.raw, tc.status)
			}
		})
	}

	r := mustCall(t, "POST", base+acronisTokenPath, formType, acronisGrant, "adm:a+b/c=:d", "")
	if r.status != 200 || r.body["expires_on"] != float64(acronisT0.Add(time.Minute).Unix()) || r.body["expires_in"] != float64(60) {
		t.Fatalf("admin-added client: %d %s", r.status, r.raw)
	}
	tok := r.body["access_token"].(string)
	if r := mustCall(t, "GET", acronisClientURL(base, "adm"), "", "", "", tok); r.status != 200 || r.body["tenant_id"] != "t9" {
		t.Fatalf("client: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", admin+"clients/adm/disable", "", "", "", ""); r.status != 204 {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}
	wantAcronisError(t, mustCall(t, "GET", acronisClientURL(base, "adm"), "", "", "", tok), 401, "unauthorized")
}

func TestAcronisFaults(t *testing.T) {
	e, base := start(t)
	e.InjectFault(emulator.Fault{PathPrefix: acronisTokenPath, Status: 503, RetryAfter: "7"})
	r := mustCall(t, "POST", base+acronisTokenPath, formType, acronisGrant, acronisRawBasic, "")
	if r.status != 503 || r.header.Get("Retry-After") != "7" {
		t.Fatalf("faulted: %d %v", r.status, r.header)
	}
	acronisToken(t, base, acronisRawBasic)
	if n := e.Requests(acronisTokenPath); n != 2 {
		t.Fatalf("requests %d, want 2", n)
	}
}

func TestAcronisRevokeNotFound(t *testing.T) {
	e, base := start(t)
	tok := acronisToken(t, base, acronisRawBasic)
	revoke := func(tok string) reply {
		return mustCall(t, "POST", base+acronisRevokePath, formType, form("token", tok), acronisRawBasic, "")
	}
	// Off (the default): RFC 7009's 200 for an unknown token.
	if r := revoke("unknown"); r.status != 200 {
		t.Fatalf("unknown token, switch off: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+"/_emulator/acronis/revoke-not-found", "application/json", `{"on":true}`, "", ""); r.status != 204 {
		t.Fatalf("admin switch: %d %s", r.status, r.raw)
	}
	// A live token is still revoked with 200; then it is gone: 404 with
	// the server's JSON error body.
	if r := revoke(tok); r.status != 200 || r.raw != "" {
		t.Fatalf("live token: %d %s", r.status, r.raw)
	}
	wantRFC6749Error(t, revoke(tok), 404, "invalid_token")
	wantRFC6749Error(t, revoke("unknown"), 404, "invalid_token")
	// Client authentication still comes first.
	wantRFC6749Error(t, mustCall(t, "POST", base+acronisRevokePath, formType, form("token", "unknown"), acronisEncBasic, ""), 401, "invalid_client")
	// The same through revocation by Bearer: a live token presented as
	// its own credential revokes another that is dead.
	e.SetAcronisRevokeWithBearer(true)
	live := acronisToken(t, base, acronisRawBasic)
	wantRFC6749Error(t, mustCall(t, "POST", base+acronisRevokePath, formType, form("token", tok), "", live), 404, "invalid_token")
	e.SetAcronisRevokeNotFound(false)
	if r := mustCall(t, "POST", base+acronisRevokePath, formType, form("token", tok), "", live); r.status != 200 {
		t.Fatalf("switched off: %d %s", r.status, r.raw)
	}
}

func TestAcronisClientsAtBaseURL(t *testing.T) {
	e, base := start(t)
	tok := acronisToken(t, base, acronisRawBasic)
	atBase := base + "/clients/" + url.PathEscape(emulator.DemoAcronisClientID)
	api := acronisClientURL(base, emulator.DemoAcronisClientID)
	want := func(u string, status int) {
		t.Helper()
		r := mustCall(t, "GET", u, "", "", "", tok)
		if r.status != status || status == 200 && r.body["tenant_id"] != emulator.DemoAcronisTenant {
			t.Fatalf("GET %s: %d %s, want %d", u, r.status, r.raw, status)
		}
	}
	want(api, 200)
	want(atBase, 404)
	if r := mustCall(t, "POST", base+"/_emulator/acronis/clients-at-base-url", "application/json", `{"on":true}`, "", ""); r.status != 204 {
		t.Fatalf("admin switch: %d %s", r.status, r.raw)
	}
	want(api, 404)
	want(atBase, 200)
	wantAcronisError(t, mustCall(t, "GET", atBase, "", "", "", "bogus"), 401, "unauthorized")
	e.SetAcronisClientsAtBaseURL(false)
	want(api, 200)
	want(atBase, 404)
}

func TestAcronisFormDecodedBasic(t *testing.T) {
	e, base := start(t)
	tokenStatus := func(basic string) int {
		return mustCall(t, "POST", base+acronisTokenPath, formType, acronisGrant, basic, "").status
	}
	if tokenStatus(acronisRawBasic) != 200 || tokenStatus(acronisEncBasic) != 401 {
		t.Fatal("default: raw Basic must pass and form-encoded Basic fail")
	}
	if r := mustCall(t, "POST", base+"/_emulator/acronis/form-decoded-basic", "application/json", `{"on":true}`, "", ""); r.status != 204 {
		t.Fatalf("admin switch: %d %s", r.status, r.raw)
	}
	wantRFC6749Error(t, mustCall(t, "POST", base+acronisTokenPath, formType, acronisGrant, acronisRawBasic, ""), 401, "invalid_client")
	wantRFC6749Error(t, mustCall(t, "POST", base+acronisTokenPath, formType, acronisGrant, emulator.DemoAcronisClientID+":%zz", ""), 401, "invalid_client")
	tok := acronisToken(t, base, acronisEncBasic)
	// Revocation decodes the same way.
	revoke := func(basic string) reply {
		return mustCall(t, "POST", base+acronisRevokePath, formType, form("token", tok), basic, "")
	}
	wantRFC6749Error(t, revoke(acronisRawBasic), 401, "invalid_client")
	if r := revoke(acronisEncBasic); r.status != 200 || e.TokenLive(tok) {
		t.Fatalf("revoke with form-encoded Basic: %d %s", r.status, r.raw)
	}
	e.SetAcronisFormDecodedBasic(false)
	if tokenStatus(acronisRawBasic) != 200 || tokenStatus(acronisEncBasic) != 401 {
		t.Fatal("switched off: raw Basic must pass again")
	}
}
