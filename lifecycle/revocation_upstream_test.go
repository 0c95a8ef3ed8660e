package lifecycle_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// RFC 7009 revocation as servers vary in it, each variant an emulator
// setting the plugin is run against.

// TestCascadingRevocationKeepsTheAuthorization: a server may revoke the
// refresh token with its access token (RFC 7009 §2.1). By default the
// plugin never revokes an access token minted from a role's authorization
// (the code exchange's, a lease's), so the role keeps it; with
// revoke_user_access_tokens the operator says the server does not cascade.
func TestCascadingRevocationKeepsTheAuthorization(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.SetSourceRevocationCascades(true)
	h.SourceSetup(map[string]any{"revocation_url": h.Emu.URL() + "/oauth/revoke"})
	if v := h.MustRead("config/site").Data["revoke_user_access_tokens"]; v != false {
		t.Errorf("revoke_user_access_tokens reads %v, want false by default", v)
	}
	h.CodeRole()
	if cb, err := h.Callback(h.AuthorizeRole(), logical.ReadOperation); err != nil || cb.IsError() {
		t.Fatalf("callback: %v %v", err, plugintest.ErrText(cb))
	}
	first := h.MustRead("creds/user")
	if _, held := first.Secret.InternalData["access_token"]; held {
		t.Error("the lease keeps a token it will not revoke")
	}
	if r, err := h.Revoke(first); err != nil || (r != nil && r.IsError()) {
		t.Fatalf("revoke: %v %v", err, plugintest.ErrText(r))
	}
	h.MustRead("creds/user")
	if n := h.Emu.SourceRefreshTokens(); n != 1 {
		t.Fatalf("%d live refresh tokens, want the role's one", n)
	}

	// Opted in, on a server that does not cascade: the lease's token is
	// revoked upstream and the role keeps its authorization.
	h.Emu.SetSourceRevocationCascades(false)
	h.MustWrite("config/site", map[string]any{"revoke_user_access_tokens": true})
	lease := h.MustRead("creds/user")
	tok := lease.Data["access_token"].(string)
	if r, err := h.Revoke(lease); err != nil || (r != nil && r.IsError()) {
		t.Fatalf("revoke: %v %v", err, plugintest.ErrText(r))
	}
	if testutil.BearerStatus(h.T, plugintest.HTTPClient, h.Emu.URL()+"/jsonapi", tok) != http.StatusUnauthorized {
		t.Error("opted in, the lease's token was not revoked")
	}
	held := h.MustRead("creds/user")

	// A lease that holds its token, revoked after the operator turned the
	// choice off again on a cascading server: not revoked upstream.
	h.MustWrite("config/site", map[string]any{"revoke_user_access_tokens": false})
	h.Emu.SetSourceRevocationCascades(true)
	if r, err := h.Revoke(held); err != nil || (r != nil && r.IsError()) {
		t.Fatalf("revoke: %v %v", err, plugintest.ErrText(r))
	}
	h.MustRead("creds/user")
}

// TestRevocationEndpointAnswering404: a 404 is a wrong or disabled
// revocation_url, not a revoked token: verify refuses the config, and a
// lease revoke fails (Vault retries) rather than report a live token gone.
func TestRevocationEndpointAnswering404(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.SetSourceRevocation(false) // the site answers a JSON 404
	h.Emu.AddSourceClient(emulator.SourceClient{ID: plugintest.SourceID, Secret: plugintest.SourceSecret})
	h.Secrets = append(h.Secrets, plugintest.SourceSecret)
	d := map[string]any{"provider": "source", "client_id": plugintest.SourceID, "client_secret": plugintest.SourceSecret, "base_url": h.Emu.URL(),
		"revocation_url": h.Emu.URL() + "/oauth/revoke"}
	msg, ok := plugintest.BadRequest(h.Write("config/site", d))
	if !ok || !strings.Contains(msg, "404") || !strings.Contains(msg, "revocation_url") {
		t.Errorf("verify with a revocation endpoint that is off: %s", msg)
	}
	if h.Stored("config/site") {
		t.Error("stored a config whose revocation_url answers 404")
	}

	h.OAuth2Client()
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"verify": false, "revocation_url": h.Emu.URL() + "/oauth2/nowhere"}))
	h.MustWrite("roles/r", map[string]any{"config": "gen"})
	resp := h.MustRead("creds/r")
	if _, err := h.Revoke(resp); err == nil || !strings.Contains(err.Error(), "revocation_url") {
		t.Errorf("revoke against a 404: %v, want an error naming revocation_url", err)
	}
	if !h.Emu.TokenLive(resp.Data["access_token"].(string)) {
		t.Fatal("the token died: the test proves nothing")
	}
}

