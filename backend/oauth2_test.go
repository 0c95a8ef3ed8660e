package backend_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

const (
	oauthID     = "generic-client"
	oauthSecret = "gen+Se/cr=et:colon"
)

func (h *harness) oauth2Data(extra map[string]any) map[string]any {
	d := map[string]any{"provider": "oauth2", "client_id": oauthID, "client_secret": oauthSecret,
		"token_url": h.emu.URL() + "/oauth2/token"}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func (h *harness) oauth2Client() {
	h.emu.AddOAuth2Client(emulator.OAuth2Client{ID: oauthID, Secret: oauthSecret, Scopes: []string{"read", "write", "admin"}})
	h.secrets = append(h.secrets, oauthSecret)
}

func TestOAuth2BothAuthStylesSurviveSpecialCharacters(t *testing.T) {
	for _, style := range []string{"body", "basic"} {
		t.Run(style, func(t *testing.T) {
			h := newHarness(t)
			h.oauth2Client()
			h.mustWrite("config/gen", h.oauth2Data(map[string]any{"auth_style": style, "scopes": "read"}))
			if got := h.mustRead("config/gen").Data["auth_style"]; got != style {
				t.Errorf("auth_style %v", got)
			}
			h.mustWrite("roles/r", map[string]any{"config": "gen", "scopes": "read,write"})
			resp := h.mustRead("creds/r")
			tok := resp.Data["access_token"].(string)
			if testutil.BearerStatus(h.t, httpClient, h.emu.URL()+"/oauth2/resource", tok) != 200 {
				t.Error("token refused by the resource server")
			}
			if got := resp.Data["scopes"]; strings.Join(got.([]string), " ") != "read write" {
				t.Errorf("scopes %v", got)
			}
			if et, ok := h.emu.Token(tok); ok && et.Service == "oauth2" && et.Scope != "read write" {
				t.Errorf("upstream granted %q, want the role's scopes space-delimited", et.Scope)
			}
		})
	}
}

func TestOAuth2Validation(t *testing.T) {
	h := newHarness(t)
	h.oauth2Client()
	for name, tc := range map[string]struct {
		set   map[string]any
		drop  string
		field string
	}{
		"token_url required": {nil, "token_url", "token_url"},
		"base_url not taken": {map[string]any{"base_url": "https://example.com"}, "", "base_url"},
		"unknown scope":      {map[string]any{"scopes": "delete"}, "", "invalid_scope"},
		"wrong secret":       {map[string]any{"client_secret": "x"}, "", "invalid_client"},
		"http off loopback":  {map[string]any{"revocation_url": "http://idp.example.com/revoke"}, "", "revocation_url"},
	} {
		t.Run(name, func(t *testing.T) {
			data := h.oauth2Data(tc.set)
			if tc.drop != "" {
				delete(data, tc.drop)
			}
			msg, ok := badRequest(h.write("config/bad", data))
			if !ok || !strings.Contains(msg, tc.field) {
				t.Errorf("want a 400 naming %s, got %s", tc.field, msg)
			}
			if h.stored("config/bad") {
				t.Error("stored")
			}
		})
	}
	// client credentials is the default grant.
	h.mustWrite("config/gen", h.oauth2Data(nil))
	h.mustWrite("roles/r", map[string]any{"config": "gen"})
	if got := h.mustRead("roles/r").Data["grant_type"]; got != "client_credentials" {
		t.Errorf("grant_type %v", got)
	}
}

func TestOAuth2Revocation(t *testing.T) {
	t.Run("without revocation_url the lease only ends", func(t *testing.T) {
		h := newHarness(t)
		h.oauth2Client()
		h.mustWrite("config/gen", h.oauth2Data(nil))
		h.mustWrite("roles/r", map[string]any{"config": "gen"})
		resp := h.mustRead("creds/r")
		if _, ok := resp.Secret.InternalData["access_token"]; ok {
			t.Error("a lease that cannot revoke upstream keeps the token")
		}
		if _, err := h.revoke(resp); err != nil {
			t.Fatal(err)
		}
		if h.emu.Requests("/oauth2/revoke") != 0 {
			t.Error("revoke called an endpoint nobody configured")
		}
	})
	for _, style := range []string{"body", "basic"} {
		t.Run("RFC 7009 with "+style, func(t *testing.T) {
			h := newHarness(t)
			h.oauth2Client()
			h.mustWrite("config/gen", h.oauth2Data(map[string]any{"auth_style": style,
				"revocation_url": h.emu.URL() + "/oauth2/revoke"}))
			if n := len(h.emu.LiveTokens("oauth2")); n != 0 {
				t.Errorf("verify left %d tokens live", n)
			}
			h.mustWrite("roles/r", map[string]any{"config": "gen"})
			resp := h.mustRead("creds/r")
			tok := resp.Data["access_token"].(string)
			if _, err := h.revoke(resp); err != nil {
				t.Fatal(err)
			}
			if testutil.BearerStatus(h.t, httpClient, h.emu.URL()+"/oauth2/resource", tok) != http.StatusUnauthorized {
				t.Error("the resource server still accepts a revoked lease's token")
			}
			if _, err := h.revoke(resp); err != nil {
				t.Fatalf("revoke is not idempotent: %v", err)
			}
		})
	}
}

func TestOAuth2RetriesRateLimit(t *testing.T) {
	h := newHarness(t)
	h.oauth2Client()
	h.mustWrite("config/gen", h.oauth2Data(nil))
	h.mustWrite("roles/r", map[string]any{"config": "gen"})
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Status: 429, RetryAfter: "1"})
	before := h.emu.Requests("/oauth2/token")
	resp := h.mustRead("creds/r")
	if testutil.BearerStatus(h.t, httpClient, h.emu.URL()+"/oauth2/resource", resp.Data["access_token"].(string)) != 200 {
		t.Error("token refused")
	}
	if got := h.emu.Requests("/oauth2/token") - before; got != 2 {
		t.Errorf("%d token requests, want 2 (one 429, one retry)", got)
	}
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Status: 200, Body: `{"access_token":`})
	_, err := h.read("creds/r")
	if err == nil || !strings.Contains(err.Error(), "malformed_response") {
		t.Errorf("malformed answer: %v", err)
	}
	// An upstream that echoes the secret in its error does not get it shown.
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Status: 400,
		Body: `{"error":"invalid_request","error_description":"client_secret ` + oauthSecret + ` looks odd"}`})
	_, err = h.read("creds/r")
	if err == nil || strings.Contains(err.Error(), oauthSecret) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("echoed secret: %v", err)
	}
}

