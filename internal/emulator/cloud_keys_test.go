package emulator_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

const jsonType = "application/json"

// createKey makes a key with the demo key's token and returns the reply.
func createKey(t *testing.T, base, bearer, label string) reply {
	t.Helper()
	return mustCall(t, "POST", base+"/api/account/tokens", jsonType, `{"label":"`+label+`"}`, "", bearer)
}

// keyUUID finds the uuid of the key labelled label in the list, as the
// create answer does not carry it.
func keyUUID(t *testing.T, base, bearer, label string) string {
	t.Helper()
	list := mustCall(t, "GET", base+"/api/account/tokens", "", "", "", bearer)
	emb, _ := list.body["_embedded"].(map[string]any)
	items, _ := emb["items"].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		if m["label"] == label {
			return m["uuid"].(string)
		}
	}
	t.Fatalf("no key labelled %q in %s", label, list.raw)
	return ""
}

// selfHref is the create answer's _links.self.href.
func selfHref(r reply) string {
	links, _ := r.body["_links"].(map[string]any)
	self, _ := links["self"].(map[string]any)
	href, _ := self["href"].(string)
	return href
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
	// As the spec shows it: the deprecated twins too, and a self link
	// naming the collection, so no uuid anywhere.
	if r.body["api_key"] != id || r.body["api_secret"] != secret || selfHref(r) != base+"/api/account/tokens" {
		t.Errorf("create answer %s, want api_key/api_secret and the collection as self", r.raw)
	}
	if _, ok := r.body["uuid"]; ok {
		t.Error("the create answer names a uuid; the spec's has none")
	}
	uuid := keyUUID(t, base, demoTok, "vault rotation")
	if uuid == id || strings.Contains(r.raw, uuid) {
		t.Fatalf("uuid %q, client_id %q: the uuid must be its own and absent from the create answer", uuid, id)
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
	if strings.Contains(list.raw, secret) || strings.Contains(list.raw, emulator.DemoCloudClientSecret) || strings.Contains(list.raw, "client_secret") ||
		strings.Contains(list.raw, id) || strings.Contains(list.raw, "client_id") {
		t.Error("the list shows a secret or a client id")
	}
	if !strings.Contains(list.raw, emulator.DemoCloudKeyUUID) || !strings.Contains(list.raw, uuid) || !strings.Contains(list.raw, `"label":"vault rotation"`) {
		t.Errorf("list misses a key: %s", list.raw)
	}
	if one := mustCall(t, "GET", base+"/api/account/tokens/"+uuid, "", "", "", demoTok); one.status != 200 || one.body["uuid"] != uuid ||
		one.body["label"] != "vault rotation" || one.body["active"] != true || strings.Contains(one.raw, id) {
		t.Errorf("get one: %d %s", one.status, one.raw)
	}
	if one := mustCall(t, "GET", base+"/api/account/tokens/"+id, "", "", "", demoTok); one.status != 404 || one.body["error"] != "not_found" {
		t.Errorf("get by client id: %d %s, want 404 (the uuid is its own)", one.status, one.raw)
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
	// The revoked key stays listed, inactive.
	if list := mustCall(t, "GET", base+"/api/account/tokens", "", "", "", newTok); list.body["total"] != float64(2) ||
		strings.Count(list.raw, `"active":false`) != 2 {
		t.Errorf("list after delete: %s", list.raw)
	}
	if one := mustCall(t, "GET", base+"/api/account/tokens/"+emulator.DemoCloudKeyUUID, "", "", "", newTok); one.status != 200 || one.body["active"] != false {
		t.Errorf("get a revoked key: %d %s", one.status, one.raw)
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
		{"create with a form without a label", "POST", "/api/account/tokens", formType, `name=x`, demoTok, 400, "validation_failed"},
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

// A form body works as JSON does.
func TestCloudKeyCreateForm(t *testing.T) {
	_, base := start(t)
	tok := token(t, base, demoForm())
	if r := mustCall(t, "POST", base+"/api/account/tokens", formType, "label=from+a+form", "", tok); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	keyUUID(t, base, tok, "from a form")
}

// Each reading the spec leaves open, by its switch.
func TestCloudKeyVariants(t *testing.T) {
	t.Run("self href names the key", func(t *testing.T) {
		e, base := start(t)
		e.SetCloudKeyVariants(emulator.CloudKeyVariants{SelfHrefItem: true})
		tok := token(t, base, demoForm())
		r := createKey(t, base, tok, "item")
		if uuid := keyUUID(t, base, tok, "item"); selfHref(r) != base+"/api/account/tokens/"+uuid {
			t.Errorf("self %q, want the key %s", selfHref(r), uuid)
		}
	})
	t.Run("uuid is the client id", func(t *testing.T) {
		e, base := start(t)
		e.SetCloudKeyVariants(emulator.CloudKeyVariants{UUIDIsClientID: true})
		tok := token(t, base, demoForm())
		r := createKey(t, base, tok, "same")
		id := r.body["client_id"].(string)
		if uuid := keyUUID(t, base, tok, "same"); uuid != id {
			t.Errorf("uuid %s, want the client id %s", uuid, id)
		}
		if one := mustCall(t, "GET", base+"/api/account/tokens/"+id, "", "", "", tok); one.status != 200 || one.body["label"] != "same" {
			t.Errorf("get by client id: %d %s", one.status, one.raw)
		}
	})
	t.Run("limit on keys", func(t *testing.T) {
		e, base := start(t)
		e.SetCloudKeyVariants(emulator.CloudKeyVariants{KeyLimit: 2})
		tok := token(t, base, demoForm())
		if r := createKey(t, base, tok, "second"); r.status != 201 {
			t.Fatalf("second key: %d %s", r.status, r.raw)
		}
		r := createKey(t, base, tok, "third")
		if r.status != 400 || r.body["error"] != "limit_exceeded" || r.body["message"] == nil {
			t.Errorf("third key: %d %s, want 400 limit_exceeded", r.status, r.raw)
		}
		if len(e.CloudKeys()) != 2 {
			t.Error("a refused create made a key")
		}
		mustCall(t, "DELETE", base+"/api/account/tokens/"+emulator.DemoCloudKeyUUID, "", "", "", tok)
		if r := createKey(t, base, tok, "third"); r.status != 201 {
			t.Errorf("after a delete: %d %s", r.status, r.raw)
		}
	})
	t.Run("deprecated names only", func(t *testing.T) {
		e, base := start(t)
		e.SetCloudKeyVariants(emulator.CloudKeyVariants{LegacyFieldsOnly: true})
		r := createKey(t, base, token(t, base, demoForm()), "legacy")
		if _, ok := r.body["client_id"]; ok || r.body["api_key"] == nil || r.body["api_secret"] == nil {
			t.Errorf("answer %s", r.raw)
		}
	})
	t.Run("admin", func(t *testing.T) {
		_, base := start(t)
		if r := mustCall(t, "POST", base+"/_emulator/cloud/key-variants", jsonType, `{"key_limit":-1}`, "", ""); r.status != 400 {
			t.Errorf("negative limit: %d", r.status)
		}
		if r := mustCall(t, "POST", base+"/_emulator/cloud/key-variants", jsonType, `{"uuid_is_client_id":true,"key_limit":3}`, "", ""); r.status != 204 {
			t.Fatalf("variants: %d %s", r.status, r.raw)
		}
		tok := token(t, base, demoForm())
		r := createKey(t, base, tok, "via admin")
		if keyUUID(t, base, tok, "via admin") != r.body["client_id"] {
			t.Error("the admin switch did not take")
		}
	})
}

// A lost answer still made its key; a late one is never read by a client
// that gave up, and the key exists all the same.
func TestCloudKeyCreateAnswerLost(t *testing.T) {
	e, base := start(t)
	tok := token(t, base, demoForm())
	e.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: "POST", Lose: true})
	req, _ := http.NewRequest("POST", base+"/api/account/tokens", strings.NewReader(`{"label":"lost"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", jsonType)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a lost answer arrived: %d", resp.StatusCode)
	}
	keyUUID(t, base, tok, "lost")

	e.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: "POST", Late: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "POST", base+"/api/account/tokens", strings.NewReader(`{"label":"late"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", jsonType)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a late answer arrived in time: %d", resp.StatusCode)
	}
	keyUUID(t, base, tok, "late")

	e.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: "POST", Late: 10 * time.Millisecond})
	if r := createKey(t, base, tok, "slow"); r.status != 201 {
		t.Errorf("a late answer waited for: %d %s", r.status, r.raw)
	}
}

func TestFaultAdminLoseAndLate(t *testing.T) {
	e, base := start(t)
	if r := mustCall(t, "POST", base+"/_emulator/faults", jsonType, `{"path_prefix":"/api/account/tokens","late_ms":-1}`, "", ""); r.status != 400 {
		t.Errorf("negative late_ms: %d", r.status)
	}
	if r := mustCall(t, "POST", base+"/_emulator/faults", jsonType, `{"path_prefix":"/api/account/tokens","method":"POST","lose":true}`, "", ""); r.status != 204 {
		t.Fatalf("lose: %d %s", r.status, r.raw)
	}
	tok := token(t, base, demoForm())
	if _, err := call(t, context.Background(), "POST", base+"/api/account/tokens", jsonType, `{"label":"x"}`, "", tok); err == nil {
		t.Error("the answer arrived")
	}
	if len(e.CloudKeys()) != 2 {
		t.Error("the lost create made no key")
	}
}

// A 5xx after the work, and work done after the client gave up: the key
// exists either way.
func TestFaultHandledAndHandleAfter(t *testing.T) {
	e, base := start(t)
	tok := token(t, base, demoForm())
	if r := mustCall(t, "POST", base+"/_emulator/faults", jsonType, `{"path_prefix":"/api/account/tokens","method":"POST","status":504,"handled":true}`, "", ""); r.status != 204 {
		t.Fatalf("handled: %d %s", r.status, r.raw)
	}
	if r := createKey(t, base, tok, "gateway"); r.status != 504 {
		t.Errorf("answer %d, want the fault's 504", r.status)
	}
	keyUUID(t, base, tok, "gateway")

	e.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: "POST", HandleAfter: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := call(t, ctx, "POST", base+"/api/account/tokens", jsonType, `{"label":"after"}`, "", tok); err == nil {
		t.Fatal("an answer arrived before the work was done")
	}
	if n := len(e.CloudKeys()); n != 2 {
		t.Fatalf("%d keys before the work, want 2", n)
	}
	time.Sleep(600 * time.Millisecond)
	keyUUID(t, base, tok, "after")

	e.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: "POST", HandleAfter: 10 * time.Millisecond})
	if r := createKey(t, base, tok, "waited"); r.status != 201 {
		t.Errorf("a client that waits gets %d", r.status)
	}
}
