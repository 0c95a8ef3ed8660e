package backend_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// keyReading is one reading of the Cloud key API that its spec leaves
// open, and the key the config starts from under it.
type keyReading struct {
	name string
	v    emulator.CloudKeyVariants
}

var keyReadings = []keyReading{
	{"spec: own uuid, self names the collection", emulator.CloudKeyVariants{}},
	{"own uuid, self names the key", emulator.CloudKeyVariants{SelfHrefItem: true}},
	{"uuid is the client id", emulator.CloudKeyVariants{UUIDIsClientID: true}},
	{"uuid is the client id, self names the key", emulator.CloudKeyVariants{UUIDIsClientID: true, SelfHrefItem: true}},
	{"deprecated field names only", emulator.CloudKeyVariants{LegacyFieldsOnly: true}},
}

// readingKey is the uuid-shaped key a config starts from under the
// uuid = client id reading.
const readingKey = "3f2e1d0c-9b8a-4776-8554-433221100fed"

// keyConfig sets the emulator to reading r and writes config name with a
// key of that reading and its key_uuid; it returns the key's client id
// and secret. The harness's own key is removed, so every live key
// upstream is this user's.
func (h *harness) keyConfig(name string, r keyReading) (string, string) {
	h.t.Helper()
	h.emu.SetCloudKeyVariants(r.v)
	id, uuid := cloudID, ""
	if r.v.UUIDIsClientID {
		old, _ := h.cloudKey(cloudID)
		h.emu.RemoveCloudClient(cloudID)
		id, uuid = readingKey, readingKey
		h.emu.AddCloudClient(emulator.CloudClient{ID: id, Secret: cloudSecret, KeyUUID: uuid, Orgs: old.Orgs, FederatedOrgs: old.FederatedOrgs})
	}
	k, _ := h.cloudKey(id)
	h.cloudConfig(name, map[string]any{"client_id": id, "key_uuid": k.KeyUUID, "scopes": "organization:" + fedOrgUUID})
	return id, cloudSecret
}

// oneLiveKey checks the account holds exactly the config's key, which
// fetches tokens, and that every earlier secret is refused.
func (h *harness) oneLiveKey(config string, earlier map[string]string) {
	h.t.Helper()
	keys := h.emu.CloudKeys()
	id, _ := h.mustRead("config/" + config).Data["client_id"].(string)
	if len(keys) != 1 || keys[0].ID != id {
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		h.t.Fatalf("live keys %v, want only the config's %s", ids, id)
	}
	h.secrets = append(h.secrets, keys[0].Secret)
	if st := h.tokenStatus(id, keys[0].Secret); st != http.StatusOK {
		h.t.Errorf("the config's key gets %d", st)
	}
	for oldID, secret := range earlier {
		if oldID == id {
			continue
		}
		if st := h.tokenStatus(oldID, secret); st != http.StatusUnauthorized {
			h.t.Errorf("an earlier secret (client_id %s) gets %d, want 401", oldID, st)
		}
	}
	if h.wals() != 0 {
		h.t.Errorf("%d WAL entries left", h.wals())
	}
}

// Under every reading, N rotations leave exactly one live key, the old
// secrets are refused and creds mint with the new key.
func TestRotateRootUnderEachReading(t *testing.T) {
	for _, r := range keyReadings {
		t.Run(r.name, func(t *testing.T) {
			h := newHarness(t)
			id, secret := h.keyConfig("c", r)
			h.mustWrite("roles/r", map[string]any{"config": "c"})
			earlier := map[string]string{id: secret}
			for i := range 3 {
				resp, err := h.rotate("c")
				if err != nil || resp.IsError() {
					t.Fatalf("rotation %d: err=%v resp=%v", i+1, err, errText(resp))
				}
				if len(resp.Warnings) != 0 {
					t.Errorf("rotation %d warned %v", i+1, resp.Warnings)
				}
				newID := resp.Data["client_id"].(string)
				k, ok := h.cloudKey(newID)
				if !ok || resp.Data["key_uuid"] != k.KeyUUID || (k.KeyUUID == newID) != r.v.UUIDIsClientID {
					t.Fatalf("rotation %d answered %v; upstream key %+v", i+1, resp.Data, k.KeyUUID)
				}
				if !strings.HasPrefix(k.Label, "vault ") || !strings.Contains(k.Label, " c ") {
					t.Errorf("label %q does not name the mount and config", k.Label)
				}
				h.oneLiveKey("c", earlier)
				earlier[newID] = k.Secret
				if got, _ := h.emu.Token(h.mustRead("creds/r").Data["access_token"].(string)); got.ClientID != newID {
					t.Errorf("creds minted by %s, want %s", got.ClientID, newID)
				}
			}
		})
	}
}

