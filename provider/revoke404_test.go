package provider_test

import (
	"context"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// A revocation endpoint may answer 404 for a token it does not know: that
// is "gone" only with the server's JSON error; a bare or HTML 404 (a wrong
// revocation_url) fails the revoke and names the URL.
func TestRevoke404(t *testing.T) {
	const secret = "r+e/v=o:ke"
	for _, p := range []struct {
		name, path string
		setup      func(*emulator.Emulator, string) provider.Config
		notFound   func(*emulator.Emulator, bool)
	}{
		{"acronis", "/api/2/idp/revoke_token", func(e *emulator.Emulator, base string) provider.Config {
			e.AddAcronisClient(emulator.AcronisClient{ID: "acr", Secret: secret, TenantID: "t-1"})
			return provider.Config{Provider: "acronis", ClientID: "acr", ClientSecret: secret, BaseURL: base}
		}, (*emulator.Emulator).SetAcronisRevokeNotFound},
		{"oauth2 basic", "/oauth2/revoke", func(e *emulator.Emulator, base string) provider.Config {
			e.AddOAuth2Client(emulator.OAuth2Client{ID: "gen", Secret: secret})
			return provider.Config{Provider: "oauth2", ClientID: "gen", ClientSecret: secret, AuthStyle: "basic",
				TokenURL: base + "/oauth2/token", RevocationURL: base + "/oauth2/revoke"}
		}, (*emulator.Emulator).SetOAuth2RevokeNotFound},
		{"oauth2 body", "/oauth2/revoke", func(e *emulator.Emulator, base string) provider.Config {
			e.AddOAuth2Client(emulator.OAuth2Client{ID: "gen", Secret: secret})
			return provider.Config{Provider: "oauth2", ClientID: "gen", ClientSecret: secret,
				TokenURL: base + "/oauth2/token", RevocationURL: base + "/oauth2/revoke"}
		}, (*emulator.Emulator).SetOAuth2RevokeNotFound},
	} {
		t.Run(p.name, func(t *testing.T) {
			emu := emulator.New()
			base, err := emu.Start()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(emu.Close)
			c := mustNew(t, p.setup(emu, base))
			rv := c.(provider.Revoker)
			ctx := context.Background()
			tok, err := c.Token(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}

			p.notFound(emu, true)
			if err := rv.Revoke(ctx, tok.AccessToken); err != nil {
				t.Fatalf("live token: %v", err)
			}
			if emu.TokenLive(tok.AccessToken) {
				t.Fatal("token survived its revoke")
			}
			// Revoked already: the server's JSON 404 says it is gone.
			if err := rv.Revoke(ctx, tok.AccessToken); err != nil {
				t.Errorf("a JSON invalid_token 404 for a revoked token: %v", err)
			}
			if err := rv.Revoke(ctx, "never-issued"); err != nil {
				t.Errorf("a JSON invalid_token 404 for an unknown token: %v", err)
			}

			// A bare 404 and an HTML one are a wrong URL: the revoke
			// fails and names it, without the token.
			live, err := c.Token(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			for name, f := range map[string]emulator.Fault{
				"bare":             {PathPrefix: p.path, Status: 404, Body: " "},
				"html":             {PathPrefix: p.path, Status: 404, Body: "<html><body>Not Found</body></html>"},
				"generic JSON 404": {PathPrefix: "/none", Status: 0},
			} {
				cfg := p.setup(emu, base)
				if name == "generic JSON 404" {
					// The emulator's catch-all: {"error":"not_found"}.
					cfg.RevocationURL = base + "/no/such/revoke"
				} else {
					emu.InjectFault(f)
				}
				c := mustNew(t, cfg)
				err := c.(provider.Revoker).Revoke(ctx, live.AccessToken)
				emu.ClearFaults()
				if err == nil {
					t.Errorf("%s 404: revoke reported success", name)
					continue
				}
				if !provider.IsStatus(err, 404) || !strings.Contains(err.Error(), cfg.RevocationURL) {
					t.Errorf("%s 404: %v; want a 404 naming %s", name, err, cfg.RevocationURL)
				}
				if strings.Contains(err.Error(), live.AccessToken) || strings.Contains(err.Error(), secret) {
					t.Errorf("%s 404: the error holds a token or secret", name)
				}
			}
			if !emu.TokenLive(live.AccessToken) {
				t.Error("a failed revoke killed the token")
			}

			// Off, the server answers 200 as RFC 7009 says.
			p.notFound(emu, false)
			if err := rv.Revoke(ctx, tok.AccessToken); err != nil {
				t.Errorf("switch off: %v", err)
			}
		})
	}
}

// A client that has not requested a token yet (a restart) still revokes
// on a data center that form-decodes Basic: raw, then Bearer, then
// form-encoded Basic.
func TestAcronisRevokeFallsBackToFormEncodedBasic(t *testing.T) {
	const id, secret = "acr-enc", "a+b/c=d:e"
	emu := emulator.New()
	base, err := emu.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	emu.SetAcronisFormDecodedBasic(true)
	emu.AddAcronisClient(emulator.AcronisClient{ID: id, Secret: secret, TenantID: "t-1"})
	ctx := context.Background()
	minter := mustNew(t, provider.Config{Provider: "acronis", ClientID: id, ClientSecret: secret, BaseURL: base})
	tok, err := minter.Token(ctx, nil)
	if err != nil {
		t.Fatalf("token from a form-decoding data center: %v", err)
	}
	// Another token_url: nothing learned for it.
	fresh := mustNew(t, provider.Config{Provider: "acronis", ClientID: id, ClientSecret: secret, BaseURL: base,
		TokenURL: base + "/api/2/idp/token"})
	if err := fresh.(provider.Revoker).Revoke(ctx, tok.AccessToken); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if emu.TokenLive(tok.AccessToken) {
		t.Error("token live after revoke")
	}
}
