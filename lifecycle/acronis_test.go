package lifecycle_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

func TestAcronisConfigDefaultsAndVerify(t *testing.T) {
	h := plugintest.New(t)
	h.AcronisSetup(nil)
	// verify fetched a token, checked it against the data center, and
	// revoked it again: nothing is left behind.
	if n := len(h.Emu.Tokens("acronis")); n != 1 {
		t.Fatalf("verify issued %d tokens, want 1", n)
	}
	if n := len(h.Emu.LiveTokens("acronis")); n != 0 {
		t.Errorf("verify left %d live tokens upstream", n)
	}
	if h.Emu.Requests("/api/2/clients/"+plugintest.AcronisID) != 1 {
		t.Error("verify did not check the token against the data center")
	}
	data := h.MustRead("config/acr").Data
	want := map[string]string{
		"token_url":      h.Emu.URL() + "/bc/idp/token",
		"revocation_url": h.Emu.URL() + "/api/2/idp/revoke_token",
		"auth_style":     "basic",
		"client_id":      plugintest.AcronisID,
		"base_url":       h.Emu.URL(),
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("%s = %v, want %v", k, data[k], v)
		}
	}
	for _, k := range []string{"client_secret", "username", "password", "api_url", "max_tokens", "key_uuid"} {
		if _, ok := data[k]; ok {
			t.Errorf("read returns %s", k)
		}
	}

	// The account-management path works too.
	h.MustWrite("config/acr", map[string]any{"token_url": h.Emu.URL() + "/api/2/idp/token", "client_secret": plugintest.AcronisSecret})
	before := h.Emu.Requests("/api/2/idp/token")
	h.MustRead("creds/backup")
	if h.Emu.Requests("/api/2/idp/token") != before+1 {
		t.Error("token_url override not used")
	}
}

func TestAcronisRejectsBadInput(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.AddAcronisClient(emulator.AcronisClient{ID: plugintest.AcronisID, Secret: plugintest.AcronisSecret, TenantID: plugintest.AcronisTenant})
	h.Secrets = append(h.Secrets, plugintest.AcronisSecret)
	cases := []struct {
		name  string
		set   map[string]any
		drop  string
		field string
	}{
		{"missing base_url", nil, "base_url", "base_url"},
		{"http base_url off loopback", map[string]any{"base_url": "http://eu8-cloud.acronis.com"}, "", "base_url"},
		{"userinfo in revocation_url", map[string]any{"revocation_url": "https://a:b@eu8-cloud.acronis.com/r"}, "", "revocation_url"},
		{"empty client_id", map[string]any{"client_id": ""}, "", "client_id"},
		{"missing client_secret", nil, "client_secret", "client_secret"},
		{"cdp field", map[string]any{"password": "x"}, "", "password"},
		{"cloud field", map[string]any{"api_url": "https://cloud.acquia.com/api"}, "", "api_url"},
		{"bad auth_style", map[string]any{"auth_style": "header"}, "", "auth_style"},
		{"wrong secret", map[string]any{"client_secret": "nope"}, "", "invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := h.AcronisConfigData(tc.set)
			if tc.drop != "" {
				delete(data, tc.drop)
			}
			if msg := h.Refused(t, "config/bad", data, plugintest.AcronisSecret); !strings.Contains(msg, tc.field) {
				t.Errorf("error %q does not name %q", msg, tc.field)
			}
		})
	}
}