// The key limit the spec does not document: a refused create leaves the
// config and the account as they were; at the limit minus one, rotations
// go on, since each deletes the key it replaces.
func TestRotateRootKeyLimit(t *testing.T) {
	h := newHarness(t)
	h.keyConfig("c", keyReadings[0])
	h.emu.SetCloudKeyVariants(emulator.CloudKeyVariants{KeyLimit: 1})
	_, err := h.rotate("c")
	if err == nil || !strings.Contains(err.Error(), "limit_exceeded") || !strings.Contains(err.Error(), "config is unchanged") {
		t.Fatalf("err %v, want the upstream refusal", err)
	}
	if h.mustRead("config/c").Data["client_id"] != cloudID {
		t.Error("a refused rotation changed the config")
	}
	h.oneLiveKey("c", nil)
	h.emu.SetCloudKeyVariants(emulator.CloudKeyVariants{KeyLimit: 2})
	for i := range 3 {
		if resp, err := h.rotate("c"); err != nil || resp.IsError() {
			t.Fatalf("rotation %d at the limit: %v %v", i+1, err, errText(resp))
		}
	}
	h.oneLiveKey("c", map[string]string{cloudID: cloudSecret})
}

// key_uuid is bound to the secret like a destination: a writer who does
// not know the secret cannot point rotate at another key.
func TestRotateRootKeyUUIDNeedsTheSecret(t *testing.T) {
	h := newHarness(t)
	uuid := h.rotatableConfig("c", nil)
	const other = "0d0c0b0a-0908-4706-8504-030201000f0e"
	msg, ok := badRequest(h.write("config/c", map[string]any{"key_uuid": other}))
	if !ok || !strings.HasPrefix(msg, "client_secret: required when key_uuid changes") {
		t.Errorf("got %q, want a 400 naming client_secret", msg)
	}
	if h.mustRead("config/c").Data["key_uuid"] != uuid {
		t.Error("the refused write changed key_uuid")
	}
	// The same value, or other fields, need no secret.
	h.mustWrite("config/c", map[string]any{"key_uuid": uuid, "request_timeout": "20s"})
	h.mustWrite("config/c", map[string]any{"key_uuid": other, "client_secret": cloudSecret})
	if h.mustRead("config/c").Data["key_uuid"] != other {
		t.Error("key_uuid written with the secret was not stored")
	}
	// A new key written by hand without its uuid forgets the old key's.
	h.emu.AddCloudClient(emulator.CloudClient{ID: "by-hand", Secret: "by+hand=", Orgs: []string{orgUUID, fedOrgUUID}, FederatedOrgs: []string{fedOrgUUID}})
	h.secrets = append(h.secrets, "by+hand=")
	h.mustWrite("config/c", map[string]any{"client_id": "by-hand", "client_secret": "by+hand="})
	if got := h.mustRead("config/c").Data["key_uuid"]; got != "" {
		t.Errorf("key_uuid %v after a new client_id without one, want it cleared", got)
	}
}

