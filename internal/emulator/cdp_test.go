package emulator_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

const (
	cdpJSON     = "application/json"
	cdpTok      = "/token?scheme=a1user"
	cdpCreate   = cdpTok + "&action=create"
	cdpExtend   = cdpTok + "&action=extend"
	cdpLifetime = 180 * 24 * time.Hour
)

var (
	cdpBasic = emulator.DemoCDPUsername + ":" + emulator.DemoCDPPassword
	uuidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// cdpToken creates a CDP token with Basic creds or fails the test.
func cdpToken(t *testing.T, base, basic string) string {
	t.Helper()
	r := mustCall(t, "POST", base+cdpCreate, cdpJSON, "", basic, "")
	tok, _ := r.body["access_token"].(string)
	if r.status != 200 || tok == "" {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	return tok
}

// wantCDPError checks status and the CDP error shape.
func wantCDPError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.body["errorCode"] != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
	if msg, _ := r.body["userMessage"].(string); msg == "" {
		t.Fatalf("no userMessage: %s", r.raw)
	}
	if dev, _ := r.body["developerMessage"].(string); !uuidRE.MatchString(dev) {
		t.Fatalf("developerMessage not a uuid: %s", r.raw)
	}
}

func TestCDPRequestChecks(t *testing.T) {
	cdpTokenOf := func(t *testing.T, base string) string { return cdpToken(t, base, cdpBasic) }
	cases := []struct {
		name        string
		method      string
		path        string
		contentType string
		basic       string
		bearer      func(t *testing.T, base string) string
		status      int
		code        string // "" for a 200 token answer
	}{
		{"create with Basic", "POST", cdpCreate, cdpJSON, cdpBasic, nil, 200, ""},
		{"create with a1webtag", "POST", "/token?scheme=a1webtag&action=create", cdpJSON, cdpBasic, nil, 200, ""},
		{"create with charset", "POST", cdpCreate, "application/json; charset=utf-8", cdpBasic, nil, 200, ""},
		{"login with Basic", "POST", "/authentication?scheme=a1user&action=login", cdpJSON, cdpBasic, nil, 200, ""},
		{"create with Bearer", "POST", cdpCreate, cdpJSON, "", cdpTokenOf, 401, "INVALID_CREDENTIALS"},
		{"create without auth", "POST", cdpCreate, cdpJSON, "", nil, 401, "INVALID_CREDENTIALS"},
		{"create wrong password", "POST", cdpCreate, cdpJSON, emulator.DemoCDPUsername + ":nope", nil, 401, "INVALID_CREDENTIALS"},
		{"create unknown user", "POST", cdpCreate, cdpJSON, "someone:" + emulator.DemoCDPPassword, nil, 401, "INVALID_CREDENTIALS"},
		{"extend with Basic", "POST", cdpExtend, cdpJSON, cdpBasic, nil, 401, "INVALID_TOKEN"},
		{"extend unknown token", "POST", cdpExtend, cdpJSON, "", func(*testing.T, string) string { return "bogus" }, 401, "INVALID_TOKEN"},
		{"extend with session token", "POST", cdpExtend, cdpJSON, "", func(t *testing.T, base string) string {
			r := mustCall(t, "POST", base+"/authentication?scheme=a1user&action=login", cdpJSON, "", cdpBasic, "")
			return r.body["access_token"].(string)
		}, 401, "INVALID_TOKEN"},
		{"extend with cloud token", "POST", cdpExtend, cdpJSON, "", func(t *testing.T, base string) string {
			return token(t, base, demoForm())
		}, 401, "INVALID_TOKEN"},
		{"retrieve with Bearer", "GET", cdpTok, "", "", cdpTokenOf, 401, "INVALID_CREDENTIALS"},
		{"logout with Basic", "POST", "/authentication?scheme=a1user&action=logout", cdpJSON, cdpBasic, nil, 401, "INVALID_TOKEN"},
		{"missing scheme", "POST", "/token?action=create", cdpJSON, cdpBasic, nil, 400, "INVALID_REQUEST"},
		{"login as the vendor sends it", "POST", "/authentication?action=login", cdpJSON, cdpBasic, nil, 200, ""},
		{"login other scheme", "POST", "/authentication?scheme=oauth&action=login", cdpJSON, cdpBasic, nil, 400, "INVALID_REQUEST"},
		{"other scheme", "GET", "/token?scheme=oauth", "", cdpBasic, nil, 400, "INVALID_REQUEST"},
		{"wrong content type", "POST", cdpCreate, formType, cdpBasic, nil, 415, "INVALID_REQUEST"},
		{"no content type on DELETE", "DELETE", cdpTok, "", cdpBasic, nil, 415, "INVALID_REQUEST"},
		{"unknown action", "POST", cdpTok + "&action=renew", cdpJSON, cdpBasic, nil, 400, "INVALID_REQUEST"},
		{"missing action", "POST", cdpTok, cdpJSON, cdpBasic, nil, 400, "INVALID_REQUEST"},
		{"unknown login action", "POST", "/authentication?scheme=a1user&action=signin", cdpJSON, cdpBasic, nil, 400, "INVALID_REQUEST"},
		{"wrong method", "PUT", cdpTok, cdpJSON, cdpBasic, nil, 405, "METHOD_NOT_ALLOWED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, base := start(t)
			bearer := ""
			if tc.bearer != nil {
				bearer = tc.bearer(t, base)
			}
			before := len(e.Tokens("cdp"))
			r := mustCall(t, tc.method, base+tc.path, tc.contentType, "", tc.basic, bearer)
			if tc.code != "" {
				wantCDPError(t, r, tc.status, tc.code)
				if n := len(e.Tokens("cdp")); n != before {
					t.Fatalf("a failed call issued tokens: %d -> %d", before, n)
				}
				return
			}
			if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d %v %s", r.status, r.header, r.raw)
			}
			tok, _ := r.body["access_token"].(string)
			if !uuidRE.MatchString(tok) || !e.TokenLive(tok) {
				t.Fatalf("access_token %q not a live uuid", tok)
			}
			if r.body["token_type"] != "bearer" || r.body["expires_in"] != float64(cdpLifetime/time.Second) ||
				r.body["tenantId"] != emulator.DemoCDPTenant || r.body["username"] != emulator.DemoCDPUsername ||
				r.body["userType"] != "CLIENT" {
				t.Fatalf("token JSON: %s", r.raw)
			}
			if _, err := time.Parse("2006-01-02T15:04:05", r.body["passwordExpiryDate"].(string)); err != nil {
				t.Fatalf("passwordExpiryDate: %v", err)
			}
		})
	}
}

