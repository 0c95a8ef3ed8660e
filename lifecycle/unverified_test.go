package lifecycle_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/hashicorp/vault/sdk/logical"
)

// Facts UPSTREAMS.md marks unverified are emulator settings, and the
// plugin is run against each reading. (CDP's and revocation's are in
// cdp_upstream_test.go and revocation_upstream_test.go.)

// TestTokenAnswerWithoutTokenType: RFC 6749 §5.1 requires token_type, many
// servers leave it out: the token is taken as a bearer token, and the log
// says so once, at debug level.
func TestTokenAnswerWithoutTokenType(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.SetOAuth2OmitTokenType(true)
	h.OAuth2Client()
	h.MustWrite("config/gen", h.OAuth2Data(nil))
	h.MustWrite("roles/r", map[string]any{"config": "gen"})
	for i := 0; i < 2; i++ {
		if resp := h.MustRead("creds/r"); resp.Data["token_type"] != "Bearer" {
			t.Errorf("token_type %v", resp.Data["token_type"])
		}
	}
	if n := strings.Count(h.Logs.String(), "[DEBUG] upstream: the token endpoint's answers carry no token_type"); n != 1 {
		t.Errorf("logged %d times at debug level, want once:\n%s", n, h.Logs.String())
	}
}

// TestCloudUnverifiedReadings: whether a Cloud token answer repeats the
// scope, and the status of the federated-organization refusal.
func TestCloudUnverifiedReadings(t *testing.T) {
	for _, echo := range []bool{true, false} {
		h := plugintest.New(t)
		h.Emu.SetCloudScopeEcho(echo)
		h.CloudConfig("c", nil)
		h.MustWrite("roles/r", map[string]any{"config": "c", "scopes": "organization:" + plugintest.OrgUUID})
		if got := h.MustRead("creds/r").Data["scopes"]; !reflect.DeepEqual(got, []string{"organization:" + plugintest.OrgUUID}) {
			t.Errorf("scope echo %v: scopes %v", echo, got)
		}
	}
	for _, status := range []int{403, 401, 400} {
		h := plugintest.New(t)
		h.Emu.SetCloudFederatedStatus(status)
		h.Emu.AddCloudClient(plugintest.EmuFederatedOnly())
		resp := h.MustWrite("config/fed", h.CloudConfigData(map[string]any{"client_id": "fed-key", "client_secret": "fed-secret"}))
		if resp == nil || !strings.Contains(strings.Join(resp.Warnings, " "), "organization:<uuid>") {
			t.Errorf("federated refusal with %d: %#v", status, resp)
		}
	}
}

// TestSourceWithoutPKCE: PKCE support is unverified for Source; a site
// that ignores it still completes the authorization.
func TestSourceWithoutPKCE(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.SetSourcePKCE(false)
	h.SourceSetup(nil)
	h.CodeRole()
	if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
	}
	h.MustRead("creds/user")
}
