package lifecycle_test

import (
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// How client credentials reach each server, and where: the encodings the
// servers take, and the URLs Acquia Cloud refuses.

// TestEncodedBasicRefusedForCloudAndSource: Cloud and Source do not
// url-decode Basic credentials, which golang.org/x/oauth2 form-encodes, so
// auth_style=basic is a 400 naming auth_style rather than an invalid_client
// that blames the secret.
func TestEncodedBasicRefusedForCloudAndSource(t *testing.T) {
	h := plugintest.New(t)
	for name, d := range map[string]map[string]any{
		"cloud": h.CloudConfigData(map[string]any{"auth_style": "basic", "verify": false}),
		"source": {"provider": "source", "client_id": plugintest.SourceID, "client_secret": plugintest.SourceSecret, "base_url": h.Emu.URL(),
			"auth_style": "basic", "verify": false},
	} {
		msg, ok := plugintest.BadRequest(h.Write("config/"+name, d))
		if !ok || !strings.HasPrefix(msg, "auth_style:") || !strings.Contains(msg, "url-decode") {
			t.Errorf("%s with auth_style=basic: %s", name, msg)
		}
		if h.Stored("config/" + name) {
			t.Errorf("%s: stored", name)
		}
	}
	// An existing config cannot be switched to basic either.
	h.CloudConfig("c", nil)
	if msg, ok := plugintest.BadRequest(h.Write("config/c", map[string]any{"auth_style": "basic"})); !ok || !strings.HasPrefix(msg, "auth_style:") {
		t.Errorf("update to basic: %s", msg)
	}
}

// TestAcronisSendsRawBasic: Acronis' examples Base64-encode
// "client_id:client_secret" as it is, and the emulator takes only that:
// a secret holding + / = : and a space works for a token, its check and
// its revocation.
func TestAcronisSendsRawBasic(t *testing.T) {
	h := plugintest.New(t)
	h.AcronisSetup(nil) // acronisSecret holds + / = : and a space
	resp := h.MustRead("creds/backup")
	if r, err := h.Revoke(resp); err != nil || (r != nil && r.IsError()) {
		t.Fatalf("revoke: %v %v", err, plugintest.ErrText(r))
	}
	if h.Emu.TokenLive(resp.Data["access_token"].(string)) || h.Emu.AcronisUnknownRevokes() != 0 {
		t.Error("the lease's token was not revoked")
	}
}

// TestCloudURLsNameNoPort: "You must not include unauthorized ports like
// 443 in your endpoint calls": token_url and api_url with a port are a 400
// naming the field, but on loopback (the emulator).
func TestCloudURLsNameNoPort(t *testing.T) {
	h := plugintest.New(t)
	for field, u := range map[string]string{
		"token_url": "https://accounts.acquia.com:443/api/auth/oauth/token",
		"api_url":   "https://cloud.acquia.com:8443/api",
	} {
		msg, ok := plugintest.BadRequest(h.Write("config/c", h.CloudConfigData(map[string]any{field: u, "verify": false})))
		if !ok || !strings.HasPrefix(msg, field+":") || !strings.Contains(msg, "port") {
			t.Errorf("%s %s: %s", field, u, msg)
		}
	}
	if h.Stored("config/c") {
		t.Error("stored a config naming a port")
	}
	h.CloudConfig("c", nil) // the emulator's loopback URLs carry a port
	h.MustWrite("config/c", map[string]any{"token_url": "https://accounts.acquia.com/api/token", "client_secret": plugintest.CloudSecret,
		"verify": false})
}
