package backend_test

import (
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// A lease revoke whose token the server already forgot: with the server's
// JSON 404 it succeeds; a bare 404 (a wrong revocation_url) fails, naming
// the URL, so Vault retries.
func TestLeaseRevokeOn404(t *testing.T) {
	for _, p := range []struct {
		name, path string
		setup      func(h *harness)
		notFound   func(*emulator.Emulator, bool)
	}{
		{"acronis", "/api/2/idp/revoke_token", func(h *harness) { h.acronisSetup(nil) }, (*emulator.Emulator).SetAcronisRevokeNotFound},
		{"oauth2", "/oauth2/revoke", func(h *harness) {
			h.oauth2Client()
			h.mustWrite("config/gen", h.oauth2Data(map[string]any{"auth_style": "basic", "revocation_url": h.emu.URL() + "/oauth2/revoke"}))
			h.mustWrite("roles/backup", map[string]any{"config": "gen"})
		}, (*emulator.Emulator).SetOAuth2RevokeNotFound},
	} {
		t.Run(p.name, func(t *testing.T) {
			h := newHarness(t)
			p.setup(h)
			p.notFound(h.emu, true)
			resp := h.mustRead("creds/backup")
			tok := resp.Data["access_token"].(string)
			if _, err := h.revoke(resp); err != nil || h.emu.TokenLive(tok) {
				t.Fatalf("first revoke: %v (live %v)", err, h.emu.TokenLive(tok))
			}
			// The server now answers 404 invalid_token: gone.
			if _, err := h.revoke(resp); err != nil {
				t.Errorf("revoking a token the server answers with its JSON 404: %v", err)
			}

			// A bare 404: the revoke fails and names the URL.
			resp = h.mustRead("creds/backup")
			tok = resp.Data["access_token"].(string)
			h.emu.InjectFault(emulator.Fault{PathPrefix: p.path, Status: 404, Body: "<html>Not Found</html>", Times: 10})
			_, err := h.revoke(resp)
			if err == nil || !strings.Contains(err.Error(), h.emu.URL()+p.path) {
				t.Errorf("bare 404: %v; want a failure naming %s", err, h.emu.URL()+p.path)
			}
			if err != nil && strings.Contains(err.Error(), tok) {
				t.Error("the error holds the token")
			}
			h.emu.ClearFaults()
			if !h.emu.TokenLive(tok) {
				t.Fatal("token died without a revoke")
			}
			if _, err := h.revoke(resp); err != nil || h.emu.TokenLive(tok) {
				t.Errorf("retried revoke: %v (live %v)", err, h.emu.TokenLive(tok))
			}
		})
	}
}
