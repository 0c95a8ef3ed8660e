package plugintest

import (
	"encoding/json"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

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

// OAuthJWTID is the generic server's private_key_jwt client.
const OAuthJWTID = "jwt-client"

// OAuth2JWTData is a private_key_jwt config of OAuthJWTID at the generic
// server, its revocation and authorize endpoints included; extra adds to
// it or overrides it (a private_key, or generate_key).
func (h *Harness) OAuth2JWTData(extra map[string]any) map[string]any {
	base := h.Emu.URL()
	d := map[string]any{"provider": "oauth2", "client_id": OAuthJWTID, "auth_style": "private_key_jwt",
		"token_url": base + "/oauth2/token", "revocation_url": base + "/oauth2/revoke", "authorize_url": base + "/oauth2/authorize"}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

// RegisterJWKS registers OAuthJWTID at the generic server with the JWKS
// that config/<config>/jwks serves, as an operator would at their IdP.
func (h *Harness) RegisterJWKS(config string) {
	h.T.Helper()
	raw, err := json.Marshal(h.MustRead("config/" + config + "/jwks").Data)
	if err != nil {
		h.T.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		h.T.Fatalf("config/%s/jwks is not a JWK Set: %v", config, err)
	}
	h.Emu.AddOAuth2Client(emulator.OAuth2Client{ID: OAuthJWTID, JWKS: &set, Scopes: []string{"read", "write", "admin"},
		RedirectURIs: []string{SourceCallback}})
}