func TestAcronisLeaseLifecycle(t *testing.T) {
	h := plugintest.New(t)
	h.AcronisSetup(nil)
	issued := h.Clock.Now()
	resp := h.MustRead("creds/backup")
	tok := resp.Data["access_token"].(string)
	if resp.Data["token_type"] != "Bearer" {
		t.Errorf("token_type %v, want Bearer (upstream says bearer)", resp.Data["token_type"])
	}
	if idt, _ := resp.Data["id_token"].(string); strings.Count(idt, ".") != 2 {
		t.Errorf("id_token not passed through: %q", idt)
	}
	exp, err := time.Parse(time.RFC3339, resp.Data["expires_at"].(string))
	if err != nil || !exp.Equal(issued.Add(2*time.Hour)) {
		t.Errorf("expires_at %v, want %v (expires_on)", resp.Data["expires_at"], issued.Add(2*time.Hour))
	}
	if resp.Secret.TTL != 2*time.Hour || resp.Secret.MaxTTL > 2*time.Hour {
		t.Errorf("TTL %s max %s: a lease must not outlive expires_on", resp.Secret.TTL, resp.Secret.MaxTTL)
	}
	if len(resp.Warnings) == 0 || !strings.Contains(resp.Warnings[0], "cut") {
		t.Errorf("want a warning that the 24h ttl was cut, got %v", resp.Warnings)
	}

	// Renew never passes expires_on.
	h.Clock.Advance(90 * time.Minute)
	rn, err := h.Renew(resp, issued)
	if err != nil || rn.IsError() {
		t.Fatalf("renew: %v %v", err, plugintest.ErrText(rn))
	}
	if rn.Secret.TTL != 30*time.Minute {
		t.Errorf("renewed TTL %s, want the 30m left upstream", rn.Secret.TTL)
	}

	// Revoke ends the token upstream; a second revoke is a no-op success.
	if !h.Emu.TokenLive(tok) {
		t.Fatal("token not live before revoke")
	}
	if _, err := h.Revoke(resp); err != nil {
		t.Fatal(err)
	}
	if h.Emu.TokenLive(tok) {
		t.Error("token still live after lease revoke")
	}
	unknown := h.Emu.AcronisUnknownRevokes()
	if _, err := h.Revoke(resp); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if h.Emu.AcronisUnknownRevokes() != unknown+1 {
		t.Error("second revoke did not reach the upstream as an unknown token")
	}
}

func TestAcronisExpiresInAndOnTakeTheEarlier(t *testing.T) {
	h := plugintest.New(t)
	h.AcronisSetup(nil)
	h.Emu.SetAcronisExpiresIn(true)
	// expires_in says an hour, expires_on 2h: the earlier one bounds the lease.
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/bc/idp/token", Status: 200,
		Body: `{"access_token":"abc","token_type":"bearer","expires_in":3600,"expires_on":` +
			itoa(h.Clock.Now().Add(2*time.Hour).Unix()) + `}`})
	resp := h.MustRead("creds/backup")
	if resp.Secret.TTL != time.Hour {
		t.Errorf("TTL %s, want 1h", resp.Secret.TTL)
	}
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/bc/idp/token", Status: 200,
		Body: `{"access_token":"abd","token_type":"bearer","expires_in":7200,"expires_on":` +
			itoa(h.Clock.Now().Add(10*time.Minute).Unix()) + `}`})
	resp = h.MustRead("creds/backup")
	if resp.Secret.TTL != 10*time.Minute {
		t.Errorf("TTL %s, want 10m (expires_on)", resp.Secret.TTL)
	}
}

func TestAcronisRevokeFailuresMakeVaultRetry(t *testing.T) {
	h := plugintest.New(t)
	h.AcronisSetup(map[string]any{"request_timeout": "2s"})
	resp := h.MustRead("creds/backup")
	tok := resp.Data["access_token"].(string)
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/2/idp/revoke_token", Status: 503, Times: 100})
	_, err := h.Revoke(resp)
	if err == nil {
		t.Fatal("revoke reported success while the upstream failed: Vault would not retry")
	}
	if strings.Contains(err.Error(), tok) {
		t.Error("the error holds the token")
	}
	h.Emu.ClearFaults()
	if !h.Emu.TokenLive(tok) {
		t.Fatal("token died without a revoke")
	}
	if _, err := h.Revoke(resp); err != nil {
		t.Fatal(err)
	}
	if h.Emu.TokenLive(tok) {
		t.Error("token survived")
	}
}

func TestAcronisRevokeAfterExpiryCallsNothing(t *testing.T) {
	h := plugintest.New(t)
	h.AcronisSetup(nil)
	resp := h.MustRead("creds/backup")
	h.Clock.Advance(2*time.Hour + time.Second)
	before := h.Emu.Requests("/api/2/idp/revoke_token")
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/2/idp/revoke_token", Status: 503, Times: 100})
	if _, err := h.Revoke(resp); err != nil {
		t.Fatalf("revoking an expired token's lease: %v", err)
	}
	if h.Emu.Requests("/api/2/idp/revoke_token") != before {
		t.Error("revoke called the upstream for a token that expired already")
	}
}

