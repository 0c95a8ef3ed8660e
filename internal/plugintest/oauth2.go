package plugintest

import "github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"

const (
	OAuthID     = "generic-client"
	OAuthSecret = "gen+Se/cr=et:colon"
)

func (h *Harness) OAuth2Data(extra map[string]any) map[string]any {
	d := map[string]any{"provider": "oauth2", "client_id": OAuthID, "client_secret": OAuthSecret,
		"token_url": h.Emu.URL() + "/oauth2/token"}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func (h *Harness) OAuth2Client() {
	h.Emu.AddOAuth2Client(emulator.OAuth2Client{ID: OAuthID, Secret: OAuthSecret, Scopes: []string{"read", "write", "admin"}})
	h.Secrets = append(h.Secrets, OAuthSecret)
}
