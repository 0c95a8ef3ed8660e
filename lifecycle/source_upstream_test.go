package lifecycle_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// TestSourceConsumerSettingsNamedInErrors: a consumer that may not use a
// grant gets league/oauth2-server's invalid_client, and one without a
// default user simple_oauth's 500 for client credentials. verify proves
// the credentials anyway, and errors name the consumer setting to fix
// instead of blaming the secret or calling it an outage.
func TestSourceConsumerSettingsNamedInErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		client   emulator.SourceClient
		warning  string
		credsErr string
	}{
		"consumer without the client credentials grant": {
			emulator.SourceClient{Grants: []string{"authorization_code", "refresh_token"}},
			"invalid_client", "may use the Client Credentials grant"},
		"consumer without a default user": {
			emulator.SourceClient{NoDefaultUser: true},
			"no default user", "no default user"},
	} {
		t.Run(name, func(t *testing.T) {
			h := plugintest.New(t)
			c := tc.client
			c.ID, c.Secret = plugintest.SourceID, plugintest.SourceSecret
			h.Emu.AddSourceClient(c)
			h.Secrets = append(h.Secrets, plugintest.SourceSecret)
			resp := h.MustWrite("config/site", map[string]any{"provider": "source", "client_id": plugintest.SourceID,
				"client_secret": plugintest.SourceSecret, "base_url": h.Emu.URL(), "request_timeout": "1s"})
			if resp == nil || !strings.Contains(strings.Join(resp.Warnings, " "), tc.warning) ||
				!strings.Contains(strings.Join(resp.Warnings, " "), "authorization_code roles work") {
				t.Errorf("verify: %v", resp)
			}
			h.MustWrite("roles/cc", map[string]any{"config": "site"})
			_, err := h.Read("creds/cc")
			if err == nil || !strings.Contains(err.Error(), tc.credsErr) || strings.Contains(err.Error(), "try again later") {
				t.Errorf("creds: %v", err)
			}
			// A wrong secret still fails verify, naming it.
			msg, ok := plugintest.BadRequest(h.Write("config/bad", map[string]any{"provider": "source", "client_id": plugintest.SourceID,
				"client_secret": "wrong", "base_url": h.Emu.URL(), "request_timeout": "1s"}))
			if !ok || !strings.Contains(msg, "client_secret") {
				t.Errorf("wrong secret: %s", msg)
			}
		})
	}
}

// TestSourceAnswersWithoutScope: the site does not repeat the scope in
// its token answers; creds names the scopes the role asked for.
func TestSourceAnswersWithoutScope(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(nil)
	h.MustWrite("roles/editor", map[string]any{"config": "site", "scopes": "content:read,content:write"})
	resp := h.MustRead("creds/editor")
	if got := resp.Data["scopes"]; !reflect.DeepEqual(got, []string{"content:read", "content:write"}) {
		t.Errorf("scopes %v", got)
	}
}
