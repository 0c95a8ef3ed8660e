package emulator_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

const (
	oauth2TokenPath    = "/oauth2/token"
	oauth2RevokePath   = "/oauth2/revoke"
	oauth2ResourcePath = "/oauth2/resource"
)

var (
	oauth2EncBasic = url.QueryEscape(emulator.DemoOAuth2ClientID) + ":" + url.QueryEscape(emulator.DemoOAuth2ClientSecret)
	oauth2RawBasic = emulator.DemoOAuth2ClientID + ":" + emulator.DemoOAuth2ClientSecret
)

func oauth2BodyForm(extra ...string) string {
	return form(append([]string{"grant_type", "client_credentials",
		"client_id", emulator.DemoOAuth2ClientID, "client_secret", emulator.DemoOAuth2ClientSecret}, extra...)...)
}

// oauth2Token gets a token with body credentials or fails the test.
func oauth2Token(t *testing.T, base string, extra ...string) string {
	t.Helper()
	r := mustCall(t, "POST", base+oauth2TokenPath, formType, oauth2BodyForm(extra...), "", "")
	tok, _ := r.body["access_token"].(string)
	if r.status != 200 || tok == "" {
		t.Fatalf("token: %d %s", r.status, r.raw)
	}
	return tok
}

// wantOAuth2Resource checks whether tok works at the protected resource.
func wantOAuth2Resource(t *testing.T, base, tok string, live bool) {
	t.Helper()
	r := mustCall(t, "GET", base+oauth2ResourcePath, "", "", "", tok)
	if live {
		if r.status != 200 || r.body["ok"] != true || r.body["client_id"] == nil {
			t.Fatalf("resource: %d %s, want 200", r.status, r.raw)
		}
		return
	}
	if r.status != 401 || r.body["error"] != "invalid_token" || r.header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Fatalf("resource: %d %v %s, want 401 invalid_token", r.status, r.header, r.raw)
	}
}