// Where a key's uuid is its client id, rotate deletes the key the API
// shows is the config's, never another key key_uuid names.
func TestRotateRootChecksTheKeyItDeletes(t *testing.T) {
	h := newHarness(t)
	id, secret := h.keyConfig("c", keyReadings[2])
	ci := h.sameUserKey(id, secret)
	h.mustWrite("config/c", map[string]any{"key_uuid": ci, "client_secret": secret})
	resp, err := h.rotate("c")
	if err != nil || resp.IsError() {
		t.Fatalf("err=%v resp=%v", err, errText(resp))
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], ci) {
		t.Errorf("warnings %v, want one naming the key_uuid left alone", resp.Warnings)
	}
	if _, ok := h.cloudKey(ci); !ok {
		t.Error("the key key_uuid named, which is not the config's, was deleted")
	}
	if _, ok := h.cloudKey(id); ok {
		t.Error("the config's previous key is alive")
	}
	// Without key_uuid the API finds the config's key by its client id.
	h.mustWrite("config/c", map[string]any{"key_uuid": "", "client_secret": h.newestSecret()})
	if resp, err := h.rotate("c"); err != nil || resp.IsError() || len(resp.Warnings) != 0 {
		t.Fatalf("rotate without key_uuid: err=%v resp=%v", err, errText(resp))
	}
	if n := len(h.emu.CloudKeys()); n != 2 {
		t.Errorf("%d live keys, want the config's and the CI key", n)
	}
}

// sameUserKey creates, through the key API with key id, another key of
// the same user (a CI pipeline's), and returns its uuid.
func (h *harness) sameUserKey(id, secret string) string {
	h.t.Helper()
	tok := h.bearer(id, secret, "organization:"+fedOrgUUID)
	req, _ := http.NewRequest(http.MethodPost, h.emu.URL()+"/api/account/tokens", strings.NewReader(`{"label":"ci pipeline"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("creating the CI key: %v %v", err, resp)
	}
	var out struct {
		ClientID string `json:"client_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	k, ok := h.cloudKey(out.ClientID)
	if !ok {
		h.t.Fatal("the CI key is not live")
	}
	return k.KeyUUID
}

// newestSecret is the secret of the config c's key.
func (h *harness) newestSecret() string {
	h.t.Helper()
	k, _ := h.cloudKey(h.mustRead("config/c").Data["client_id"].(string))
	return k.Secret
}

// crash stops a rotation at step, as a killed process would: nothing after
// it runs, and what was stored stays.
type crash struct{ step string }

func (h *harness) rotateCrashingAt(name, step string) {
	h.t.Helper()
	h.b.Env().RotateRootStep = func(s string) {
		if s == step {
			panic(crash{step})
		}
	}
	defer func() {
		h.b.Env().RotateRootStep = nil
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
		}
	}()
	resp, err := h.rotate(name)
	h.t.Fatalf("the rotation did not reach step %q: err=%v resp=%v", step, err, errText(resp))
}

// restart builds a new backend on the same storage, as a restarted Vault
// does; the emulator and the clock stay.
func (h *harness) restart() {
	h.t.Helper()
	h.b = h.newNode()
}

func (h *harness) rollback() {
	h.t.Helper()
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.RollbackOperation,
		Storage: h.storage, Data: map[string]any{"immediate": true}})
	if err != nil || (resp != nil && resp.IsError()) {
		h.t.Fatal(err, errText(resp))
	}
}

var rotationSteps = []string{"wal", "created", "found", "verified", "stored", "old deleted"}

// A crash at each step of a rotation leaves no stray key: after a restart,
// either Vault's rollback or the next rotate finishes it, and a rotation
// then leaves one live key with every earlier secret refused.
func TestRotateRootCrashAtEachStep(t *testing.T) {
	for _, r := range []keyReading{keyReadings[0], keyReadings[2]} {
		for _, step := range rotationSteps {
			for _, by := range []string{"rollback", "next rotate"} {
				t.Run(fmt.Sprintf("%s/%s/%s", r.name, step, by), func(t *testing.T) {
					h := newHarness(t)
					id, secret := h.keyConfig("c", r)
					h.mustWrite("roles/r", map[string]any{"config": "c"})
					h.rotateCrashingAt("c", step)
					for _, k := range h.emu.CloudKeys() {
						h.secrets = append(h.secrets, k.Secret)
					}
					h.restart()
					if step == "wal" {
						// Nothing with the label upstream does not yet prove
						// that the create will not land.
						if _, err := h.rotate("c"); err == nil || !strings.Contains(err.Error(), "may still land") {
							t.Fatalf("rotate right after the crash: %v, want a refusal while the create may land", err)
						}
					}
					// Vault's rollback acts on entries ten minutes old.
					h.clock.Advance(10 * time.Minute)
					if by == "rollback" {
						h.rollback()
						if n := len(h.emu.CloudKeys()); n != 1 {
							t.Fatalf("%d live keys after the rollback, want 1", n)
						}
						if h.wals() != 0 {
							t.Fatalf("%d WAL entries after the rollback", h.wals())
						}
						h.mustRead("creds/r")
					}
					resp, err := h.rotate("c")
					if err != nil || resp.IsError() {
						t.Fatalf("rotate after the crash: err=%v resp=%v", err, errText(resp))
					}
					earlier := map[string]string{id: secret}
					for _, k := range h.emu.CloudKeys() {
						earlier[k.ID] = k.Secret
					}
					h.oneLiveKey("c", earlier)
					h.mustRead("creds/r")
				})
			}
		}
	}
}

