package lifecycle_test

import (
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// A lease revoke whose token the server already forgot: with the server's
// JSON 404 it succeeds; a bare 404 (a wrong revocation_url) fails, naming
// the URL, so Vault retries.
func TestLeaseRevokeOn404(t *testing.T) {
	for _, p := range []struct {
		name, path string
		setup      func(h *plugintest.Harness)
		notFound   func(*emulator.Emulator, bool)
	}{
		{"acronis", "/api/2/idp/revoke_token", func(h *plugintest.Harness) { h.AcronisSetup(nil) }, (*emulator.Emulator).SetAcronisRevokeNotFound},
		{"oauth2", "/oauth2/revoke", func(h *plugintest.Harness) {
			h.OAuth2Client()
			h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"auth_style": "basic", "revocation_url": h.Emu.URL() + "/oauth2/revoke"}))
			h.MustWrite("roles/backup", map[string]any{"config": "gen"})
		}, (*emulator.Emulator).SetOAuth2RevokeNotFound},
	} {
		t.Run(p.name, func(t *testing.T) {
			h := plugintest.New(t)
			p.setup(h)
			p.notFound(h.Emu, true)
			resp := h.MustRead("creds/backup")
			tok := resp.Data["access_token"].(string)
			if _, err := h.Revoke(resp); err != nil || h.Emu.TokenLive(tok) {
				t.Fatalf("first revoke: %v (live %v)", err, h.Emu.TokenLive(tok))
			}
			// The server now answers 404 invalid_token: gone.
			if _, err := h.Revoke(resp); err != nil {
				t.Errorf("revoking a token the server answers with its JSON 404: %v", err)
			}

			// A bare 404: the revoke fails and names the URL.
			resp = h.MustRead("creds/backup")
			tok = resp.Data["access_token"].(string)
			h.Emu.InjectFault(emulator.Fault{PathPrefix: p.path, Status: 404, Body: "<html>Not Found</html>", Times: 10})
			_, err := h.Revoke(resp)
			if err == nil || !strings.Contains(err.Error(), h.Emu.URL()+p.path) {
				t.Errorf("bare 404: %v; want a failure naming %s", err, h.Emu.URL()+p.path)
			}
			if err != nil && strings.Contains(err.Error(), tok) {
				t.Error("the error holds the token")
			}
			h.Emu.ClearFaults()
			if !h.Emu.TokenLive(tok) {
				t.Fatal("token died without a revoke")
			}
			if _, err := h.Revoke(resp); err != nil || h.Emu.TokenLive(tok) {
				t.Errorf("retried revoke: %v (live %v)", err, h.Emu.TokenLive(tok))
			}
		})
	}
}
