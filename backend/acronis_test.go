package backend_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

const (
	acronisID     = "3f5e1c2a-acronis-client"
	acronisSecret = "acr+Se/cr=et:with colon"
	acronisTenant = "7c1a8e52-1f5b-4d0e-9b1a-2f4c6d8e0a11"
)

// acronisSetup adds an Acronis API client upstream and a verified config
// and role for it.
func (h *harness) acronisSetup(extra map[string]any) {
	h.t.Helper()
	h.emu.AddAcronisClient(emulator.AcronisClient{ID: acronisID, Secret: acronisSecret, TenantID: acronisTenant})
	h.secrets = append(h.secrets, acronisSecret)
	h.mustWrite("config/acr", h.acronisConfigData(extra))
	h.mustWrite("roles/backup", map[string]any{"config": "acr", "ttl": "24h"})
}

func (h *harness) acronisConfigData(extra map[string]any) map[string]any {
	d := map[string]any{"provider": "acronis", "client_id": acronisID, "client_secret": acronisSecret, "base_url": h.emu.URL()}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func TestAcronisConfigDefaultsAndVerify(t *testing.T) {
	h := newHarness(t)
	h.acronisSetup(nil)
	// verify fetched a token, checked it against the data center, and
	// revoked it again: nothing is left behind.
	if n := len(h.emu.Tokens("acronis")); n != 1 {
		t.Fatalf("verify issued %d tokens, want 1", n)
	}
	if n := len(h.emu.LiveTokens("acronis")); n != 0 {
		t.Errorf("verify left %d live tokens upstream", n)
	}
	if h.emu.Requests("/api/2/clients/"+acronisID) != 1 {
		t.Error("verify did not check the token against the data center")
	}
	data := h.mustRead("config/acr").Data
	want := map[string]string{
		"token_url":      h.emu.URL() + "/bc/idp/token",
		"revocation_url": h.emu.URL() + "/api/2/idp/revoke_token",
		"auth_style":     "basic",
		"client_id":      acronisID,
		"base_url":       h.emu.URL(),
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
	h.mustWrite("config/acr", map[string]any{"token_url": h.emu.URL() + "/api/2/idp/token", "client_secret": acronisSecret})
	before := h.emu.Requests("/api/2/idp/token")
	h.mustRead("creds/backup")
	if h.emu.Requests("/api/2/idp/token") != before+1 {
		t.Error("token_url override not used")
	}
}

func TestAcronisRejectsBadInput(t *testing.T) {
	h := newHarness(t)
	h.emu.AddAcronisClient(emulator.AcronisClient{ID: acronisID, Secret: acronisSecret, TenantID: acronisTenant})
	h.secrets = append(h.secrets, acronisSecret)
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
			data := h.acronisConfigData(tc.set)
			if tc.drop != "" {
				delete(data, tc.drop)
			}
			msg, ok := badRequest(h.write("config/bad", data))
			if !ok {
				t.Fatalf("want a 400, got %s", msg)
			}
			if !strings.Contains(msg, tc.field) {
				t.Errorf("error %q does not name %q", msg, tc.field)
			}
			if strings.Contains(msg, acronisSecret) {
				t.Error("error leaks the secret")
			}
			if h.stored("config/bad") {
				t.Error("a failed write stored the config")
			}
		})
	}
}

func TestAcronisLeaseLifecycle(t *testing.T) {
	h := newHarness(t)
	h.acronisSetup(nil)
	issued := h.clock.Now()
	resp := h.mustRead("creds/backup")
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
	h.clock.Advance(90 * time.Minute)
	rn, err := h.renew(resp, issued)
	if err != nil || rn.IsError() {
		t.Fatalf("renew: %v %v", err, errText(rn))
	}
	if rn.Secret.TTL != 30*time.Minute {
		t.Errorf("renewed TTL %s, want the 30m left upstream", rn.Secret.TTL)
	}

	// Revoke ends the token upstream; a second revoke is a no-op success.
	if !h.emu.TokenLive(tok) {
		t.Fatal("token not live before revoke")
	}
	if _, err := h.revoke(resp); err != nil {
		t.Fatal(err)
	}
	if h.emu.TokenLive(tok) {
		t.Error("token still live after lease revoke")
	}
	unknown := h.emu.AcronisUnknownRevokes()
	if _, err := h.revoke(resp); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if h.emu.AcronisUnknownRevokes() != unknown+1 {
		t.Error("second revoke did not reach the upstream as an unknown token")
	}
}

func TestAcronisExpiresInAndOnTakeTheEarlier(t *testing.T) {
	h := newHarness(t)
	h.acronisSetup(nil)
	h.emu.SetAcronisExpiresIn(true)
	// expires_in says an hour, expires_on 2h: the earlier one bounds the lease.
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/bc/idp/token", Status: 200,
		Body: `{"access_token":"abc","token_type":"bearer","expires_in":3600,"expires_on":` +
			itoa(h.clock.Now().Add(2*time.Hour).Unix()) + `}`})
	resp := h.mustRead("creds/backup")
	if resp.Secret.TTL != time.Hour {
		t.Errorf("TTL %s, want 1h", resp.Secret.TTL)
	}
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/bc/idp/token", Status: 200,
		Body: `{"access_token":"abd","token_type":"bearer","expires_in":7200,"expires_on":` +
			itoa(h.clock.Now().Add(10*time.Minute).Unix()) + `}`})
	resp = h.mustRead("creds/backup")
	if resp.Secret.TTL != 10*time.Minute {
		t.Errorf("TTL %s, want 10m (expires_on)", resp.Secret.TTL)
	}
}

