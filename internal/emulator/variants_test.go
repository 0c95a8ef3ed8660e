package emulator_test

import (
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// Settings for facts that are unverified upstream: each reading is served
// as set, through the Go API and the admin API alike.

func TestCloudScopeEchoAndFederatedStatus(t *testing.T) {
	e, base := start(t)
	e.AddCloudClient(emulator.CloudClient{ID: "fed", Secret: "s", FederatedOrgs: []string{emulator.DemoOrgUUID}})
	scoped := demoForm("scope", "organization:"+emulator.DemoOrgUUID)
	if r := mustCall(t, "POST", base+"/api/token", formType, scoped, "", ""); r.status != 200 || r.body["scope"] != "organization:"+emulator.DemoOrgUUID {
		t.Fatalf("default: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+"/_emulator/cloud/scope-echo", "application/json", `{"on":false}`, "", ""); r.status != 204 {
		t.Fatalf("admin scope-echo: %d", r.status)
	}
	if r := mustCall(t, "POST", base+"/api/token", formType, scoped, "", ""); r.status != 200 || r.body["scope"] != nil {
		t.Fatalf("scope echo off: %d %s", r.status, r.raw)
	}
	tok := token(t, base, form("grant_type", "client_credentials", "client_id", "fed", "client_secret", "s"))
	if r := mustCall(t, "GET", base+"/api/account", "", "", "", tok); r.status != 403 || r.body["error"] != "additional_authentication_required" {
		t.Fatalf("federated default: %d %s", r.status, r.raw)
	}
	for body, want := range map[string]int{`{"status":401}`: 204, `{"status":500}`: 400, `{"status":99}`: 400} {
		if r := mustCall(t, "POST", base+"/_emulator/cloud/federated-status", "application/json", body, "", ""); r.status != want {
			t.Fatalf("admin federated-status %s: %d", body, r.status)
		}
	}
	if r := mustCall(t, "GET", base+"/api/account", "", "", "", tok); r.status != 401 || r.body["error"] != "additional_authentication_required" {
		t.Fatalf("federated 401: %d %s", r.status, r.raw)
	}
}

func TestSourceWithoutPKCE(t *testing.T) {
	e, base := start(t)
	e.SetSourcePKCE(false)
	// The challenge is ignored, and so is a verifier that would not match.
	code := srcCode(t, base, srcAuthParams()...)
	r := srcPost(t, base, srcCreds("grant_type", "authorization_code", "code", code, "redirect_uri", srcCallback,
		"code_verifier", "not-the-verifier-but-long-enough-to-look-like-one-0123456789"))
	if r.status != 200 || srcGet(r, "refresh_token") == "" {
		t.Fatalf("exchange without PKCE: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+"/_emulator/source/pkce", "application/json", `{"on":true}`, "", ""); r.status != 204 {
		t.Fatalf("admin pkce: %d", r.status)
	}
	code = srcCode(t, base, srcAuthParams()...)
	wantSourceError(t, srcPost(t, base, srcCreds("grant_type", "authorization_code", "code", code, "redirect_uri", srcCallback)),
		400, "invalid_grant")
}

func TestOAuth2OmitTokenType(t *testing.T) {
	e, base := start(t)
	e.SetOAuth2OmitTokenType(true)
	r := mustCall(t, "POST", base+oauth2TokenPath, formType, oauth2BodyForm(), "", "")
	if _, has := r.body["token_type"]; r.status != 200 || has {
		t.Fatalf("omitted: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+"/_emulator/oauth2/omit-token-type", "application/json", `{"on":false}`, "", ""); r.status != 204 {
		t.Fatalf("admin: %d", r.status)
	}
	if r := mustCall(t, "POST", base+oauth2TokenPath, formType, oauth2BodyForm(), "", ""); r.body["token_type"] != "Bearer" {
		t.Fatalf("default: %s", r.raw)
	}
}

// TestStrictest: the admin route sets the least forgiving readings.
func TestStrictest(t *testing.T) {
	e, base := start(t)
	if r := mustCall(t, "POST", base+"/_emulator/strictest", "", "", "", ""); r.status != 204 {
		t.Fatalf("admin strictest: %d", r.status)
	}
	wantCDPError(t, mustCall(t, "POST", base+cdpCreate, cdpJSON, "{}", cdpBasic, ""), 400, "INVALID_REQUEST")
	initial := e.CDPInitialToken(emulator.DemoCDPUsername)
	if r := mustCall(t, "POST", base+cdpCreate, cdpJSON, "", cdpBasic, ""); r.status != 200 || e.TokenLive(initial) ||
		r.body["expires_in"] != "15552000" {
		t.Fatalf("strictest create: %d %s, initial live %v", r.status, r.raw, e.TokenLive(initial))
	}
	if r := mustCall(t, "POST", base+oauth2TokenPath, formType, oauth2BodyForm(), "", ""); r.body["token_type"] != nil {
		t.Fatalf("strictest oauth2 token: %s", r.raw)
	}
}