func TestCDPExtend(t *testing.T) {
	e, base := start(t)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	e.SetClock(func() time.Time { return t0 })
	tok := cdpToken(t, base, cdpBasic)

	e.Advance(30 * 24 * time.Hour)
	r := mustCall(t, "POST", base+cdpExtend, cdpJSON, "", "", tok)
	if r.status != 200 || r.body["access_token"] != tok || r.body["expires_in"] != float64(cdpLifetime/time.Second) {
		t.Fatalf("extend: %d %s", r.status, r.raw)
	}
	if got, want := e.Tokens("cdp")[1].ExpiresAt, t0.Add(30*24*time.Hour+cdpLifetime); !got.Equal(want) {
		t.Fatalf("expiry %v, want %v", got, want)
	}

	// The extended token outlives the original expiry, then dies.
	e.Advance(cdpLifetime - time.Second)
	if !e.TokenLive(tok) {
		t.Fatal("extended token expired at its original expiry")
	}
	e.Advance(time.Second)
	wantCDPError(t, mustCall(t, "POST", base+cdpExtend, cdpJSON, "", "", tok), 401, "INVALID_TOKEN")
}

func TestCDPRetrieve(t *testing.T) {
	e, base := start(t)
	// CDP made a token when it created the user.
	initial := e.CDPInitialToken(emulator.DemoCDPUsername)
	if r := mustCall(t, "GET", base+cdpTok, "", "", cdpBasic, ""); r.status != 200 || r.body["access_token"] != initial || initial == "" {
		t.Fatalf("retrieve of a new user: %d %s, want its first token", r.status, r.raw)
	}
	cdpToken(t, base, cdpBasic)
	newest := cdpToken(t, base, cdpBasic)
	r := mustCall(t, "GET", base+cdpTok, "", "", cdpBasic, "")
	if r.status != 200 || r.body["access_token"] != newest {
		t.Fatalf("retrieve: %d %s, want %s", r.status, r.raw, newest)
	}
	if n := len(e.Tokens("cdp")); n != 3 {
		t.Fatalf("retrieve created tokens: %d", n)
	}
	// Expired tokens are not current; what a user without tokens gets is
	// a setting.
	e.Advance(cdpLifetime)
	wantCDPError(t, mustCall(t, "GET", base+cdpTok, "", "", cdpBasic, ""), 404, "NOT_FOUND")
	e.SetCDPNoTokenStatus(401)
	wantCDPError(t, mustCall(t, "GET", base+cdpTok, "", "", cdpBasic, ""), 401, "INVALID_TOKEN")
	e.SetCDPNoTokenStatus(200)
	if r := mustCall(t, "GET", base+cdpTok, "", "", cdpBasic, ""); r.status != 200 || r.raw != "" {
		t.Fatalf("retrieve without a token, 200 mode: %d %q", r.status, r.raw)
	}
	// Wrong credentials stay a 401 INVALID_CREDENTIALS in every mode.
	wantCDPError(t, mustCall(t, "GET", base+cdpTok, "", "", emulator.DemoCDPUsername+":bad", ""), 401, "INVALID_CREDENTIALS")
	if n := len(e.Tokens("cdp")); n != 3 {
		t.Fatalf("retrieve created tokens: %d", n)
	}
}