// oauth2 configs with an authorize_url run the user flow like source; here
// against the emulated Source site as "any RFC 6749 server".
func TestOAuth2AuthorizationCode(t *testing.T) {
	h := newHarness(t)
	h.emu.AddSourceClient(emulator.SourceClient{ID: oauthID, Secret: oauthSecret, RedirectURIs: []string{sourceCallback}})
	h.secrets = append(h.secrets, oauthSecret)
	t.Cleanup(func() { h.secrets = append(h.secrets, h.emu.SourceCredentials()...) })
	h.mustWrite("config/gen", h.oauth2Data(map[string]any{"token_url": h.emu.URL() + "/oauth/token"}))
	role := map[string]any{"config": "gen", "grant_type": "authorization_code", "redirect_url": sourceCallback}
	msg, ok := badRequest(h.write("roles/user", role))
	if !ok || !strings.Contains(msg, "authorize_url") {
		t.Fatalf("a code role on a config without authorize_url: %s", msg)
	}
	h.mustWrite("config/gen", map[string]any{"authorize_url": h.emu.URL() + "/oauth/authorize", "client_secret": oauthSecret})
	h.mustWrite("roles/user", role)
	if cb, err := h.callback(h.authorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, errText(cb))
	}
	resp := h.mustRead("creds/user")
	if testutil.BearerStatus(h.t, httpClient, h.emu.URL()+"/jsonapi", resp.Data["access_token"].(string)) != 200 {
		t.Error("token refused")
	}
	if strings.Contains(strings.Join(resp.Warnings, " "), "previous access token") {
		t.Errorf("a generic server is not known to retire tokens on refresh: %v", resp.Warnings)
	}

	// Clearing authorize_url later makes authorize a clear 400, not a broken URL.
	h.mustWrite("config/gen", map[string]any{"authorize_url": ""})
	msg, ok = badRequest(h.write("authorize/user", nil))
	if !ok || !strings.Contains(msg, "authorize_url") {
		t.Errorf("authorize without authorize_url: %s", msg)
	}
}