func TestOAuth2TokenEndpoint(t *testing.T) {
	grant := form("grant_type", "client_credentials")
	cases := []struct {
		name    string
		method  string
		body    string
		basic   string
		status  int
		errCode string // "" for success
		scope   string
	}{
		{"body creds", "POST", oauth2BodyForm(), "", 200, "", ""},
		{"RFC-encoded Basic", "POST", grant, oauth2EncBasic, 200, "", ""},
		{"Basic with matching client_id", "POST", form("grant_type", "client_credentials", "client_id", emulator.DemoOAuth2ClientID), oauth2EncBasic, 200, "", ""},
		{"raw Basic with '+'", "POST", grant, oauth2RawBasic, 401, "invalid_client", ""},
		{"Basic and body secret", "POST", oauth2BodyForm(), oauth2EncBasic, 400, "invalid_request", ""},
		{"Basic and other client_id", "POST", form("grant_type", "client_credentials", "client_id", "other"), oauth2EncBasic, 400, "invalid_request", ""},
		{"no client auth", "POST", grant, "", 401, "invalid_client", ""},
		{"client_id only", "POST", form("grant_type", "client_credentials", "client_id", emulator.DemoOAuth2ClientID), "", 401, "invalid_client", ""},
		{"wrong secret", "POST", form("grant_type", "client_credentials", "client_id", emulator.DemoOAuth2ClientID, "client_secret", "nope"), "", 401, "invalid_client", ""},
		{"unknown client", "POST", form("grant_type", "client_credentials", "client_id", "someone", "client_secret", emulator.DemoOAuth2ClientSecret), "", 401, "invalid_client", ""},
		{"malformed Basic escape", "POST", grant, emulator.DemoOAuth2ClientID + ":%zz", 401, "invalid_client", ""},
		{"one allowed scope", "POST", oauth2BodyForm("scope", "read"), "", 200, "", "read"},
		{"all allowed scopes", "POST", oauth2BodyForm("scope", emulator.DemoOAuth2Scopes), "", 200, "", emulator.DemoOAuth2Scopes},
		{"scope with Basic", "POST", form("grant_type", "client_credentials", "scope", "write"), oauth2EncBasic, 200, "", "write"},
		{"unknown scope", "POST", oauth2BodyForm("scope", "read admin"), "", 400, "invalid_scope", ""},
		{"double space", "POST", oauth2BodyForm("scope", "read  write"), "", 400, "invalid_scope", ""},
		{"empty scope", "POST", oauth2BodyForm("scope", ""), "", 400, "invalid_scope", ""},
		{"quote in scope", "POST", oauth2BodyForm("scope", `re"ad`), "", 400, "invalid_scope", ""},
		{"missing grant_type", "POST", form("client_id", emulator.DemoOAuth2ClientID, "client_secret", emulator.DemoOAuth2ClientSecret), "", 400, "invalid_request", ""},
		{"unknown code", "POST", form("grant_type", "authorization_code", "code", "x",
			"client_id", emulator.DemoOAuth2ClientID, "client_secret", emulator.DemoOAuth2ClientSecret), "", 400, "invalid_grant", ""},
		{"password grant", "POST", form("grant_type", "password", "username", "u", "password", "p",
			"client_id", emulator.DemoOAuth2ClientID, "client_secret", emulator.DemoOAuth2ClientSecret), "", 400, "unsupported_grant_type", ""},
		{"GET", "GET", "", "", 405, "invalid_request", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, base := start(t)
			ct := formType
			if tc.method == "GET" {
				ct = ""
			}
			r := mustCall(t, tc.method, base+oauth2TokenPath, ct, tc.body, tc.basic, "")
			if tc.errCode != "" {
				wantRFC6749Error(t, r, tc.status, tc.errCode)
				if tc.status == 401 && tc.basic != "" && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
					t.Fatalf("401 after Basic without a Basic challenge: %v", r.header)
				}
				if tc.status == 405 && r.header.Get("Allow") != "POST" {
					t.Fatalf("405 Allow %q", r.header.Get("Allow"))
				}
				if strings.Contains(r.raw, emulator.DemoOAuth2ClientSecret) {
					t.Fatalf("error echoes the secret: %s", r.raw)
				}
				if n := len(e.Tokens("oauth2")); n != 0 {
					t.Fatalf("a failed request issued %d tokens", n)
				}
				return
			}
			if r.status != 200 || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
				t.Fatalf("got %d %v %s", r.status, r.header, r.raw)
			}
			tok, _ := r.body["access_token"].(string)
			if r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(3600) || tok == "" {
				t.Fatalf("token JSON: %s", r.raw)
			}
			if got, ok := r.body["scope"]; tc.scope == "" && ok || tc.scope != "" && got != tc.scope {
				t.Fatalf("scope %v, want %q", got, tc.scope)
			}
			wantOAuth2Resource(t, base, tok, true)
		})
	}
}

func TestOAuth2AnyScopeAndLifetime(t *testing.T) {
	e, base := start(t)
	e.AddOAuth2Client(emulator.OAuth2Client{ID: "open", Secret: "s p+c", Lifetime: time.Minute})
	body := form("grant_type", "client_credentials", "client_id", "open", "client_secret", "s p+c", "scope", "anything:at-all other")
	r := mustCall(t, "POST", base+oauth2TokenPath, formType, body, "", "")
	if r.status != 200 || r.body["scope"] != "anything:at-all other" || r.body["expires_in"] != float64(60) {
		t.Fatalf("any scope: %d %s", r.status, r.raw)
	}
}

func TestOAuth2Expiry(t *testing.T) {
	e, base := start(t)
	e.SetClock(func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) })
	tok := oauth2Token(t, base)
	e.Advance(time.Hour - time.Second)
	wantOAuth2Resource(t, base, tok, true)
	e.Advance(time.Second)
	wantOAuth2Resource(t, base, tok, false)
}