func TestCDPRevoke(t *testing.T) {
	e, base := start(t)
	e.AddCDPUser(emulator.CDPUser{Username: "other", Password: "pw", TenantID: "t2"})
	a, b := cdpToken(t, base, cdpBasic), cdpToken(t, base, cdpBasic)
	other := cdpToken(t, base, "other:pw")

	r := mustCall(t, "DELETE", base+cdpTok, cdpJSON, "", "", a)
	if r.status != 200 || strings.TrimSpace(r.raw) != "{}" {
		t.Fatalf("revoke one: %d %s", r.status, r.raw)
	}
	if e.TokenLive(a) || !e.TokenLive(b) {
		t.Fatalf("after revoke one: a live %v, b live %v", e.TokenLive(a), e.TokenLive(b))
	}
	wantCDPError(t, mustCall(t, "DELETE", base+cdpTok, cdpJSON, "", "", a), 401, "INVALID_TOKEN")

	r = mustCall(t, "DELETE", base+cdpTok, cdpJSON, "", cdpBasic, "")
	if r.status != 200 || strings.TrimSpace(r.raw) != "{}" {
		t.Fatalf("revoke all: %d %s", r.status, r.raw)
	}
	if e.TokenLive(b) || e.TokenLive(e.CDPInitialToken(emulator.DemoCDPUsername)) || !e.TokenLive(other) {
		t.Fatalf("after revoke all: b live %v, other user's live %v", e.TokenLive(b), e.TokenLive(other))
	}
	// Nothing left to delete: the no-token answer.
	wantCDPError(t, mustCall(t, "DELETE", base+cdpTok, cdpJSON, "", cdpBasic, ""), 404, "NOT_FOUND")
	wantCDPError(t, mustCall(t, "DELETE", base+cdpTok, cdpJSON, "", emulator.DemoCDPUsername+":bad", ""), 401, "INVALID_CREDENTIALS")
}

func TestCDPTokenLimit(t *testing.T) {
	e, base := start(t)
	e.AddCDPUser(emulator.CDPUser{Username: "lim", Password: "pw", MaxTokens: 3})
	// The user holds the token CDP made for it, and two more fit.
	toks := []string{e.CDPInitialToken("lim")}
	for range 2 {
		toks = append(toks, cdpToken(t, base, "lim:pw"))
	}
	if n := e.CDPDisabledByLimit(); n != 0 {
		t.Fatalf("disabled %d below the limit", n)
	}
	fourth := cdpToken(t, base, "lim:pw")
	if e.TokenLive(toks[0]) || !e.TokenLive(toks[1]) || !e.TokenLive(toks[2]) || !e.TokenLive(fourth) {
		t.Fatal("the oldest token, the user's first, and only it, should be disabled")
	}
	if n, live := e.CDPDisabledByLimit(), len(e.LiveTokens("cdp")); n != 1 || live != 4 {
		t.Fatalf("disabled %d, live %d; want 1, 4 (3 of lim, 1 of the demo user)", n, live)
	}
	// An expired token does not count toward the limit.
	e.Advance(cdpLifetime)
	for range 3 {
		cdpToken(t, base, "lim:pw")
	}
	if n := e.CDPDisabledByLimit(); n != 1 {
		t.Fatalf("disabled %d after expiry, want still 1", n)
	}
}

