package backend_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// Facts UPSTREAMS.md marks unverified are emulator settings, and the
// plugin is run against each reading. (CDP's and revocation's are in
// cdp_upstream_test.go and revocation_upstream_test.go.)

// TestTokenAnswerWithoutTokenType: RFC 6749 §5.1 requires token_type, many
// servers leave it out: the token is taken as a bearer token, and the log
// says so once, at debug level.
func TestTokenAnswerWithoutTokenType(t *testing.T) {
	h := newHarness(t)
	h.emu.SetOAuth2OmitTokenType(true)
	h.oauth2Client()
	h.mustWrite("config/gen", h.oauth2Data(nil))
	h.mustWrite("roles/r", map[string]any{"config": "gen"})
	for i := 0; i < 2; i++ {
		if resp := h.mustRead("creds/r"); resp.Data["token_type"] != "Bearer" {
			t.Errorf("token_type %v", resp.Data["token_type"])
		}
	}
	if n := strings.Count(h.logs.String(), "[DEBUG] upstream: the token endpoint's answers carry no token_type"); n != 1 {
		t.Errorf("logged %d times at debug level, want once:\n%s", n, h.logs.String())
	}
}

// TestCloudUnverifiedReadings: whether a Cloud token answer repeats the
// scope, and the status of the federated-organization refusal.
func TestCloudUnverifiedReadings(t *testing.T) {
	for _, echo := range []bool{true, false} {
		h := newHarness(t)
		h.emu.SetCloudScopeEcho(echo)
		h.cloudConfig("c", nil)
		h.mustWrite("roles/r", map[string]any{"config": "c", "scopes": "organization:" + orgUUID})
		if got := h.mustRead("creds/r").Data["scopes"]; !reflect.DeepEqual(got, []string{"organization:" + orgUUID}) {
			t.Errorf("scope echo %v: scopes %v", echo, got)
		}
	}
	for _, status := range []int{403, 401, 400} {
		h := newHarness(t)
		h.emu.SetCloudFederatedStatus(status)
		h.emu.AddCloudClient(emuFederatedOnly())
		resp := h.mustWrite("config/fed", h.cloudConfigData(map[string]any{"client_id": "fed-key", "client_secret": "fed-secret"}))
		if resp == nil || !strings.Contains(strings.Join(resp.Warnings, " "), "organization:<uuid>") {
			t.Errorf("federated refusal with %d: %#v", status, resp)
		}
	}
}

// TestSourceWithoutPKCE: PKCE support is unverified for Source; a site
// that ignores it still completes the authorization.
func TestSourceWithoutPKCE(t *testing.T) {
	h := newHarness(t)
	h.emu.SetSourcePKCE(false)
	h.sourceSetup(nil)
	h.codeRole()
	if cb, err := h.callback(h.authorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, errText(cb))
	}
	h.mustRead("creds/user")
}