func TestOAuth2Resource(t *testing.T) {
	_, base := start(t)
	r := mustCall(t, "GET", base+oauth2ResourcePath, "", "", "", "")
	if r.status != 401 || r.body["error"] != "invalid_token" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") ||
		strings.Contains(r.header.Get("WWW-Authenticate"), "error=") {
		t.Fatalf("no token: %d %v %s", r.status, r.header, r.raw)
	}
	wantOAuth2Resource(t, base, "bogus", false)
	wantOAuth2Resource(t, base, token(t, base, demoForm()), false) // a Cloud token
	tok := oauth2Token(t, base)
	r = mustCall(t, "GET", base+oauth2ResourcePath, "", "", "", tok)
	if r.status != 200 || r.body["client_id"] != emulator.DemoOAuth2ClientID {
		t.Fatalf("resource: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+oauth2ResourcePath, formType, "", "", tok); r.status != 405 || r.header.Get("Allow") != "GET" {
		t.Fatalf("POST resource: %d %v", r.status, r.header)
	}
}

func TestOAuth2Revoke(t *testing.T) {
	e, base := start(t)
	e.AddOAuth2Client(emulator.OAuth2Client{ID: "other", Secret: "pw"})
	tok, keep := oauth2Token(t, base), oauth2Token(t, base)
	others := oauth2TokenFor(t, base, "other", "pw")

	revoke := func(t *testing.T, body, basic string) reply {
		t.Helper()
		return mustCall(t, "POST", base+oauth2RevokePath, formType, body, basic, "")
	}
	wantEmpty200 := func(t *testing.T, r reply) {
		t.Helper()
		if r.status != 200 || r.raw != "" {
			t.Fatalf("revoke: %d %q, want 200 with an empty body", r.status, r.raw)
		}
	}
	clientBody := func(kv ...string) string {
		return form(append([]string{"client_id", emulator.DemoOAuth2ClientID, "client_secret", emulator.DemoOAuth2ClientSecret}, kv...)...)
	}

	before := time.Now()
	wantEmpty200(t, revoke(t, clientBody("token", tok), ""))
	after := time.Now()
	wantOAuth2Resource(t, base, tok, false)
	wantOAuth2Resource(t, base, keep, true)
	revokedAt := func(value string) time.Time {
		t.Helper()
		got, ok := e.Token(value)
		if !ok {
			t.Fatalf("the emulator lost a token")
		}
		return got.RevokedAt
	}
	if at := revokedAt(tok); at.Before(before) || at.After(after) {
		t.Fatalf("RevokedAt %v, want between %v and %v", at, before, after)
	}
	if at := revokedAt(keep); !at.IsZero() {
		t.Fatalf("a live token has RevokedAt %v", at)
	}

	// Unknown, already revoked and another client's: 200, nothing changes.
	wantEmpty200(t, revoke(t, form("token", "no-such-token"), oauth2EncBasic))
	first := revokedAt(tok)
	wantEmpty200(t, revoke(t, form("token", tok, "token_type_hint", "access_token"), oauth2EncBasic))
	if at := revokedAt(tok); !at.Equal(first) {
		t.Fatalf("revoking a revoked token moved RevokedAt from %v to %v", first, at)
	}
	wantEmpty200(t, revoke(t, clientBody("token", others, "token_type_hint", "refresh_token"), ""))
	wantOAuth2Resource(t, base, others, true)

	cases := []struct {
		name    string
		body    string
		basic   string
		status  int
		errCode string
	}{
		{"missing token", clientBody(), "", 400, "invalid_request"},
		{"missing token, Basic", form("token_type_hint", "access_token"), oauth2EncBasic, 400, "invalid_request"},
		{"unsupported hint", clientBody("token", keep, "token_type_hint", "id_token"), "", 400, "unsupported_token_type"},
		{"no client auth", form("token", keep), "", 401, "invalid_client"},
		{"raw Basic with '+'", form("token", keep), oauth2RawBasic, 401, "invalid_client"},
		{"both methods", clientBody("token", keep), oauth2EncBasic, 400, "invalid_request"},
		{"wrong secret", form("token", keep, "client_id", emulator.DemoOAuth2ClientID, "client_secret", "nope"), "", 401, "invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRFC6749Error(t, revoke(t, tc.body, tc.basic), tc.status, tc.errCode)
			wantOAuth2Resource(t, base, keep, true)
		})
	}

	// With Basic, revocation works too.
	wantEmpty200(t, revoke(t, form("token", keep), oauth2EncBasic))
	wantOAuth2Resource(t, base, keep, false)

	r := mustCall(t, "GET", base+oauth2RevokePath, "", "", oauth2EncBasic, "")
	wantRFC6749Error(t, r, 405, "invalid_request")
	if r.header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
}