func TestAcronisUpstreamErrors(t *testing.T) {
	h := plugintest.New(t)
	h.AcronisSetup(nil)
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/bc/idp/token", Status: 403,
		Body: `{"error":{"code":"forbidden","domain":"PlatformAccountServer","message":"Client is not allowed"}}`})
	_, err := h.Read("creds/backup")
	if err == nil || !strings.Contains(err.Error(), "HTTP 403 forbidden") || !strings.Contains(err.Error(), "Client is not allowed") {
		t.Errorf("nested Acronis error not reported: %v", err)
	}
	h.Emu.DisableAcronisClient(plugintest.AcronisID)
	_, err = h.Read("creds/backup")
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("disabled client: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The client check's path differs between documents; a data center that
// answers 404 there has taken the credentials all the same: the write
// succeeds with a warning. Other refusals still fail it.
func TestAcronisClientCheckPath(t *testing.T) {
	for _, atBase := range []bool{false, true} {
		t.Run(map[bool]string{false: "api/2/clients", true: "clients at base_url"}[atBase], func(t *testing.T) {
			h := plugintest.New(t)
			h.Emu.AddAcronisClient(emulator.AcronisClient{ID: plugintest.AcronisID, Secret: plugintest.AcronisSecret, TenantID: plugintest.AcronisTenant})
			h.Secrets = append(h.Secrets, plugintest.AcronisSecret)
			h.Emu.SetAcronisClientsAtBaseURL(atBase)
			resp := h.MustWrite("config/acr", h.AcronisConfigData(nil))
			warned := resp != nil && strings.Contains(strings.Join(resp.Warnings, " "), "client check")
			if warned != atBase {
				t.Fatalf("warnings %v; want a client check warning: %v", resp.Warnings, atBase)
			}
			if atBase && !strings.Contains(strings.Join(resp.Warnings, " "), "404") {
				t.Errorf("the warning does not say 404: %v", resp.Warnings)
			}
			if !h.Stored("config/acr") {
				t.Fatal("config not stored")
			}
			if n := len(h.Emu.LiveTokens("acronis")); n != 0 {
				t.Errorf("verify left %d live tokens", n)
			}
			h.MustWrite("roles/backup", map[string]any{"config": "acr"})
			h.MustRead("creds/backup")

			// A refusal other than 404 still fails the write.
			h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/2/clients/", Status: 403, Body: `{"error":{"code":"forbidden","message":"no"}}`})
			h.Emu.InjectFault(emulator.Fault{PathPrefix: "/clients/", Status: 403, Body: `{"error":{"code":"forbidden","message":"no"}}`})
			msg, ok := plugintest.BadRequest(h.Write("config/acr2", h.AcronisConfigData(nil)))
			if !ok || !strings.Contains(msg, "403") {
				t.Errorf("a 403 client check: %s", msg)
			}
			if h.Stored("config/acr2") {
				t.Error("a failed verify stored the config")
			}
		})
	}
}

// Acronis' examples send Basic raw, and so does the plugin; a data center
// that form-decodes Basic credentials (RFC 6749 §2.3.1) refuses a raw
// secret holding + / = :, and the plugin then sends them form-encoded.
func TestAcronisBasicEncoding(t *testing.T) {
	if !strings.ContainsAny(plugintest.AcronisSecret, "+") || !strings.ContainsAny(plugintest.AcronisSecret, "/") ||
		!strings.ContainsAny(plugintest.AcronisSecret, "=") || !strings.ContainsAny(plugintest.AcronisSecret, ":") {
		t.Fatal("the test secret must hold + / = :")
	}
	for _, decodes := range []bool{false, true} {
		t.Run(map[bool]string{false: "raw", true: "form-decoded"}[decodes], func(t *testing.T) {
			h := plugintest.New(t)
			h.Emu.SetAcronisFormDecodedBasic(decodes)
			h.AcronisSetup(nil)
			if n := len(h.Emu.LiveTokens("acronis")); n != 0 {
				t.Errorf("verify left %d live tokens", n)
			}
			before := h.Emu.Requests("/bc/idp/token")
			resp := h.MustRead("creds/backup")
			tok := resp.Data["access_token"].(string)
			// Once the plugin knows the encoding, one request per token.
			if n := h.Emu.Requests("/bc/idp/token") - before; n != 1 {
				t.Errorf("%d token requests for one read, want 1", n)
			}
			if !h.Emu.TokenLive(tok) {
				t.Fatal("token not live")
			}
			if _, err := h.Revoke(resp); err != nil {
				t.Fatal(err)
			}
			if h.Emu.TokenLive(tok) {
				t.Error("lease revoke left the token live")
			}
			// A wrong secret is still refused, and the error says both
			// encodings were tried where the first failed.
			msg, ok := plugintest.BadRequest(h.Write("config/bad", h.AcronisConfigData(map[string]any{"client_secret": "wr+ong/=:"})))
			if !ok || !strings.Contains(msg, "invalid_client") {
				t.Errorf("wrong secret: %s", msg)
			}
		})
	}
}
