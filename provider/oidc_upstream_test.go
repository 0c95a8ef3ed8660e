package provider_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// TestVerifyCodeOnlyClientRefusedWithInvalidRequest: oidc-provider answers
// a client that may not use client_credentials with 400 invalid_request
// ("requested grant type is not allowed for this client"), not RFC 6749's
// unauthorized_client. For a config with an authorize_url, verify proves
// the credentials with the refresh probe and stores the config with a
// warning; a wrong secret still fails, and without an authorize_url
// invalid_request fails as before.
func TestVerifyCodeOnlyClientRefusedWithInvalidRequest(t *testing.T) {
	const id, secret = "web", "w+e/b=:secret"
	var grants []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		grants = append(grants, r.PostForm.Get("grant_type"))
		w.Header().Set("Content-Type", "application/json")
		u, p, _ := r.BasicAuth()
		u, _ = url.QueryUnescape(u)
		p, _ = url.QueryUnescape(p)
		switch {
		case u != id || p != secret:
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"client authentication failed"}`))
		case r.PostForm.Get("grant_type") == "client_credentials":
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"requested grant type is not allowed for this client"}`))
		default:
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"grant request is invalid"}`))
		}
	}))
	defer srv.Close()
	cfg := func(secret, authorizeURL string) provider.Config {
		return provider.Config{Provider: "oauth2", ClientID: id, ClientSecret: secret, TokenURL: srv.URL + "/token",
			AuthorizeURL: authorizeURL, AuthStyle: provider.AuthStyleBasic}
	}
	ctx := context.Background()

	w, err := mustNew(t, cfg(secret, srv.URL+"/auth")).Verify(ctx)
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "invalid_request") || !strings.Contains(w[0], "authorization_code roles work") {
		t.Errorf("code-only client: warnings %q, error %v", w, err)
	}
	if strings.Join(grants, ",") != "client_credentials,refresh_token" {
		t.Errorf("grants sent: %v", grants)
	}

	grants = nil
	if _, err := mustNew(t, cfg("wrong", srv.URL+"/auth")).Verify(ctx); !provider.HasCode(err, "invalid_client") {
		t.Errorf("wrong secret: %v", err)
	}

	grants = nil
	if _, err := mustNew(t, cfg(secret, "")).Verify(ctx); !provider.HasCode(err, "invalid_request") {
		t.Errorf("without authorize_url: %v", err)
	}
	if strings.Join(grants, ",") != "client_credentials" {
		t.Errorf("without authorize_url, grants sent: %v", grants)
	}
}

// TestAuthCodeURLOfflineAccessAsksConsent: an OpenID provider (OpenID
// Connect Core §11; oidc-provider does) drops offline_access, and issues
// no refresh token, unless the request carries prompt=consent.
func TestAuthCodeURLOfflineAccessAsksConsent(t *testing.T) {
	c := mustNew(t, provider.Config{Provider: "oauth2", ClientID: "web", ClientSecret: "s",
		TokenURL: "https://idp.example.com/token", AuthorizeURL: "https://idp.example.com/auth"})
	cg := c.(provider.CodeGranter)
	for scopes, want := range map[string]string{"openid offline_access": "consent", "openid": "", "read write": ""} {
		u, err := url.Parse(cg.AuthCodeURL("st4te", strings.Repeat("v", 43), "https://vault.example.com/v1/acquia/callback",
			strings.Fields(scopes)))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("prompt") != want || q.Get("scope") != scopes || q.Get("code_challenge_method") != "S256" {
			t.Errorf("scopes %q: %s", scopes, u)
		}
	}
}
