package lifecycle_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// private_key_jwt against the generic server, under each reading of an
// assertion's aud: a generated key registered from config/<name>/jwks,
// verify, client credentials, lease revoke (the revocation endpoint
// authenticates the client by assertion too), the code flow's exchange
// and refresh; then the server reading aud the other way refuses the
// client.
func TestPrivateKeyJWTBothAudiences(t *testing.T) {
	for _, reading := range []string{emulator.AssertionAudTokenURL, emulator.AssertionAudIssuer} {
		t.Run(reading, func(t *testing.T) {
			h := plugintest.New(t)
			h.Emu.SetOAuth2AssertionAudience(reading)
			extra := map[string]any{"generate_key": true}
			if reading == emulator.AssertionAudIssuer {
				extra["assertion_audience"] = "issuer"
				extra["issuer"] = h.Emu.OAuth2Issuer()
			}
			resp := h.MustWrite("config/jwt", h.OAuth2JWTData(extra))
			if resp == nil || !strings.Contains(strings.Join(resp.Warnings, " "), "config/jwt/jwks") {
				t.Errorf("no warning naming the jwks path: %v", resp)
			}
			h.Secrets = append(h.Secrets, storedKey(t, h, "jwt")...)
			h.RegisterJWKS("jwt")
			h.MustWrite("config/jwt", map[string]any{"verify": true})

			base := h.Emu.URL()
			h.MustWrite("roles/svc", map[string]any{"config": "jwt", "scopes": "read"})
			lease := h.MustRead("creds/svc")
			tok := lease.Data["access_token"].(string)
			if testutil.BearerStatus(t, plugintest.HTTPClient, base+"/oauth2/resource", tok) != http.StatusOK {
				t.Fatal("the token does not work")
			}
			if _, err := h.Revoke(lease); err != nil {
				t.Fatalf("lease revoke: %v", err)
			}
			if h.Emu.TokenLive(tok) {
				t.Error("the lease revoke left the token alive upstream")
			}

			h.MustWrite("roles/user", map[string]any{"config": "jwt", "grant_type": "authorization_code",
				"redirect_url": plugintest.SourceCallback, "scopes": "read,write", "ttl": "5m"})
			if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
				t.Fatalf("callback (code exchange): %v %v", err, plugintest.ErrText(cb))
			}
			for range 2 {
				user := h.MustRead("creds/user").Data["access_token"].(string)
				if testutil.BearerStatus(t, plugintest.HTTPClient, base+"/oauth2/resource", user) != http.StatusOK {
					t.Fatal("the refreshed token does not work")
				}
			}

			other := emulator.AssertionAudIssuer
			if reading == other {
				other = emulator.AssertionAudTokenURL
			}
			h.Emu.SetOAuth2AssertionAudience(other)
			msg, ok := plugintest.BadRequest(h.Read("creds/svc"))
			if ok || !strings.Contains(msg, "invalid_client") || !strings.Contains(msg, "assertion_audience") {
				t.Errorf("a server reading aud as %s: %s", other, msg)
			}
		})
	}
}

// storedKey is the private key stored for config, and each of its PEM
// lines: none may reach a log line (the harness checks at cleanup).
func storedKey(t *testing.T, h *plugintest.Harness, config string) []string {
	t.Helper()
	e, err := h.Storage.Get(context.Background(), "config/"+config)
	if err != nil || e == nil {
		t.Fatalf("config/%s not stored: %v", config, err)
	}
	var c struct {
		PrivateKey string `json:"private_key"`
	}
	if err := e.DecodeJSON(&c); err != nil || !strings.Contains(c.PrivateKey, "PRIVATE KEY") {
		t.Fatalf("no private key stored: %v", err)
	}
	out := []string{c.PrivateKey}
	for _, l := range strings.Split(c.PrivateKey, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}