// A storage write that fails at each step: the rotation fails or warns,
// and no key is left that nothing tracks.
func TestRotateRootStorageFailures(t *testing.T) {
	for _, tc := range []struct {
		name, prefix, op string
		n                int
		rotated          bool
	}{
		{"WAL entry", "wal/", "put", 1, false},
		{"WAL entry rewrite", "wal/", "put", 2, false},
		{"config", "config/", "put", 1, false},
		{"WAL delete", "wal/", "delete", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.rotatableConfig("c", nil)
			good := h.storage
			h.storage = &flakyStorage{Storage: good, prefix: tc.prefix, op: tc.op, n: tc.n}
			resp, err := h.rotate("c")
			h.storage = good
			if rotated := err == nil && !resp.IsError(); rotated != tc.rotated {
				t.Fatalf("rotated %v, want %v: err=%v resp=%v", rotated, tc.rotated, err, errText(resp))
			}
			if err != nil && strings.Contains(err.Error(), cloudSecret) {
				t.Error("the error holds the secret")
			}
			for _, k := range h.emu.CloudKeys() {
				h.secrets = append(h.secrets, k.Secret)
			}
			if n := len(h.emu.CloudKeys()); n != 1 {
				t.Errorf("%d live keys, want 1", n)
			}
			if !tc.rotated && h.mustRead("config/c").Data["client_id"] != cloudID {
				t.Error("a failed rotation changed the config")
			}
			h.rollback()
			if resp, err := h.rotate("c"); err != nil || resp.IsError() {
				t.Fatalf("the next rotate: err=%v resp=%v", err, errText(resp))
			}
			h.oneLiveKey("c", map[string]string{cloudID: cloudSecret})
		})
	}
}

// A create whose answer is lost made a key all the same: it is found by
// its label and deleted, at once or, when the API fails too, by the
// rollback; a retry never makes a second key meanwhile.
func TestRotateRootCreateAnswerLost(t *testing.T) {
	h := newHarness(t)
	h.rotatableConfig("c", nil)
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodPost, Lose: true})
	_, err := h.rotate("c")
	if err == nil || !strings.Contains(err.Error(), "no new API key is left") {
		t.Fatalf("err %v, want the lost answer and the key deleted", err)
	}
	h.oneLiveKey("c", nil)

	// Lost again, and the list fails for a while: the entry stays.
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodPost, Lose: true})
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodGet, Status: http.StatusForbidden})
	_, err = h.rotate("c")
	if err == nil || !strings.Contains(err.Error(), "could not be deleted yet") {
		t.Fatalf("err %v, want the key left to the rollback", err)
	}
	if n, w := len(h.emu.CloudKeys()), h.wals(); n != 2 || w != 1 {
		t.Fatalf("%d keys and %d WAL entries, want the stray key and its entry", n, w)
	}
	for _, k := range h.emu.CloudKeys() {
		h.secrets = append(h.secrets, k.Secret)
	}
	// A retry while the API still refuses creates nothing.
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodGet, Status: http.StatusForbidden})
	creates := h.emu.Requests("/api/account/tokens")
	_, err = h.rotate("c")
	if err == nil || !strings.Contains(err.Error(), "not finished") || len(h.emu.CloudKeys()) != 2 {
		t.Fatalf("err %v with %d keys, want a refusal to start another", err, len(h.emu.CloudKeys()))
	}
	if got := h.emu.Requests("/api/account/tokens") - creates; got != 1 {
		t.Errorf("%d key API calls, want the one list", got)
	}
	h.rollback()
	h.oneLiveKey("c", nil)
}

