package emulator_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

const oauth2AuthorizePath = "/oauth2/authorize"

// oauth2AuthParams is a valid PKCE authorization request for the demo
// client, with each key of overrides replaced (or added).
func oauth2AuthParams(overrides ...string) []string {
	p := []string{"response_type", "code", "client_id", emulator.DemoOAuth2ClientID, "redirect_uri", srcCallback,
		"scope", emulator.DemoOAuth2Scopes, "state", srcState,
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

func oauth2Authorize(t *testing.T, base string, kv ...string) authReply {
	t.Helper()
	req, err := http.NewRequest("GET", base+oauth2AuthorizePath+"?"+form(kv...), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := authReply{status: resp.StatusCode, header: resp.Header}
	if loc := resp.Header.Get("Location"); loc != "" {
		r.location, _ = url.Parse(loc)
	}
	return r
}

func oauth2Code(t *testing.T, base string, kv ...string) string {
	t.Helper()
	r := oauth2Authorize(t, base, kv...)
	if r.status != http.StatusFound || r.location == nil || r.location.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %v", r.status, r.location)
	}
	if got := r.location.Query().Get("state"); got != srcState {
		t.Fatalf("state %q, want %q", got, srcState)
	}
	return r.location.Query().Get("code")
}

// oauth2Post is a token request with the demo client's credentials as
// basic says: in the body or in form-encoded Basic.
func oauth2Post(t *testing.T, base string, basic bool, kv ...string) reply {
	t.Helper()
	if basic {
		return mustCall(t, "POST", base+oauth2TokenPath, formType, form(kv...), oauth2EncBasic, "")
	}
	kv = append(kv, "client_id", emulator.DemoOAuth2ClientID, "client_secret", emulator.DemoOAuth2ClientSecret)
	return mustCall(t, "POST", base+oauth2TokenPath, formType, form(kv...), "", "")
}

func TestOAuth2AuthorizationCodeFlow(t *testing.T) {
	for _, basic := range []bool{false, true} {
		t.Run(map[bool]string{false: "body", true: "basic"}[basic], func(t *testing.T) {
			e, base := start(t)
			code := oauth2Code(t, base, oauth2AuthParams()...)
			exchange := func(code string, kv ...string) reply {
				return oauth2Post(t, base, basic, append([]string{"grant_type", "authorization_code", "code", code,
					"redirect_uri", srcCallback, "code_verifier", srcVerifier}, kv...)...)
			}
			r := exchange(code)
			access, _ := r.body["access_token"].(string)
			refresh, _ := r.body["refresh_token"].(string)
			if r.status != 200 || access == "" || refresh == "" || r.body["scope"] != emulator.DemoOAuth2Scopes {
				t.Fatalf("exchange: %d %s", r.status, r.raw)
			}
			wantOAuth2Resource(t, base, access, true)
			if e.OAuth2RefreshTokens() != 1 {
				t.Fatalf("%d live refresh tokens", e.OAuth2RefreshTokens())
			}

			// A replayed code is refused and revokes what it gave.
			wantRFC6749Error(t, exchange(code), 400, "invalid_grant")
			wantOAuth2Resource(t, base, access, false)
			if e.OAuth2RefreshLive(refresh) {
				t.Fatal("a replayed code left its refresh token live")
			}

			// PKCE and redirect_uri are checked.
			c2 := oauth2Code(t, base, oauth2AuthParams()...)
			wantRFC6749Error(t, oauth2Post(t, base, basic, "grant_type", "authorization_code", "code", c2,
				"redirect_uri", srcCallback, "code_verifier", "x"+srcVerifier[1:]), 400, "invalid_grant")
			c3 := oauth2Code(t, base, oauth2AuthParams()...)
			wantRFC6749Error(t, oauth2Post(t, base, basic, "grant_type", "authorization_code", "code", c3,
				"redirect_uri", "http://127.0.0.1:9/other", "code_verifier", srcVerifier), 400, "invalid_grant")
			c4 := oauth2Code(t, base, oauth2AuthParams()...)
			wantRFC6749Error(t, oauth2Post(t, base, basic, "grant_type", "authorization_code", "code", c4,
				"redirect_uri", srcCallback), 400, "invalid_grant")

			// Refresh rotates; the old refresh token is then invalid_grant.
			r = exchange(oauth2Code(t, base, oauth2AuthParams()...))
			access, refresh = r.body["access_token"].(string), r.body["refresh_token"].(string)
			r = oauth2Post(t, base, basic, "grant_type", "refresh_token", "refresh_token", refresh)
			next, _ := r.body["refresh_token"].(string)
			if r.status != 200 || next == "" || next == refresh {
				t.Fatalf("refresh: %d %s", r.status, r.raw)
			}
			wantOAuth2Resource(t, base, access, false)
			wantOAuth2Resource(t, base, r.body["access_token"].(string), true)
			wantRFC6749Error(t, oauth2Post(t, base, basic, "grant_type", "refresh_token", "refresh_token", refresh), 400, "invalid_grant")
			if e.OAuth2RefreshReuses() != 1 {
				t.Fatalf("reuses %d, want 1", e.OAuth2RefreshReuses())
			}
			// Narrowing is allowed, widening is not.
			wantRFC6749Error(t, oauth2Post(t, base, basic, "grant_type", "refresh_token", "refresh_token", next, "scope", "admin"), 400, "invalid_scope")

			// RFC 7009: revoking the refresh token ends the authorization.
			revokeBasic, revokeBody := oauth2EncBasic, form("token", next, "token_type_hint", "refresh_token")
			if !basic {
				revokeBasic = ""
				revokeBody = form("token", next, "token_type_hint", "refresh_token",
					"client_id", emulator.DemoOAuth2ClientID, "client_secret", emulator.DemoOAuth2ClientSecret)
			}
			if r := mustCall(t, "POST", base+oauth2RevokePath, formType, revokeBody, revokeBasic, ""); r.status != 200 {
				t.Fatalf("revoke: %d %s", r.status, r.raw)
			}
			if e.OAuth2RefreshLive(next) || e.OAuth2RefreshTokens() != 0 {
				t.Fatal("revoked refresh token still live")
			}
			wantRFC6749Error(t, oauth2Post(t, base, basic, "grant_type", "refresh_token", "refresh_token", next), 400, "invalid_grant")
			// Raw Basic with a '+' in the secret is refused here too.
			wantRFC6749Error(t, mustCall(t, "POST", base+oauth2TokenPath, formType,
				form("grant_type", "refresh_token", "refresh_token", next), oauth2RawBasic, ""), 401, "invalid_client")
		})
	}
}

func TestOAuth2Authorize(t *testing.T) {
	e, base := start(t)
	e.AddOAuth2Client(emulator.OAuth2Client{ID: "fixed", Secret: "s", RedirectURIs: []string{"https://vault.example.com/cb"}})
	// Errors before the client and redirect_uri are known do not redirect.
	for name, p := range map[string][]string{
		"unknown client":        oauth2AuthParams("client_id", "nobody"),
		"https elsewhere is ok": nil,
		"http off loopback":     oauth2AuthParams("redirect_uri", "http://example.com/cb"),
		"not the registered":    oauth2AuthParams("client_id", "fixed", "redirect_uri", "https://vault.example.com/other"),
		"fragment":              oauth2AuthParams("redirect_uri", srcCallback+"#x"),
	} {
		if p == nil {
			continue
		}
		if r := oauth2Authorize(t, base, p...); r.status != 400 || r.location != nil {
			t.Errorf("%s: %d %v, want 400 without a redirect", name, r.status, r.location)
		}
	}
	if r := oauth2Authorize(t, base, oauth2AuthParams("client_id", "fixed", "redirect_uri", "https://vault.example.com/cb", "scope", "any")...); r.status != 302 {
		t.Errorf("registered redirect_uri: %d", r.status)
	}
	// Later errors go back to the client with the state.
	for name, tc := range map[string]struct {
		params []string
		code   string
	}{
		"plain PKCE":       {oauth2AuthParams("code_challenge_method", "plain"), "invalid_request"},
		"short challenge":  {oauth2AuthParams("code_challenge", "abc"), "invalid_request"},
		"token response":   {oauth2AuthParams("response_type", "token"), "unsupported_response_type"},
		"unknown scope":    {oauth2AuthParams("scope", "read delete"), "invalid_scope"},
		"method alone":     {srcWithout(oauth2AuthParams(), "code_challenge"), "invalid_request"},
		"repeated param":   {append(oauth2AuthParams(), "scope", "read"), "invalid_request"},
		"no response_type": {srcWithout(oauth2AuthParams(), "response_type"), "invalid_request"},
	} {
		r := oauth2Authorize(t, base, tc.params...)
		if r.status != 302 || r.location == nil || r.location.Query().Get("error") != tc.code {
			t.Errorf("%s: %d %v, want a redirect with error=%s", name, r.status, r.location, tc.code)
		}
	}
	// Without PKCE the flow works, and a verifier at the exchange is refused.
	code := oauth2Code(t, base, srcWithout(oauth2AuthParams(), "code_challenge", "code_challenge_method")...)
	wantRFC6749Error(t, oauth2Post(t, base, true, "grant_type", "authorization_code", "code", code,
		"redirect_uri", srcCallback, "code_verifier", srcVerifier), 400, "invalid_request")
	code = oauth2Code(t, base, srcWithout(oauth2AuthParams(), "code_challenge", "code_challenge_method")...)
	if r := oauth2Post(t, base, true, "grant_type", "authorization_code", "code", code, "redirect_uri", srcCallback); r.status != 200 {
		t.Errorf("exchange without PKCE: %d %s", r.status, r.raw)
	}
	// An expired code.
	code = oauth2Code(t, base, oauth2AuthParams()...)
	e.Advance(61e9)
	wantRFC6749Error(t, oauth2Post(t, base, false, "grant_type", "authorization_code", "code", code,
		"redirect_uri", srcCallback, "code_verifier", srcVerifier), 400, "invalid_grant")
	// Admin: redirect_uris are checked.
	if r := mustCall(t, "POST", base+"/_emulator/oauth2/clients", "application/json",
		`{"id":"x","secret":"s","redirect_uris":["not a uri"]}`, "", ""); r.status != 400 {
		t.Errorf("admin with a bad redirect_uri: %d", r.status)
	}
	if r := mustCall(t, "POST", base+"/_emulator/oauth2/clients", "application/json",
		`{"id":"x","secret":"s","redirect_uris":["https://v.example.com/cb"]}`, "", ""); r.status != 204 {
		t.Errorf("admin with redirect_uris: %d %s", r.status, r.raw)
	}
}