// TestCDPCreateDisablesAll: the other reading of the vendor's "CDP
// disables the previously used tokens": every create disables every
// earlier token of the user, whatever the limit.
func TestCDPCreateDisablesAll(t *testing.T) {
	e, base := start(t)
	e.SetCDPCreateDisablesAll(true)
	e.AddCDPUser(emulator.CDPUser{Username: "all", Password: "pw", MaxTokens: 3})
	initial := e.CDPInitialToken("all")
	a := cdpToken(t, base, "all:pw")
	if e.TokenLive(initial) || !e.TokenLive(a) || e.CDPDisabledByLimit() != 1 {
		t.Fatalf("first create: initial live %v, new live %v, disabled %d", e.TokenLive(initial), e.TokenLive(a), e.CDPDisabledByLimit())
	}
	b := cdpToken(t, base, "all:pw")
	if e.TokenLive(a) || !e.TokenLive(b) || e.CDPDisabledByLimit() != 2 {
		t.Fatal("second create left the first live")
	}
	// Another user's tokens are not touched.
	if !e.TokenLive(e.CDPInitialToken(emulator.DemoCDPUsername)) {
		t.Error("a create disabled another user's token")
	}
	if r := mustCall(t, "POST", base+"/_emulator/cdp/create-disables-all", cdpJSON, `{"on":false}`, "", ""); r.status != 204 {
		t.Fatalf("admin switch: %d %s", r.status, r.raw)
	}
	cdpToken(t, base, "all:pw")
	if !e.TokenLive(b) {
		t.Error("switched off, a create below the limit disabled a token")
	}
}