// The old key's delete fails: the new key is in use, and the entry stays
// until the old key is confirmed gone, by the rollback or the next rotate.
func TestRotateRootOldKeyDeletedLater(t *testing.T) {
	for _, by := range []string{"rollback", "next rotate"} {
		t.Run(by, func(t *testing.T) {
			h := newHarness(t)
			h.rotatableConfig("c", nil)
			h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens/", Method: http.MethodDelete, Status: http.StatusServiceUnavailable, Times: 10})
			resp, err := h.rotate("c")
			if err != nil || resp.IsError() || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "rollback") {
				t.Fatalf("err=%v resp=%v warnings=%v", err, errText(resp), resp.Warnings)
			}
			h.emu.ClearFaults()
			if h.wals() != 1 {
				t.Fatalf("%d WAL entries, want the rotation's", h.wals())
			}
			for _, k := range h.emu.CloudKeys() {
				h.secrets = append(h.secrets, k.Secret)
			}
			if by == "rollback" {
				h.rollback()
			} else if resp, err := h.rotate("c"); err != nil || resp.IsError() {
				t.Fatalf("next rotate: %v %v", err, errText(resp))
			}
			h.oneLiveKey("c", map[string]string{cloudID: cloudSecret})
		})
	}
}

// A config whose rotation stopped half way finishes it before it is
// deleted, or is not deleted.
func TestConfigDeleteFinishesARotation(t *testing.T) {
	h := newHarness(t)
	h.rotatableConfig("c", nil)
	h.rotateCrashingAt("c", "found")
	for _, k := range h.emu.CloudKeys() {
		h.secrets = append(h.secrets, k.Secret)
	}
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens/", Method: http.MethodDelete, Status: http.StatusForbidden})
	if _, err := h.do(logical.DeleteOperation, "config/c", nil); err == nil || !strings.Contains(err.Error(), "not finished") {
		t.Fatalf("err %v, want the delete refused while the new key cannot be deleted", err)
	}
	if !h.stored("config/c") || len(h.emu.CloudKeys()) != 2 {
		t.Fatal("the refused delete changed something")
	}
	if resp, err := h.do(logical.DeleteOperation, "config/c", nil); err != nil || resp.IsError() {
		t.Fatalf("delete: %v %v", err, errText(resp))
	}
	if keys := h.emu.CloudKeys(); len(keys) != 1 || keys[0].ID != cloudID || h.wals() != 0 {
		t.Errorf("%d live keys and %d WAL entries after the delete, want the config's last key only", len(keys), h.wals())
	}
}

// A gateway's 5xx after the create did its work: the key is found by its
// label and deleted, never taken for a refusal.
func TestRotateRootCreate5xxAfterTheWork(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			h := newHarness(t)
			h.rotatableConfig("c", nil)
			h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodPost, Status: status, Handled: true})
			_, err := h.rotate("c")
			if err == nil || !strings.Contains(err.Error(), "no new API key is left") {
				t.Fatalf("err %v, want the key found and deleted", err)
			}
			h.oneLiveKey("c", nil)
		})
	}
}

// A 503 after the work, retried: two keys carry the label, and both go.
func TestRotateRootCreateRetriedAfterTheWork(t *testing.T) {
	h := newHarness(t)
	h.rotatableConfig("c", nil)
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodPost, Status: http.StatusServiceUnavailable, Handled: true})
	resp, err := h.rotate("c")
	for _, k := range h.emu.CloudKeys() {
		h.secrets = append(h.secrets, k.Secret)
	}
	if err != nil || resp.IsError() {
		// Under the spec's reading two live keys with the label cannot
		// be told apart: both are deleted.
		if !strings.Contains(err.Error(), "two live API keys") {
			t.Fatalf("err %v", err)
		}
		h.oneLiveKey("c", nil)
	} else {
		h.oneLiveKey("c", map[string]string{cloudID: cloudSecret})
	}
	if resp, err := h.rotate("c"); err != nil || resp.IsError() {
		t.Fatalf("the next rotate: %v %v", err, errText(resp))
	}
	h.oneLiveKey("c", map[string]string{cloudID: cloudSecret})
}