// TestRevocationOfAccessTokensUnsupported: a server that revokes refresh
// tokens only answers unsupported_token_type; the lease revoke succeeds,
// and the log says the token lives until it expires, once.
func TestRevocationOfAccessTokensUnsupported(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.SetOAuth2RevocationRefreshOnly(true)
	h.OAuth2Client()
	resp := h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"revocation_url": h.Emu.URL() + "/oauth2/revoke"}))
	if resp == nil || !strings.Contains(strings.Join(resp.Warnings, " "), "does not revoke access tokens") {
		t.Errorf("verify: %v, want a warning", resp)
	}
	h.MustWrite("roles/r", map[string]any{"config": "gen"})
	for i := 0; i < 2; i++ {
		lease := h.MustRead("creds/r")
		if r, err := h.Revoke(lease); err != nil || (r != nil && r.IsError()) {
			t.Fatalf("revoke %d: %v %v", i, err, plugintest.ErrText(r))
		}
	}
	logs := h.Logs.String()
	if n := strings.Count(logs, "[WARN]  the revocation endpoint does not revoke access tokens"); n != 1 ||
		!strings.Contains(logs, "expires_at=") {
		t.Errorf("logged at warning level %d times, want once, with the expiry:\n%s", n, logs)
	}
	// Nothing holds the config: the records are gone.
	h.MustDelete("roles/r")
	if r, err := h.Do(logical.DeleteOperation, "config/gen", nil); err != nil || (r != nil && r.IsError()) {
		t.Errorf("delete: %v %v", err, plugintest.ErrText(r))
	}
}

// TestAcronisRevocationWithBearer: where the data center takes the token
// itself as the revocation request's credential, the plugin's Basic
// attempt gets 401 and one retry with Bearer revokes it.
func TestAcronisRevocationWithBearer(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.SetAcronisRevokeWithBearer(true)
	h.AcronisSetup(nil) // verify revokes its own token
	if n := len(h.Emu.LiveTokens("acronis")); n != 0 {
		t.Errorf("verify left %d tokens live", n)
	}
	resp := h.MustRead("creds/backup")
	tok := resp.Data["access_token"].(string)
	for i := 0; i < 2; i++ { // the second finds it gone: 401 invalid_token
		if r, err := h.Revoke(resp); err != nil || (r != nil && r.IsError()) {
			t.Fatalf("revoke %d: %v %v", i, err, plugintest.ErrText(r))
		}
	}
	if h.Emu.TokenLive(tok) {
		t.Error("token live after lease revoke")
	}
}

// TestAcronisBearerRevokeOfADisabledClientsToken: where the data center
// takes the token as the revocation's credential, a disabled client's
// live token is refused as invalid_token too. That is no proof the token
// is gone: it works again once the client is enabled. The revoke fails
// (Vault retries) until it can tell.
func TestAcronisBearerRevokeOfADisabledClientsToken(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.SetAcronisRevokeWithBearer(true)
	h.AcronisSetup(nil)
	resp := h.MustRead("creds/backup")
	tok := resp.Data["access_token"].(string)
	h.Emu.DisableAcronisClient(plugintest.AcronisID)
	r, err := h.Revoke(resp)
	revoked := err == nil && (r == nil || !r.IsError())
	h.Emu.AddAcronisClient(emulator.AcronisClient{ID: plugintest.AcronisID, Secret: plugintest.AcronisSecret, TenantID: plugintest.AcronisTenant})
	if revoked && h.Emu.TokenLive(tok) {
		t.Fatal("the revoke succeeded, and the token works again once its client is enabled")
	}
	if r, err := h.Revoke(resp); err != nil || (r != nil && r.IsError()) {
		t.Fatalf("revoke once the client is enabled: %v %v", err, plugintest.ErrText(r))
	}
	if h.Emu.TokenLive(tok) {
		t.Error("token live after lease revoke")
	}
	if n := len(h.Emu.LiveTokens("acronis")); n != 0 {
		t.Errorf("%d tokens live after the revokes", n)
	}
}