// TestOAuth2RevocationRefreshOnly: a server that revokes refresh tokens
// only refuses an access token with unsupported_token_type.
func TestOAuth2RevocationRefreshOnly(t *testing.T) {
	e, base := start(t)
	e.SetOAuth2RevocationRefreshOnly(true)
	tok := oauth2Token(t, base)
	r := mustCall(t, "POST", base+oauth2RevokePath, formType, form("token", tok), oauth2EncBasic, "")
	wantRFC6749Error(t, r, 400, "unsupported_token_type")
	wantOAuth2Resource(t, base, tok, true)
	if r := mustCall(t, "POST", base+oauth2RevokePath, formType, form("token", "unknown", "token_type_hint", "refresh_token"), oauth2EncBasic, ""); r.status != 200 {
		t.Fatalf("unknown refresh token: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+"/_emulator/oauth2/revocation-refresh-only", "application/json", `{"on":false}`, "", ""); r.status != 204 {
		t.Fatalf("admin switch: %d", r.status)
	}
	if r := mustCall(t, "POST", base+oauth2RevokePath, formType, form("token", tok), oauth2EncBasic, ""); r.status != 200 {
		t.Fatalf("switched off: %d %s", r.status, r.raw)
	}
	wantOAuth2Resource(t, base, tok, false)
}

// oauth2TokenFor gets an oauth2 token for any client with body credentials.
func oauth2TokenFor(t *testing.T, base, id, secret string) string {
	t.Helper()
	r := mustCall(t, "POST", base+oauth2TokenPath, formType,
		form("grant_type", "client_credentials", "client_id", id, "client_secret", secret), "", "")
	tok, _ := r.body["access_token"].(string)
	if r.status != 200 || tok == "" {
		t.Fatalf("token: %d %s", r.status, r.raw)
	}
	return tok
}

func TestOAuth2Admin(t *testing.T) {
	_, base := start(t)
	cases := []struct {
		name   string
		body   string
		status int
	}{
		{"add", `{"id":"adm","secret":"x+y","scopes":["a","b"],"lifetime_seconds":120}`, 204},
		{"add without id", `{"secret":"s"}`, 400},
		{"negative lifetime", `{"id":"x","secret":"s","lifetime_seconds":-5}`, 400},
		{"unknown field", `{"id":"x","secret":"s","orgs":[]}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := mustCall(t, "POST", base+"/_emulator/oauth2/clients", "application/json", tc.body, "", ""); r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.raw, tc.status)
			}
		})
	}
	r := mustCall(t, "POST", base+oauth2TokenPath, formType,
		form("grant_type", "client_credentials", "scope", "b"), url.QueryEscape("adm")+":"+url.QueryEscape("x+y"), "")
	if r.status != 200 || r.body["expires_in"] != float64(120) || r.body["scope"] != "b" {
		t.Fatalf("admin-added client: %d %s", r.status, r.raw)
	}
	r = mustCall(t, "POST", base+oauth2TokenPath, formType,
		form("grant_type", "client_credentials", "client_id", "adm", "client_secret", "x+y", "scope", "read"), "", "")
	wantRFC6749Error(t, r, 400, "invalid_scope")
}

func TestOAuth2RevokeNotFound(t *testing.T) {
	e, base := start(t)
	tok := oauth2Token(t, base)
	revoke := func(tok string) reply {
		return mustCall(t, "POST", base+oauth2RevokePath, formType, form("token", tok), oauth2EncBasic, "")
	}
	if r := revoke("unknown"); r.status != 200 {
		t.Fatalf("unknown token, switch off: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+"/_emulator/oauth2/revoke-not-found", "application/json", `{"on":true}`, "", ""); r.status != 204 {
		t.Fatalf("admin switch: %d %s", r.status, r.raw)
	}
	if r := revoke(tok); r.status != 200 {
		t.Fatalf("live token: %d %s", r.status, r.raw)
	}
	wantOAuth2Resource(t, base, tok, false)
	wantRFC6749Error(t, revoke(tok), 404, "invalid_token")
	wantRFC6749Error(t, revoke("unknown"), 404, "invalid_token")
	wantRFC6749Error(t, mustCall(t, "POST", base+oauth2RevokePath, formType, form("token", "unknown"), oauth2RawBasic, ""), 401, "invalid_client")
	e.SetOAuth2RevokeNotFound(false)
	if r := revoke(tok); r.status != 200 {
		t.Fatalf("switched off: %d %s", r.status, r.raw)
	}
}