// TestCDPRefuseBody: the vendor's POST and DELETE requests carry no body;
// with the switch on, one that does is refused.
func TestCDPRefuseBody(t *testing.T) {
	e, base := start(t)
	if r := mustCall(t, "POST", base+cdpCreate, cdpJSON, "{}", cdpBasic, ""); r.status != 200 {
		t.Fatalf("switch off, a {} body: %d %s", r.status, r.raw)
	}
	e.SetCDPRefuseBody(true)
	before := len(e.Tokens("cdp"))
	wantCDPError(t, mustCall(t, "POST", base+cdpCreate, cdpJSON, "{}", cdpBasic, ""), 400, "INVALID_REQUEST")
	wantCDPError(t, mustCall(t, "DELETE", base+cdpTok, cdpJSON, "{}", cdpBasic, ""), 400, "INVALID_REQUEST")
	if n := len(e.Tokens("cdp")); n != before || e.CDPDisabledByLimit() != 0 {
		t.Fatal("a refused call changed tokens")
	}
	if r := mustCall(t, "POST", base+cdpCreate, cdpJSON, "", cdpBasic, ""); r.status != 200 {
		t.Fatalf("no body: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "GET", base+cdpTok, "", "", cdpBasic, ""); r.status != 200 {
		t.Fatalf("retrieve: %d %s", r.status, r.raw)
	}
}

// TestCDPAnswerShapes: the token answer's fields beyond access_token in
// each form the setting gives them.
func TestCDPAnswerShapes(t *testing.T) {
	e, base := start(t)
	e.AddCDPUser(emulator.CDPUser{Username: "n", Password: "pw", TenantID: "7123",
		PasswordExpiry: time.Date(2030, 1, 6, 0, 0, 0, 0, time.UTC)})
	for _, tc := range []struct {
		admin string
		check func(body map[string]any) bool
	}{
		{`{}`, func(b map[string]any) bool {
			return b["tenantId"] == "7123" && b["passwordExpiryDate"] == "2030-01-06T00:00:00" && b["expires_in"] == float64(cdpLifetime/time.Second)
		}},
		{`{"expires_in_string":true,"numeric_tenant_id":true}`, func(b map[string]any) bool {
			return b["tenantId"] == float64(7123) && b["expires_in"] == "15552000"
		}},
		{`{"omit_expires_in":true,"password_expiry_layout":"2006-01-02T15:04:05.000Z07:00"}`, func(b map[string]any) bool {
			_, has := b["expires_in"]
			return !has && b["passwordExpiryDate"] == "2030-01-06T00:00:00.000Z"
		}},
	} {
		if r := mustCall(t, "POST", base+"/_emulator/cdp/answer", cdpJSON, tc.admin, "", ""); r.status != 204 {
			t.Fatalf("admin %s: %d %s", tc.admin, r.status, r.raw)
		}
		if r := mustCall(t, "POST", base+cdpCreate, cdpJSON, "", "n:pw", ""); r.status != 200 || !tc.check(r.body) {
			t.Errorf("answer with %s: %d %s", tc.admin, r.status, r.raw)
		}
	}
	for _, body := range []string{`{"status":500}`, `{"status":"404"}`} {
		if r := mustCall(t, "POST", base+"/_emulator/cdp/no-token-status", cdpJSON, body, "", ""); r.status != 400 {
			t.Errorf("admin no-token-status %s: %d", body, r.status)
		}
	}
	_ = e
}

func TestCDPLoginLogoutAndDisabled(t *testing.T) {
	e, base := start(t)
	r := mustCall(t, "POST", base+"/authentication?scheme=a1user&action=login", cdpJSON, "", cdpBasic, "")
	session, _ := r.body["access_token"].(string)
	if r.status != 200 || len(e.Tokens("cdp-session")) != 1 || len(e.Tokens("cdp")) != 1 {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	logout := base + "/authentication?scheme=a1user&action=logout"
	if r = mustCall(t, "POST", logout, cdpJSON, "", "", session); r.status != 200 || e.TokenLive(session) {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	wantCDPError(t, mustCall(t, "POST", logout, cdpJSON, "", "", session), 401, "INVALID_TOKEN")

	tok := cdpToken(t, base, cdpBasic)
	e.SetCDPUserDisabled(emulator.DemoCDPUsername, true)
	wantCDPError(t, mustCall(t, "POST", base+cdpCreate, cdpJSON, "", cdpBasic, ""), 401, "INVALID_CREDENTIALS")
	wantCDPError(t, mustCall(t, "POST", base+cdpExtend, cdpJSON, "", "", tok), 401, "INVALID_CREDENTIALS")
	e.SetCDPUserDisabled(emulator.DemoCDPUsername, false)
	if r = mustCall(t, "POST", base+cdpExtend, cdpJSON, "", "", tok); r.status != 200 {
		t.Fatalf("re-enabled extend: %d %s", r.status, r.raw)
	}
}

func TestCDPAdminAddUser(t *testing.T) {
	_, base := start(t)
	admin := base + "/_emulator/cdp/users"
	r := mustCall(t, "POST", admin, cdpJSON, `{"username":"u1","password":"p:w","tenant_id":"t1","user_type":"WEBTAG",`+
		`"password_expiry":"2026-03-04T05:06:07+02:00","lifetime_seconds":3600,"max_tokens":5}`, "", "")
	if r.status != 204 {
		t.Fatalf("admin add: %d %s", r.status, r.raw)
	}
	r = mustCall(t, "POST", base+cdpCreate, cdpJSON, "", "u1:p:w", "")
	if r.status != 200 || r.body["tenantId"] != "t1" || r.body["userType"] != "WEBTAG" ||
		r.body["expires_in"] != float64(3600) || r.body["passwordExpiryDate"] != "2026-03-04T03:06:07" {
		t.Fatalf("admin user token: %d %s", r.status, r.raw)
	}
	for _, body := range []string{`{"username":"u2"}`, `{"username":"u2","password":"p","password_expiry":"tomorrow"}`,
		`{"username":"u2","password":"p","max_tokens":-1}`, `{"username":"u2","password":"p","bogus":1}`} {
		if r = mustCall(t, "POST", admin, cdpJSON, body, "", ""); r.status != 400 {
			t.Fatalf("admin %s: %d %s", body, r.status, r.raw)
		}
	}
}

// Which token retrieve answers when the user holds several, by its switch.
func TestCDPRetrieveModes(t *testing.T) {
	e, base := start(t)
	e.AddCDPUser(emulator.CDPUser{Username: "modes", Password: "pw", MaxTokens: 5})
	initial := e.CDPInitialToken("modes")
	basic := "modes:pw"
	var made []string
	for range 2 {
		r := mustCall(t, "POST", base+"/token?scheme=a1user&action=create", cdpJSON, "", basic, "")
		made = append(made, r.body["access_token"].(string))
	}
	// In this order: the check after the loop needs "initial" set last.
	for _, c := range []struct{ mode, want string }{{emulator.CDPRetrieveNewest, made[1]},
		{emulator.CDPRetrieveOldest, initial}, {emulator.CDPRetrieveInitial, initial}} {
		mode, want := c.mode, c.want
		if r := mustCall(t, "POST", base+"/_emulator/cdp/retrieve", cdpJSON, `{"mode":"`+mode+`"}`, "", ""); r.status != 204 {
			t.Fatalf("mode %s: %d", mode, r.status)
		}
		if r := mustCall(t, "GET", base+"/token?scheme=a1user", cdpJSON, "", basic, ""); r.body["access_token"] != want {
			t.Errorf("%s: retrieve answered another token", mode)
		}
	}
	// With the initial token gone, "initial" answers the oldest left.
	mustCall(t, "DELETE", base+"/token?scheme=a1user", cdpJSON, "", "", initial)
	if r := mustCall(t, "GET", base+"/token?scheme=a1user", cdpJSON, "", basic, ""); r.body["access_token"] != made[0] {
		t.Error("initial mode without the initial token: want the oldest")
	}
	if r := mustCall(t, "POST", base+"/_emulator/cdp/retrieve", cdpJSON, `{"mode":"random"}`, "", ""); r.status != 400 {
		t.Errorf("unknown mode: %d", r.status)
	}
}

// How extend answers, by its switch: refused outside a window before
// expiry, a new token that replaces the old, or no body.
func TestCDPExtendModes(t *testing.T) {
	e, base := start(t)
	e.AddCDPUser(emulator.CDPUser{Username: "ext", Password: "pw", MaxTokens: 5, Lifetime: 10 * 24 * time.Hour})
	basic := "ext:pw"
	create := func() string {
		r := mustCall(t, "POST", base+"/token?scheme=a1user&action=create", cdpJSON, "", basic, "")
		return r.body["access_token"].(string)
	}
	extend := func(tok string) reply {
		return mustCall(t, "POST", base+"/token?scheme=a1user&action=extend", cdpJSON, "", "", tok)
	}
	tok := create()
	if r := mustCall(t, "POST", base+"/_emulator/cdp/extend", cdpJSON, `{"window_seconds":86400}`, "", ""); r.status != 204 {
		t.Fatalf("switch: %d", r.status)
	}
	if r := extend(tok); r.status != 400 || r.body["errorCode"] != "TOKEN_NOT_EXPIRING" {
		t.Errorf("extend outside the window: %d %s", r.status, r.raw)
	}
	e.Advance(9*24*time.Hour + time.Hour)
	if r := extend(tok); r.status != 200 || r.body["access_token"] != tok {
		t.Errorf("extend inside the window: %d %s", r.status, r.raw)
	}
	e.SetCDPExtend(emulator.CDPExtend{NewToken: true})
	r := extend(tok)
	next, _ := r.body["access_token"].(string)
	if r.status != 200 || next == "" || next == tok || e.TokenLive(tok) || !e.TokenLive(next) {
		t.Errorf("extend with a new token: %d; the old must die and the new live", r.status)
	}
	e.SetCDPExtend(emulator.CDPExtend{NoBody: true})
	if r := extend(next); r.status != 200 || r.raw != "" {
		t.Errorf("extend without a body: %d %q", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+"/_emulator/cdp/extend", cdpJSON, `{"window_seconds":-1}`, "", ""); r.status != 400 {
		t.Errorf("negative window: %d", r.status)
	}
}