// A create the upstream carries out after the plugin gave up on it: the
// entry stays until the key appears or the create can no longer land, and
// the rollback then deletes the key.
func TestRotateRootCreateLandsLate(t *testing.T) {
	h := newHarness(t)
	h.rotatableConfig("c", map[string]any{"request_timeout": "1s"})
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodPost, HandleAfter: 1500 * time.Millisecond})
	_, err := h.rotate("c")
	if err == nil || !strings.Contains(err.Error(), "may still land") || h.wals() != 1 {
		t.Fatalf("err %v with %d WAL entries, want the entry kept while the create may land", err, h.wals())
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(h.emu.CloudKeys()) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the late create never landed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, k := range h.emu.CloudKeys() {
		h.secrets = append(h.secrets, k.Secret)
	}
	h.rollback()
	h.oneLiveKey("c", nil)
}

// Vault's rollback read an entry before a rotation rewrote it, and runs
// it after the rotation stored the new key and failed to delete the old
// one: the entry is read again, and the old key goes.
func TestRotateRootStaleRollbackEntry(t *testing.T) {
	h := newHarness(t)
	h.rotatableConfig("c", nil)
	var id string
	var stale any
	h.b.Env().RotateRootStep = func(step string) {
		if step == "wal" {
			ids, _ := framework.ListWAL(context.Background(), h.storage)
			id = ids[0]
			e, _ := framework.GetWAL(context.Background(), h.storage, id)
			stale = e.Data
		}
	}
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens/", Method: http.MethodDelete, Status: http.StatusServiceUnavailable, Times: 10})
	if resp, err := h.rotate("c"); err != nil || len(resp.Warnings) != 1 {
		t.Fatalf("rotate: %v %v", err, resp)
	}
	h.b.Env().RotateRootStep = nil
	h.emu.ClearFaults()
	for _, k := range h.emu.CloudKeys() {
		h.secrets = append(h.secrets, k.Secret)
	}
	if err := h.b.Env().WALRollback(context.Background(), &logical.Request{Storage: h.storage}, "api_key", stale); err != nil {
		t.Fatal(err)
	}
	if err := framework.DeleteWAL(context.Background(), h.storage, id); err != nil {
		t.Fatal(err)
	}
	h.oneLiveKey("c", map[string]string{cloudID: cloudSecret})
}

// key_uuid written with a wrong secret does not survive the owner's fix
// of the secret: rotate then asks for key_uuid instead of deleting the
// key a writer without the secret named.
func TestRotateRootKeyUUIDClearedWithANewSecret(t *testing.T) {
	h := newHarness(t)
	h.rotatableConfig("c", nil)
	ci := h.sameUserKey(cloudID, cloudSecret)
	h.secrets = append(h.secrets, "not-the-secret")
	h.mustWrite("config/c", map[string]any{"key_uuid": ci, "client_secret": "not-the-secret", "verify": false})
	resp := h.mustWrite("config/c", map[string]any{"client_secret": cloudSecret})
	if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "key_uuid was cleared") {
		t.Errorf("warnings %v, want key_uuid cleared", resp.Warnings)
	}
	if msg, ok := badRequest(h.rotate("c")); !ok || !strings.HasPrefix(msg, "key_uuid: ") {
		t.Fatalf("rotate: %q, want a 400 naming key_uuid", msg)
	}
	if len(h.emu.CloudKeys()) != 2 {
		t.Error("a key was created or deleted")
	}
	// Rewriting the same secret keeps key_uuid.
	own, _ := h.cloudKey(cloudID)
	h.mustWrite("config/c", map[string]any{"key_uuid": own.KeyUUID, "client_secret": cloudSecret})
	if resp := h.mustWrite("config/c", map[string]any{"client_secret": cloudSecret}); resp != nil && len(resp.Warnings) != 0 ||
		h.mustRead("config/c").Data["key_uuid"] != own.KeyUUID {
		t.Errorf("the same secret cleared key_uuid: %v", resp.Warnings)
	}
}
