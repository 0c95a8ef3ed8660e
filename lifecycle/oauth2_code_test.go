package lifecycle_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// The authorization code flow against the generic server, under both auth
// styles (Basic form-encoded, as RFC 6749 §2.3.1 asks): authorize, the
// callback, creds through the refresh grant with rotation, lease revoke,
// authorizing again, and the role's delete, which revokes the refresh
// token.
func TestOAuth2CodeFlowBothAuthStyles(t *testing.T) {
	for _, style := range []string{"basic", "body"} {
		t.Run(style, func(t *testing.T) {
			h := plugintest.New(t)
			h.Emu.AddOAuth2Client(emulator.OAuth2Client{ID: plugintest.OAuthID, Secret: plugintest.OAuthSecret, Scopes: []string{"read", "write", "admin"},
				RedirectURIs: []string{plugintest.SourceCallback}})
			h.Secrets = append(h.Secrets, plugintest.OAuthSecret)
			t.Cleanup(func() { h.Secrets = append(h.Secrets, h.Emu.OAuth2Credentials()...) })
			base := h.Emu.URL()
			h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"auth_style": style,
				"authorize_url": base + "/oauth2/authorize", "revocation_url": base + "/oauth2/revoke",
				"revoke_user_access_tokens": true}))
			h.MustWrite("roles/user", map[string]any{"config": "gen", "grant_type": "authorization_code",
				"redirect_url": plugintest.SourceCallback, "scopes": "read,write", "ttl": "5m"})

			resp := h.MustWrite("authorize/user", nil)
			u, err := url.Parse(resp.Data["url"].(string))
			if err != nil || !strings.HasPrefix(u.String(), base+"/oauth2/authorize?") {
				t.Fatalf("authorize url %v", resp.Data["url"])
			}
			q := u.Query()
			for k, v := range map[string]string{"client_id": plugintest.OAuthID, "redirect_uri": plugintest.SourceCallback, "response_type": "code",
				"scope": "read write", "state": resp.Data["state"].(string), "code_challenge_method": "S256"} {
				if q.Get(k) != v {
					t.Errorf("authorize url %s = %q, want %q", k, q.Get(k), v)
				}
			}
			cb, err := h.Callback(h.Browse(u.String()), logical.ReadOperation)
			if err != nil || cb.IsError() {
				t.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
			}
			if h.MustRead("roles/user").Data["authorized"] != true {
				t.Fatal("role not authorized after the callback")
			}
			if n := h.Emu.OAuth2RefreshTokens(); n != 1 {
				t.Errorf("%d live refresh tokens upstream, want 1", n)
			}

			// creds: the refresh grant, rotating the refresh token each time.
			var leases []*logical.Response
			var last string
			for i := 0; i < 3; i++ {
				r := h.MustRead("creds/user")
				tok := r.Data["access_token"].(string)
				if tok == last {
					t.Fatal("same token twice")
				}
				last = tok
				if testutil.BearerStatus(h.T, plugintest.HTTPClient, base+"/oauth2/resource", tok) != http.StatusOK {
					t.Fatalf("read %d: token refused", i)
				}
				if got := strings.Join(r.Data["scopes"].([]string), " "); got != "read write" {
					t.Errorf("scopes %q", got)
				}
				leases = append(leases, r)
			}
			if h.Emu.OAuth2RefreshReuses() != 0 || h.Emu.OAuth2RefreshTokens() != 1 {
				t.Errorf("reuses %d, live refresh tokens %d; want 0 and 1", h.Emu.OAuth2RefreshReuses(), h.Emu.OAuth2RefreshTokens())
			}

			// Lease revoke: RFC 7009 on the access token; the role keeps
			// its authorization.
			lastLease := leases[len(leases)-1]
			if _, err := h.Revoke(lastLease); err != nil {
				t.Fatalf("lease revoke: %v", err)
			}
			if testutil.BearerStatus(h.T, plugintest.HTTPClient, base+"/oauth2/resource", last) != http.StatusUnauthorized {
				t.Error("a revoked lease's token still works")
			}
			if h.Emu.OAuth2RefreshTokens() != 1 {
				t.Error("a lease revoke cost the role its refresh token")
			}
			if _, err := h.Revoke(lastLease); err != nil {
				t.Errorf("revoke is not idempotent: %v", err)
			}
			h.MustRead("creds/user")

			// Authorizing again retires the old refresh token upstream.
			if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
				t.Fatalf("second callback: %v %v", err, plugintest.ErrText(cb))
			}
			if n := h.Emu.OAuth2RefreshTokens(); n != 1 {
				t.Errorf("%d live refresh tokens after authorizing again, want 1", n)
			}

			// Deleting the role revokes its refresh token.
			if _, err := h.Do(logical.DeleteOperation, "roles/user", nil); err != nil {
				t.Fatal(err)
			}
			if n := h.Emu.OAuth2RefreshTokens(); n != 0 {
				t.Errorf("%d live refresh tokens after the role's delete, want 0", n)
			}

			for _, c := range h.Emu.OAuth2Credentials() {
				for _, r := range append(leases, cb) {
					for _, v := range r.Data {
						if s, ok := v.(string); ok && strings.Contains(s, c) {
							t.Error("a response holds a code or refresh token")
						}
					}
				}
			}
		})
	}
}