func TestAcronisRevokeFailuresMakeVaultRetry(t *testing.T) {
	h := newHarness(t)
	h.acronisSetup(map[string]any{"request_timeout": "2s"})
	resp := h.mustRead("creds/backup")
	tok := resp.Data["access_token"].(string)
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/2/idp/revoke_token", Status: 503, Times: 100})
	_, err := h.revoke(resp)
	if err == nil {
		t.Fatal("revoke reported success while the upstream failed: Vault would not retry")
	}
	if strings.Contains(err.Error(), tok) {
		t.Error("the error holds the token")
	}
	h.emu.ClearFaults()
	if !h.emu.TokenLive(tok) {
		t.Fatal("token died without a revoke")
	}
	if _, err := h.revoke(resp); err != nil {
		t.Fatal(err)
	}
	if h.emu.TokenLive(tok) {
		t.Error("token survived")
	}
}

func TestAcronisRevokeAfterExpiryCallsNothing(t *testing.T) {
	h := newHarness(t)
	h.acronisSetup(nil)
	resp := h.mustRead("creds/backup")
	h.clock.Advance(2*time.Hour + time.Second)
	before := h.emu.Requests("/api/2/idp/revoke_token")
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/2/idp/revoke_token", Status: 503, Times: 100})
	if _, err := h.revoke(resp); err != nil {
		t.Fatalf("revoking an expired token's lease: %v", err)
	}
	if h.emu.Requests("/api/2/idp/revoke_token") != before {
		t.Error("revoke called the upstream for a token that expired already")
	}
}

func TestAcronisUpstreamErrors(t *testing.T) {
	h := newHarness(t)
	h.acronisSetup(nil)
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/bc/idp/token", Status: 403,
		Body: `{"error":{"code":"forbidden","domain":"PlatformAccountServer","message":"Client is not allowed"}}`})
	_, err := h.read("creds/backup")
	if err == nil || !strings.Contains(err.Error(), "HTTP 403 forbidden") || !strings.Contains(err.Error(), "Client is not allowed") {
		t.Errorf("nested Acronis error not reported: %v", err)
	}
	h.emu.DisableAcronisClient(acronisID)
	_, err = h.read("creds/backup")
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
			h := newHarness(t)
			h.emu.AddAcronisClient(emulator.AcronisClient{ID: acronisID, Secret: acronisSecret, TenantID: acronisTenant})
			h.secrets = append(h.secrets, acronisSecret)
			h.emu.SetAcronisClientsAtBaseURL(atBase)
			resp := h.mustWrite("config/acr", h.acronisConfigData(nil))
			warned := resp != nil && strings.Contains(strings.Join(resp.Warnings, " "), "client check")
			if warned != atBase {
				t.Fatalf("warnings %v; want a client check warning: %v", resp.Warnings, atBase)
			}
			if atBase && !strings.Contains(strings.Join(resp.Warnings, " "), "404") {
				t.Errorf("the warning does not say 404: %v", resp.Warnings)
			}
			if !h.stored("config/acr") {
				t.Fatal("config not stored")
			}
			if n := len(h.emu.LiveTokens("acronis")); n != 0 {
				t.Errorf("verify left %d live tokens", n)
			}
			h.mustWrite("roles/backup", map[string]any{"config": "acr"})
			h.mustRead("creds/backup")

			// A refusal other than 404 still fails the write.
			h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/2/clients/", Status: 403, Body: `{"error":{"code":"forbidden","message":"no"}}`})
			h.emu.InjectFault(emulator.Fault{PathPrefix: "/clients/", Status: 403, Body: `{"error":{"code":"forbidden","message":"no"}}`})
			msg, ok := badRequest(h.write("config/acr2", h.acronisConfigData(nil)))
			if !ok || !strings.Contains(msg, "403") {
				t.Errorf("a 403 client check: %s", msg)
			}
			if h.stored("config/acr2") {
				t.Error("a failed verify stored the config")
			}
		})
	}
}

// Acronis' examples send Basic raw, and so does the plugin; a data center
// that form-decodes Basic credentials (RFC 6749 §2.3.1) refuses a raw
// secret holding + / = :, and the plugin then sends them form-encoded.
func TestAcronisBasicEncoding(t *testing.T) {
	if !strings.ContainsAny(acronisSecret, "+") || !strings.ContainsAny(acronisSecret, "/") ||
		!strings.ContainsAny(acronisSecret, "=") || !strings.ContainsAny(acronisSecret, ":") {
		t.Fatal("the test secret must hold + / = :")
	}
	for _, decodes := range []bool{false, true} {
		t.Run(map[bool]string{false: "raw", true: "form-decoded"}[decodes], func(t *testing.T) {
			h := newHarness(t)
			h.emu.SetAcronisFormDecodedBasic(decodes)
			h.acronisSetup(nil)
			if n := len(h.emu.LiveTokens("acronis")); n != 0 {
				t.Errorf("verify left %d live tokens", n)
			}
			before := h.emu.Requests("/bc/idp/token")
			resp := h.mustRead("creds/backup")
			tok := resp.Data["access_token"].(string)
			// Once the plugin knows the encoding, one request per token.
			if n := h.emu.Requests("/bc/idp/token") - before; n != 1 {
				t.Errorf("%d token requests for one read, want 1", n)
			}
			if !h.emu.TokenLive(tok) {
				t.Fatal("token not live")
			}
			if _, err := h.revoke(resp); err != nil {
				t.Fatal(err)
			}
			if h.emu.TokenLive(tok) {
				t.Error("lease revoke left the token live")
			}
			// A wrong secret is still refused, and the error says both
			// encodings were tried where the first failed.
			msg, ok := badRequest(h.write("config/bad", h.acronisConfigData(map[string]any{"client_secret": "wr+ong/=:"})))
			if !ok || !strings.Contains(msg, "invalid_client") {
				t.Errorf("wrong secret: %s", msg)
			}
		})
	}
}
