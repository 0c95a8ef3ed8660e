package plugintest

import "github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"

const (
	AcronisID     = "3f5e1c2a-acronis-client"
	AcronisSecret = "acr+Se/cr=et:with colon"
	AcronisTenant = "7c1a8e52-1f5b-4d0e-9b1a-2f4c6d8e0a11"
)

// acronisSetup adds an Acronis API client upstream and a verified config
// and role for it.
func (h *Harness) AcronisSetup(extra map[string]any) {
	h.T.Helper()
	h.Emu.AddAcronisClient(emulator.AcronisClient{ID: AcronisID, Secret: AcronisSecret, TenantID: AcronisTenant})
	h.Secrets = append(h.Secrets, AcronisSecret)
	h.MustWrite("config/acr", h.AcronisConfigData(extra))
	h.MustWrite("roles/backup", map[string]any{"config": "acr", "ttl": "24h"})
}

func (h *Harness) AcronisConfigData(extra map[string]any) map[string]any {
	d := map[string]any{"provider": "acronis", "client_id": AcronisID, "client_secret": AcronisSecret, "base_url": h.Emu.URL()}
	for k, v := range extra {
		d[k] = v
	}
	return d
}
