package emulator_test

import (
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/emulator"
)

const jsonType = "application/json"

// createKey makes a key with the demo key's token and returns the reply.
func createKey(t *testing.T, base, bearer, label string) reply {
	t.Helper()
	return mustCall(t, "POST", base+"/api/account/tokens", jsonType, `{"label":"`+label+`"}`, "", bearer)
}

// keyUUID is the last segment of _links.self.href.
func keyUUID(t *testing.T, r reply) string {
	t.Helper()
	links, _ := r.body["_links"].(map[string]any)
	self, _ := links["self"].(map[string]any)
	href, _ := self["href"].(string)
	i := strings.LastIndex(href, "/account/tokens/")
	if i < 0 {
		t.Fatalf("no _links.self.href in %s", r.raw)
	}
	return href[i+len("/account/tokens/"):]
}

func keyForm(id, secret string) string {
	return form("grant_type", "client_credentials", "client_id", id, "client_secret", secret)
}

// A key is created, listed without its secret, works, is deleted, and
// then its secret is refused; a second delete is a conflict.
func TestCloudKeyLifecycle(t *testing.T) {
	e, base := start(t)
	demoTok := token(t, base, demoForm())

	r := createKey(t, base, demoTok, "vault rotation")
	id, _ := r.body["client_id"].(string)
	secret, _ := r.body["client_secret"].(string)
	if r.status != 201 || id == "" || secret == "" {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	uuid := keyUUID(t, r)
	if uuid == id || !strings.HasPrefix(r.body["_links"].(map[string]any)["self"].(map[string]any)["href"].(string), base+"/api/account/tokens/") {
		t.Fatalf("uuid %q, client_id %q: the uuid must be its own, from an absolute href", uuid, id)
	}
	if _, ok := r.body["uuid"]; ok {
		t.Error("the create answer names the uuid outside _links; clients must not come to rely on it")
	}
	if !strings.Contains(secret, "=") {
		t.Errorf("secret %q is not base64-shaped", secret)
	}

	// Its token works on the API, and it may manage keys of the same user.
	newTok := token(t, base, keyForm(id, secret))
	if got := mustCall(t, "GET", base+"/api/account", "", "", "", newTok); got.status != 200 {
		t.Fatalf("new key's token on /api/account: %d", got.status)
	}
	if a, b := mustCall(t, "GET", base+"/api/account", "", "", "", demoTok), mustCall(t, "GET", base+"/api/account", "", "", "", newTok); a.body["uuid"] != b.body["uuid"] {
		t.Error("the new key belongs to another user")
	}

	list := mustCall(t, "GET", base+"/api/account/tokens", "", "", "", newTok)
	if list.status != 200 || list.body["total"] != float64(2) {
		t.Fatalf("list: %d %s", list.status, list.raw)
	}
	if strings.Contains(list.raw, secret) || strings.Contains(list.raw, emulator.DemoCloudClientSecret) || strings.Contains(list.raw, "client_secret") {
		t.Error("the list shows a secret")
	}
	if !strings.Contains(list.raw, emulator.DemoCloudKeyUUID) || !strings.Contains(list.raw, uuid) || !strings.Contains(list.raw, `"label":"vault rotation"`) {
		t.Errorf("list misses a key: %s", list.raw)
	}
	if one := mustCall(t, "GET", base+"/api/account/tokens/"+uuid, "", "", "", demoTok); one.status != 200 || one.body["client_id"] != id {
		t.Errorf("get one: %d %s", one.status, one.raw)
	}

	// The new key deletes the old one.
	if d := mustCall(t, "DELETE", base+"/api/account/tokens/"+emulator.DemoCloudKeyUUID, "", "", "", newTok); d.status != 200 {
		t.Fatalf("delete: %d %s", d.status, d.raw)
	}
	if r := mustCall(t, "POST", base+"/api/token", formType, demoForm(), "", ""); r.status != 401 || r.body["error"] != "invalid_client" {
		t.Errorf("deleted key's secret: %d %s", r.status, r.raw)
	}
	if d := mustCall(t, "DELETE", base+"/api/account/tokens/"+emulator.DemoCloudKeyUUID, "", "", "", newTok); d.status != 409 {
		t.Errorf("second delete: %d %s, want 409", d.status, d.raw)
	}
	if d := mustCall(t, "DELETE", base+"/api/account/tokens/00000000-0000-4000-8000-000000000000", "", "", "", newTok); d.status != 404 || d.body["error"] != "not_found" {
		t.Errorf("unknown key: %d %s, want 404", d.status, d.raw)
	}
	// By default a deleted key's tokens live until they expire.
	if !e.TokenLive(demoTok) {
		t.Error("the deleted key's token died with the switch off")
	}
	keys := e.CloudKeys()
	if len(keys) != 1 || keys[0].ID != id || keys[0].KeyUUID != uuid || keys[0].Secret != secret {
		t.Errorf("CloudKeys after delete: %+v", keys)
	}
	if list := mustCall(t, "GET", base+"/api/account/tokens", "", "", "", newTok); list.body["total"] != float64(1) {
		t.Errorf("list after delete: %s", list.raw)
	}
}

func TestCloudKeyRequests(t *testing.T) {
	e, base := start(t)
	e.AddCloudClient(emulator.CloudClient{ID: "other", Secret: "other-secret"})
	demoTok := token(t, base, demoForm())
	otherTok := token(t, base, keyForm("other", "other-secret"))
	cases := []struct {
		name, method, path, contentType, body, bearer string
		status                                        int
		code                                          string
	}{
		{"create without a token", "POST", "/api/account/tokens", jsonType, `{"label":"x"}`, "", 401, "invalid_token"},
		{"create with a dead token", "POST", "/api/account/tokens", jsonType, `{"label":"x"}`, "nope", 401, "invalid_token"},
		{"create without a label", "POST", "/api/account/tokens", jsonType, `{}`, demoTok, 400, "validation_failed"},
		{"create with an empty label", "POST", "/api/account/tokens", jsonType, `{"label":""}`, demoTok, 400, "validation_failed"},
		{"create with a long label", "POST", "/api/account/tokens", jsonType, `{"label":"` + strings.Repeat("x", 256) + `"}`, demoTok, 400, "validation_failed"},
		{"create with a bad body", "POST", "/api/account/tokens", jsonType, `label=x`, demoTok, 400, "invalid_json"},
		{"put on the collection", "PUT", "/api/account/tokens", jsonType, `{}`, demoTok, 405, "method_not_allowed"},
		{"delete without a token", "DELETE", "/api/account/tokens/" + emulator.DemoCloudKeyUUID, "", "", "", 401, "invalid_token"},
		{"delete another user's key", "DELETE", "/api/account/tokens/" + emulator.DemoCloudKeyUUID, "", "", otherTok, 404, "not_found"},
		{"delete by client id", "DELETE", "/api/account/tokens/" + emulator.DemoCloudClientID, "", "", demoTok, 404, "not_found"},
		{"post on a key", "POST", "/api/account/tokens/" + emulator.DemoCloudKeyUUID, "", "", demoTok, 405, "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustCall(t, tc.method, base+tc.path, tc.contentType, tc.body, "", tc.bearer)
			if r.status != tc.status || r.body["error"] != tc.code {
				t.Errorf("%d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
		})
	}
	if n := len(e.CloudKeys()); n != 2 {
		t.Errorf("%d keys after refused requests, want 2", n)
	}
	// A federated key's token must name the organization here too.
	e.AddCloudClient(emulator.CloudClient{ID: "fed", Secret: "s", FederatedOrgs: []string{orgFed}})
	fedTok := token(t, base, keyForm("fed", "s"))
	if r := createKey(t, base, fedTok, "x"); r.status != 403 || r.body["error"] != "additional_authentication_required" {
		t.Errorf("federated key without scope: %d %s", r.status, r.raw)
	}
	scoped := token(t, base, form("grant_type", "client_credentials", "client_id", "fed", "client_secret", "s", "scope", "organization:"+orgFed))
	r := createKey(t, base, scoped, "x")
	if r.status != 201 {
		t.Fatalf("federated key with scope: %d %s", r.status, r.raw)
	}
	// The new key may request what its creator may.
	id, secret := r.body["client_id"].(string), r.body["client_secret"].(string)
	token(t, base, form("grant_type", "client_credentials", "client_id", id, "client_secret", secret, "scope", "organization:"+orgFed))
}

// With the switch on, a deleted key's tokens die at once.
func TestCloudRevokeOnKeyDelete(t *testing.T) {
	e, base := start(t)
	e.SetCloudRevokeOnKeyDelete(true)
	demoTok := token(t, base, demoForm())
	r := createKey(t, base, demoTok, "next")
	newTok := token(t, base, keyForm(r.body["client_id"].(string), r.body["client_secret"].(string)))
	if d := mustCall(t, "DELETE", base+"/api/account/tokens/"+emulator.DemoCloudKeyUUID, "", "", "", newTok); d.status != 200 {
		t.Fatalf("delete: %d", d.status)
	}
	if e.TokenLive(demoTok) {
		t.Error("the deleted key's token lives with the switch on")
	}
	if !e.TokenLive(newTok) {
		t.Error("the other key's token died")
	}
	// RemoveCloudClient follows the switch too.
	e.RemoveCloudClient(r.body["client_id"].(string))
	if e.TokenLive(newTok) {
		t.Error("RemoveCloudClient kept the key's token alive with the switch on")
	}
}

// A new key may refuse its first token requests, as one still
// propagating upstream might.
func TestCloudKeyPropagation(t *testing.T) {
	e, base := start(t)
	e.SetCloudKeyPropagation(2)
	r := createKey(t, base, token(t, base, demoForm()), "slow")
	body := keyForm(r.body["client_id"].(string), r.body["client_secret"].(string))
	for i := range 2 {
		if got := mustCall(t, "POST", base+"/api/token", formType, body, "", ""); got.status != 401 || got.body["error"] != "invalid_client" {
			t.Fatalf("request %d: %d %s, want invalid_client", i+1, got.status, got.raw)
		}
	}
	token(t, base, body)
	// Keys that existed before are not affected.
	token(t, base, demoForm())
}

func TestCloudKeyAdmin(t *testing.T) {
	e, base := start(t)
	if r := mustCall(t, "POST", base+"/_emulator/cloud/revoke-on-key-delete", jsonType, `{"on":true}`, "", ""); r.status != 204 {
		t.Fatalf("switch: %d %s", r.status, r.raw)
	}
	if r := mustCall(t, "POST", base+"/_emulator/cloud/key-propagation", jsonType, `{"refusals":-1}`, "", ""); r.status != 400 {
		t.Errorf("negative refusals: %d", r.status)
	}
	if r := mustCall(t, "POST", base+"/_emulator/cloud/key-propagation", jsonType, `{"refusals":1}`, "", ""); r.status != 204 {
		t.Errorf("refusals: %d", r.status)
	}
	if r := mustCall(t, "POST", base+"/_emulator/cloud/clients", jsonType, `{"id":"k","secret":"s","key_uuid":"nope"}`, "", ""); r.status != 400 {
		t.Errorf("bad key_uuid: %d", r.status)
	}
	const kuuid = "0f0e0d0c-0b0a-4908-8706-050403020100"
	if r := mustCall(t, "POST", base+"/_emulator/cloud/clients", jsonType, `{"id":"k","secret":"s","key_uuid":"`+kuuid+`"}`, "", ""); r.status != 204 {
		t.Fatalf("add: %d %s", r.status, r.raw)
	}
	tok := token(t, base, demoForm())
	createKey(t, base, tok, "new")
	mustCall(t, "DELETE", base+"/api/account/tokens/"+emulator.DemoCloudKeyUUID, "", "", "", tok)
	if e.TokenLive(tok) {
		t.Error("the admin switch did not take")
	}
	r := mustCall(t, "GET", base+"/_emulator/cloud/keys", "", "", "", "")
	if r.status != 200 || !strings.Contains(r.raw, kuuid) || !strings.Contains(r.raw, `"deleted":true`) || strings.Contains(r.raw, "secret") {
		t.Errorf("admin keys: %d %s", r.status, r.raw)
	}
}
