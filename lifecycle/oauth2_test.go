package lifecycle_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

func TestOAuth2BothAuthStylesSurviveSpecialCharacters(t *testing.T) {
	for _, style := range []string{"body", "basic"} {
		t.Run(style, func(t *testing.T) {
			h := plugintest.New(t)
			h.OAuth2Client()
			h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"auth_style": style, "scopes": "read"}))
			if got := h.MustRead("config/gen").Data["auth_style"]; got != style {
				t.Errorf("auth_style %v", got)
			}
			h.MustWrite("roles/r", map[string]any{"config": "gen", "scopes": "read,write"})
			resp := h.MustRead("creds/r")
			tok := resp.Data["access_token"].(string)
			if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/oauth2/resource", tok) != 200 {
				t.Error("token refused by the resource server")
			}
			if got := resp.Data["scopes"]; strings.Join(got.([]string), " ") != "read write" {
				t.Errorf("scopes %v", got)
			}
			if et, ok := h.Emu.Token(tok); ok && et.Service == "oauth2" && et.Scope != "read write" {
				t.Errorf("upstream granted %q, want the role's scopes space-delimited", et.Scope)
			}
		})
	}
}

func TestOAuth2Validation(t *testing.T) {
	h := plugintest.New(t)
	h.OAuth2Client()
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
			data := h.OAuth2Data(tc.set)
			if tc.drop != "" {
				delete(data, tc.drop)
			}
			msg, ok := plugintest.BadRequest(h.Write("config/bad", data))
			if !ok || !strings.Contains(msg, tc.field) {
				t.Errorf("want a 400 naming %s, got %s", tc.field, msg)
			}
			if h.Stored("config/bad") {
				t.Error("stored")
			}
		})
	}
	// client credentials is the default grant.
	h.MustWrite("config/gen", h.OAuth2Data(nil))
	h.MustWrite("roles/r", map[string]any{"config": "gen"})
	if got := h.MustRead("roles/r").Data["grant_type"]; got != "client_credentials" {
		t.Errorf("grant_type %v", got)
	}
}

func TestOAuth2Revocation(t *testing.T) {
	t.Run("without revocation_url the lease only ends", func(t *testing.T) {
		h := plugintest.New(t)
		h.OAuth2Client()
		h.MustWrite("config/gen", h.OAuth2Data(nil))
		h.MustWrite("roles/r", map[string]any{"config": "gen"})
		resp := h.MustRead("creds/r")
		if _, ok := resp.Secret.InternalData["access_token"]; ok {
			t.Error("a lease that cannot revoke upstream keeps the token")
		}
		if _, err := h.Revoke(resp); err != nil {
			t.Fatal(err)
		}
		if h.Emu.Requests("/oauth2/revoke") != 0 {
			t.Error("revoke called an endpoint nobody configured")
		}
	})
	for _, style := range []string{"body", "basic"} {
		t.Run("RFC 7009 with "+style, func(t *testing.T) {
			h := plugintest.New(t)
			h.OAuth2Client()
			h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"auth_style": style,
				"revocation_url": h.Emu.URL() + "/oauth2/revoke"}))
			if n := len(h.Emu.LiveTokens("oauth2")); n != 0 {
				t.Errorf("verify left %d tokens live", n)
			}
			h.MustWrite("roles/r", map[string]any{"config": "gen"})
			resp := h.MustRead("creds/r")
			tok := resp.Data["access_token"].(string)
			if _, err := h.Revoke(resp); err != nil {
				t.Fatal(err)
			}
			if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/oauth2/resource", tok) != http.StatusUnauthorized {
				t.Error("the resource server still accepts a revoked lease's token")
			}
			if _, err := h.Revoke(resp); err != nil {
				t.Fatalf("revoke is not idempotent: %v", err)
			}
		})
	}
}

func TestOAuth2RetriesRateLimit(t *testing.T) {
	h := plugintest.New(t)
	h.OAuth2Client()
	h.MustWrite("config/gen", h.OAuth2Data(nil))
	h.MustWrite("roles/r", map[string]any{"config": "gen"})
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Status: 429, RetryAfter: "1"})
	before := h.Emu.Requests("/oauth2/token")
	resp := h.MustRead("creds/r")
	if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/oauth2/resource", resp.Data["access_token"].(string)) != 200 {
		t.Error("token refused")
	}
	if got := h.Emu.Requests("/oauth2/token") - before; got != 2 {
		t.Errorf("%d token requests, want 2 (one 429, one retry)", got)
	}
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Status: 200, Body: `{"access_token":`})
	_, err := h.Read("creds/r")
	if err == nil || !strings.Contains(err.Error(), "malformed_response") {
		t.Errorf("malformed answer: %v", err)
	}
	// An upstream that echoes the secret in its error does not get it shown.
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Status: 400,
		Body: `{"error":"invalid_request","error_description":"client_secret ` + plugintest.OAuthSecret + ` looks odd"}`})
	_, err = h.Read("creds/r")
	if err == nil || strings.Contains(err.Error(), plugintest.OAuthSecret) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("echoed secret: %v", err)
	}
}

// oauth2 configs with an authorize_url run the user flow like source; here
// against the emulated Source site as "any RFC 6749 server".
func TestOAuth2AuthorizationCode(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.AddSourceClient(emulator.SourceClient{ID: plugintest.OAuthID, Secret: plugintest.OAuthSecret, RedirectURIs: []string{plugintest.SourceCallback}})
	h.Secrets = append(h.Secrets, plugintest.OAuthSecret)
	t.Cleanup(func() { h.Secrets = append(h.Secrets, h.Emu.SourceCredentials()...) })
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"token_url": h.Emu.URL() + "/oauth/token"}))
	role := map[string]any{"config": "gen", "grant_type": "authorization_code", "redirect_url": plugintest.SourceCallback}
	msg, ok := plugintest.BadRequest(h.Write("roles/user", role))
	if !ok || !strings.Contains(msg, "authorize_url") {
		t.Fatalf("a code role on a config without authorize_url: %s", msg)
	}
	h.MustWrite("config/gen", map[string]any{"authorize_url": h.Emu.URL() + "/oauth/authorize", "client_secret": plugintest.OAuthSecret})
	h.MustWrite("roles/user", role)
	if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
	}
	resp := h.MustRead("creds/user")
	if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/jsonapi", resp.Data["access_token"].(string)) != 200 {
		t.Error("token refused")
	}
	if strings.Contains(strings.Join(resp.Warnings, " "), "previous access token") {
		t.Errorf("a generic server is not known to retire tokens on refresh: %v", resp.Warnings)
	}

	// Clearing authorize_url later makes authorize a clear 400, not a broken URL.
	h.MustWrite("config/gen", map[string]any{"authorize_url": ""})
	msg, ok = plugintest.BadRequest(h.Write("authorize/user", nil))
	if !ok || !strings.Contains(msg, "authorize_url") {
		t.Errorf("authorize without authorize_url: %s", msg)
	}
}
