package backend_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

var keyReadings = []plugintest.KeyReading{
	{Name: "spec: own uuid, self names the collection", V: emulator.CloudKeyVariants{}},
	{Name: "own uuid, self names the key", V: emulator.CloudKeyVariants{SelfHrefItem: true}},
	{Name: "uuid is the client id", V: emulator.CloudKeyVariants{UUIDIsClientID: true}},
	{Name: "uuid is the client id, self names the key", V: emulator.CloudKeyVariants{UUIDIsClientID: true, SelfHrefItem: true}},
	{Name: "deprecated field names only", V: emulator.CloudKeyVariants{LegacyFieldsOnly: true}},
}

// Under every reading, N rotations leave exactly one live key, the old
// secrets are refused and creds mint with the new key.
func TestRotateRootUnderEachReading(t *testing.T) {
	for _, r := range keyReadings {
		t.Run(r.Name, func(t *testing.T) {
			h := plugintest.New(t)
			id, secret := h.KeyConfig("c", r)
			h.MustWrite("roles/r", map[string]any{"config": "c"})
			earlier := map[string]string{id: secret}
			for i := range 3 {
				resp, err := h.Rotate("c")
				if err != nil || resp.IsError() {
					t.Fatalf("rotation %d: err=%v resp=%v", i+1, err, plugintest.ErrText(resp))
				}
				if len(resp.Warnings) != 0 {
					t.Errorf("rotation %d warned %v", i+1, resp.Warnings)
				}
				newID := resp.Data["client_id"].(string)
				k, ok := h.CloudKey(newID)
				if !ok || resp.Data["key_uuid"] != k.KeyUUID || (k.KeyUUID == newID) != r.V.UUIDIsClientID {
					t.Fatalf("rotation %d answered %v; upstream key %+v", i+1, resp.Data, k.KeyUUID)
				}
				if !strings.HasPrefix(k.Label, "vault ") || !strings.Contains(k.Label, " c ") {
					t.Errorf("label %q does not name the mount and config", k.Label)
				}
				h.OneLiveKey("c", earlier)
				earlier[newID] = k.Secret
				if got, _ := h.Emu.Token(h.MustRead("creds/r").Data["access_token"].(string)); got.ClientID != newID {
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
	h := plugintest.New(t)
	h.KeyConfig("c", keyReadings[0])
	h.Emu.SetCloudKeyVariants(emulator.CloudKeyVariants{KeyLimit: 1})
	_, err := h.Rotate("c")
	if err == nil || !strings.Contains(err.Error(), "limit_exceeded") || !strings.Contains(err.Error(), "config is unchanged") {
		t.Fatalf("err %v, want the upstream refusal", err)
	}
	if h.MustRead("config/c").Data["client_id"] != plugintest.CloudID {
		t.Error("a refused rotation changed the config")
	}
	h.OneLiveKey("c", nil)
	h.Emu.SetCloudKeyVariants(emulator.CloudKeyVariants{KeyLimit: 2})
	for i := range 3 {
		if resp, err := h.Rotate("c"); err != nil || resp.IsError() {
			t.Fatalf("rotation %d at the limit: %v %v", i+1, err, plugintest.ErrText(resp))
		}
	}
	h.OneLiveKey("c", map[string]string{plugintest.CloudID: plugintest.CloudSecret})
}

// key_uuid is bound to the secret like a destination: a writer who does
// not know the secret cannot point rotate at another key.
func TestRotateRootKeyUUIDNeedsTheSecret(t *testing.T) {
	h := plugintest.New(t)
	uuid := h.RotatableConfig("c", nil)
	const other = "0d0c0b0a-0908-4706-8504-030201000f0e"
	msg, ok := plugintest.BadRequest(h.Write("config/c", map[string]any{"key_uuid": other}))
	if !ok || !strings.HasPrefix(msg, "client_secret: required when key_uuid changes") {
		t.Errorf("got %q, want a 400 naming client_secret", msg)
	}
	if h.MustRead("config/c").Data["key_uuid"] != uuid {
		t.Error("the refused write changed key_uuid")
	}
	// The same value, or other fields, need no secret.
	h.MustWrite("config/c", map[string]any{"key_uuid": uuid, "request_timeout": "20s"})
	h.MustWrite("config/c", map[string]any{"key_uuid": other, "client_secret": plugintest.CloudSecret})
	if h.MustRead("config/c").Data["key_uuid"] != other {
		t.Error("key_uuid written with the secret was not stored")
	}
	// A new key written by hand without its uuid forgets the old key's.
	h.Emu.AddCloudClient(emulator.CloudClient{ID: "by-hand", Secret: "by+hand=", Orgs: []string{plugintest.OrgUUID, plugintest.FedOrgUUID}, FederatedOrgs: []string{plugintest.FedOrgUUID}})
	h.Secrets = append(h.Secrets, "by+hand=")
	h.MustWrite("config/c", map[string]any{"client_id": "by-hand", "client_secret": "by+hand="})
	if got := h.MustRead("config/c").Data["key_uuid"]; got != "" {
		t.Errorf("key_uuid %v after a new client_id without one, want it cleared", got)
	}
}

// Where a key's uuid is its client id, rotate deletes the key the API
// shows is the config's, never another key key_uuid names.
func TestRotateRootChecksTheKeyItDeletes(t *testing.T) {
	h := plugintest.New(t)
	id, secret := h.KeyConfig("c", keyReadings[2])
	ci := h.SameUserKey(id, secret)
	h.MustWrite("config/c", map[string]any{"key_uuid": ci, "client_secret": secret})
	resp, err := h.Rotate("c")
	if err != nil || resp.IsError() {
		t.Fatalf("err=%v resp=%v", err, plugintest.ErrText(resp))
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], ci) {
		t.Errorf("warnings %v, want one naming the key_uuid left alone", resp.Warnings)
	}
	if _, ok := h.CloudKey(ci); !ok {
		t.Error("the key key_uuid named, which is not the config's, was deleted")
	}
	if _, ok := h.CloudKey(id); ok {
		t.Error("the config's previous key is alive")
	}
	// Without key_uuid the API finds the config's key by its client id.
	h.MustWrite("config/c", map[string]any{"key_uuid": "", "client_secret": h.NewestSecret()})
	if resp, err := h.Rotate("c"); err != nil || resp.IsError() || len(resp.Warnings) != 0 {
		t.Fatalf("rotate without key_uuid: err=%v resp=%v", err, plugintest.ErrText(resp))
	}
	if n := len(h.Emu.CloudKeys()); n != 2 {
		t.Errorf("%d live keys, want the config's and the CI key", n)
	}
}

var rotationSteps = []string{"wal", "created", "found", "verified", "stored", "old deleted"}

// A crash at each step of a rotation leaves no stray key: after a restart,
// either Vault's rollback or the next rotate finishes it, and a rotation
// then leaves one live key with every earlier secret refused.
func TestRotateRootCrashAtEachStep(t *testing.T) {
	for _, r := range []plugintest.KeyReading{keyReadings[0], keyReadings[2]} {
		for _, step := range rotationSteps {
			for _, by := range []string{"rollback", "next rotate"} {
				t.Run(fmt.Sprintf("%s/%s/%s", r.Name, step, by), func(t *testing.T) {
					h := plugintest.New(t)
					id, secret := h.KeyConfig("c", r)
					h.MustWrite("roles/r", map[string]any{"config": "c"})
					h.RotateCrashingAt("c", step)
					for _, k := range h.Emu.CloudKeys() {
						h.Secrets = append(h.Secrets, k.Secret)
					}
					h.Restart()
					if step == "wal" {
						// Nothing with the label upstream does not yet prove
						// that the create will not land.
						if _, err := h.Rotate("c"); err == nil || !strings.Contains(err.Error(), "may still land") {
							t.Fatalf("rotate right after the crash: %v, want a refusal while the create may land", err)
						}
					}
					// Vault's rollback acts on entries ten minutes old.
					h.Clock.Advance(10 * time.Minute)
					if by == "rollback" {
						h.Rollback()
						if n := len(h.Emu.CloudKeys()); n != 1 {
							t.Fatalf("%d live keys after the rollback, want 1", n)
						}
						if h.Wals() != 0 {
							t.Fatalf("%d WAL entries after the rollback", h.Wals())
						}
						h.MustRead("creds/r")
					}
					resp, err := h.Rotate("c")
					if err != nil || resp.IsError() {
						t.Fatalf("rotate after the crash: err=%v resp=%v", err, plugintest.ErrText(resp))
					}
					earlier := map[string]string{id: secret}
					for _, k := range h.Emu.CloudKeys() {
						earlier[k.ID] = k.Secret
					}
					h.OneLiveKey("c", earlier)
					h.MustRead("creds/r")
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
			h := plugintest.New(t)
			h.RotatableConfig("c", nil)
			good := h.Storage
			h.Storage = &plugintest.FlakyStorage{Storage: good, Prefix: tc.prefix, Op: tc.op, N: tc.n}
			resp, err := h.Rotate("c")
			h.Storage = good
			if rotated := err == nil && !resp.IsError(); rotated != tc.rotated {
				t.Fatalf("rotated %v, want %v: err=%v resp=%v", rotated, tc.rotated, err, plugintest.ErrText(resp))
			}
			if err != nil && strings.Contains(err.Error(), plugintest.CloudSecret) {
				t.Error("the error holds the secret")
			}
			for _, k := range h.Emu.CloudKeys() {
				h.Secrets = append(h.Secrets, k.Secret)
			}
			if n := len(h.Emu.CloudKeys()); n != 1 {
				t.Errorf("%d live keys, want 1", n)
			}
			if !tc.rotated && h.MustRead("config/c").Data["client_id"] != plugintest.CloudID {
				t.Error("a failed rotation changed the config")
			}
			h.Rollback()
			if resp, err := h.Rotate("c"); err != nil || resp.IsError() {
				t.Fatalf("the next rotate: err=%v resp=%v", err, plugintest.ErrText(resp))
			}
			h.OneLiveKey("c", map[string]string{plugintest.CloudID: plugintest.CloudSecret})
		})
	}
}

// A create whose answer is lost made a key all the same: it is found by
// its label and deleted, at once or, when the API fails too, by the
// rollback; a retry never makes a second key meanwhile.
func TestRotateRootCreateAnswerLost(t *testing.T) {
	h := plugintest.New(t)
	h.RotatableConfig("c", nil)
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodPost, Lose: true})
	_, err := h.Rotate("c")
	if err == nil || !strings.Contains(err.Error(), "no new API key is left") {
		t.Fatalf("err %v, want the lost answer and the key deleted", err)
	}
	h.OneLiveKey("c", nil)

	// Lost again, and the list fails for a while: the entry stays.
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodPost, Lose: true})
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodGet, Status: http.StatusForbidden})
	_, err = h.Rotate("c")
	if err == nil || !strings.Contains(err.Error(), "could not be deleted yet") {
		t.Fatalf("err %v, want the key left to the rollback", err)
	}
	if n, w := len(h.Emu.CloudKeys()), h.Wals(); n != 2 || w != 1 {
		t.Fatalf("%d keys and %d WAL entries, want the stray key and its entry", n, w)
	}
	for _, k := range h.Emu.CloudKeys() {
		h.Secrets = append(h.Secrets, k.Secret)
	}
	// A retry while the API still refuses creates nothing.
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodGet, Status: http.StatusForbidden})
	creates := h.Emu.Requests("/api/account/tokens")
	_, err = h.Rotate("c")
	if err == nil || !strings.Contains(err.Error(), "not finished") || len(h.Emu.CloudKeys()) != 2 {
		t.Fatalf("err %v with %d keys, want a refusal to start another", err, len(h.Emu.CloudKeys()))
	}
	if got := h.Emu.Requests("/api/account/tokens") - creates; got != 1 {
		t.Errorf("%d key API calls, want the one list", got)
	}
	h.Rollback()
	h.OneLiveKey("c", nil)
}

// The old key's delete fails: the new key is in use, and the entry stays
// until the old key is confirmed gone, by the rollback or the next rotate.
func TestRotateRootOldKeyDeletedLater(t *testing.T) {
	for _, by := range []string{"rollback", "next rotate"} {
		t.Run(by, func(t *testing.T) {
			h := plugintest.New(t)
			h.RotatableConfig("c", nil)
			h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens/", Method: http.MethodDelete, Status: http.StatusServiceUnavailable, Times: 10})
			resp, err := h.Rotate("c")
			if err != nil || resp.IsError() || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "rollback") {
				t.Fatalf("err=%v resp=%v warnings=%v", err, plugintest.ErrText(resp), resp.Warnings)
			}
			h.Emu.ClearFaults()
			if h.Wals() != 1 {
				t.Fatalf("%d WAL entries, want the rotation's", h.Wals())
			}
			for _, k := range h.Emu.CloudKeys() {
				h.Secrets = append(h.Secrets, k.Secret)
			}
			if by == "rollback" {
				h.Rollback()
			} else if resp, err := h.Rotate("c"); err != nil || resp.IsError() {
				t.Fatalf("next rotate: %v %v", err, plugintest.ErrText(resp))
			}
			h.OneLiveKey("c", map[string]string{plugintest.CloudID: plugintest.CloudSecret})
		})
	}
}

// A config whose rotation stopped half way finishes it before it is
// deleted, or is not deleted.
func TestConfigDeleteFinishesARotation(t *testing.T) {
	h := plugintest.New(t)
	h.RotatableConfig("c", nil)
	h.RotateCrashingAt("c", "found")
	for _, k := range h.Emu.CloudKeys() {
		h.Secrets = append(h.Secrets, k.Secret)
	}
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens/", Method: http.MethodDelete, Status: http.StatusForbidden})
	if _, err := h.Do(logical.DeleteOperation, "config/c", nil); err == nil || !strings.Contains(err.Error(), "not finished") {
		t.Fatalf("err %v, want the delete refused while the new key cannot be deleted", err)
	}
	if !h.Stored("config/c") || len(h.Emu.CloudKeys()) != 2 {
		t.Fatal("the refused delete changed something")
	}
	if resp, err := h.Do(logical.DeleteOperation, "config/c", nil); err != nil || resp.IsError() {
		t.Fatalf("delete: %v %v", err, plugintest.ErrText(resp))
	}
	if keys := h.Emu.CloudKeys(); len(keys) != 1 || keys[0].ID != plugintest.CloudID || h.Wals() != 0 {
		t.Errorf("%d live keys and %d WAL entries after the delete, want the config's last key only", len(keys), h.Wals())
	}
}

// A gateway's 5xx after the create did its work: the key is found by its
// label and deleted, never taken for a refusal.
func TestRotateRootCreate5xxAfterTheWork(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			h := plugintest.New(t)
			h.RotatableConfig("c", nil)
			h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodPost, Status: status, Handled: true})
			_, err := h.Rotate("c")
			if err == nil || !strings.Contains(err.Error(), "no new API key is left") {
				t.Fatalf("err %v, want the key found and deleted", err)
			}
			h.OneLiveKey("c", nil)
		})
	}
}

// A 503 after the work, retried: two keys carry the label, and both go.
func TestRotateRootCreateRetriedAfterTheWork(t *testing.T) {
	h := plugintest.New(t)
	h.RotatableConfig("c", nil)
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodPost, Status: http.StatusServiceUnavailable, Handled: true})
	resp, err := h.Rotate("c")
	for _, k := range h.Emu.CloudKeys() {
		h.Secrets = append(h.Secrets, k.Secret)
	}
	if err != nil || resp.IsError() {
		// Under the spec's reading two live keys with the label cannot
		// be told apart: both are deleted.
		if !strings.Contains(err.Error(), "two live API keys") {
			t.Fatalf("err %v", err)
		}
		h.OneLiveKey("c", nil)
	} else {
		h.OneLiveKey("c", map[string]string{plugintest.CloudID: plugintest.CloudSecret})
	}
	if resp, err := h.Rotate("c"); err != nil || resp.IsError() {
		t.Fatalf("the next rotate: %v %v", err, plugintest.ErrText(resp))
	}
	h.OneLiveKey("c", map[string]string{plugintest.CloudID: plugintest.CloudSecret})
}

// A create the upstream carries out after the plugin gave up on it: the
// entry stays until the key appears or the create can no longer land, and
// the rollback then deletes the key.
func TestRotateRootCreateLandsLate(t *testing.T) {
	h := plugintest.New(t)
	h.RotatableConfig("c", map[string]any{"request_timeout": "1s"})
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens", Method: http.MethodPost, HandleAfter: 1500 * time.Millisecond})
	_, err := h.Rotate("c")
	if err == nil || !strings.Contains(err.Error(), "may still land") || h.Wals() != 1 {
		t.Fatalf("err %v with %d WAL entries, want the entry kept while the create may land", err, h.Wals())
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(h.Emu.CloudKeys()) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the late create never landed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, k := range h.Emu.CloudKeys() {
		h.Secrets = append(h.Secrets, k.Secret)
	}
	h.Rollback()
	h.OneLiveKey("c", nil)
}

// Vault's rollback read an entry before a rotation rewrote it, and runs
// it after the rotation stored the new key and failed to delete the old
// one: the entry is read again, and the old key goes.
func TestRotateRootStaleRollbackEntry(t *testing.T) {
	h := plugintest.New(t)
	h.RotatableConfig("c", nil)
	var id string
	var stale any
	h.B.Env().RotateRootStep = func(step string) {
		if step == "wal" {
			ids, _ := framework.ListWAL(context.Background(), h.Storage)
			id = ids[0]
			e, _ := framework.GetWAL(context.Background(), h.Storage, id)
			stale = e.Data
		}
	}
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens/", Method: http.MethodDelete, Status: http.StatusServiceUnavailable, Times: 10})
	if resp, err := h.Rotate("c"); err != nil || len(resp.Warnings) != 1 {
		t.Fatalf("rotate: %v %v", err, resp)
	}
	h.B.Env().RotateRootStep = nil
	h.Emu.ClearFaults()
	for _, k := range h.Emu.CloudKeys() {
		h.Secrets = append(h.Secrets, k.Secret)
	}
	if err := h.B.Env().WALRollback(context.Background(), &logical.Request{Storage: h.Storage}, "api_key", stale); err != nil {
		t.Fatal(err)
	}
	if err := framework.DeleteWAL(context.Background(), h.Storage, id); err != nil {
		t.Fatal(err)
	}
	h.OneLiveKey("c", map[string]string{plugintest.CloudID: plugintest.CloudSecret})
}

// key_uuid written with a wrong secret does not survive the owner's fix
// of the secret: rotate then asks for key_uuid instead of deleting the
// key a writer without the secret named.
func TestRotateRootKeyUUIDClearedWithANewSecret(t *testing.T) {
	h := plugintest.New(t)
	h.RotatableConfig("c", nil)
	ci := h.SameUserKey(plugintest.CloudID, plugintest.CloudSecret)
	h.Secrets = append(h.Secrets, "not-the-secret")
	h.MustWrite("config/c", map[string]any{"key_uuid": ci, "client_secret": "not-the-secret", "verify": false})
	resp := h.MustWrite("config/c", map[string]any{"client_secret": plugintest.CloudSecret})
	if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "key_uuid was cleared") {
		t.Errorf("warnings %v, want key_uuid cleared", resp.Warnings)
	}
	if msg, ok := plugintest.BadRequest(h.Rotate("c")); !ok || !strings.HasPrefix(msg, "key_uuid: ") {
		t.Fatalf("rotate: %q, want a 400 naming key_uuid", msg)
	}
	if len(h.Emu.CloudKeys()) != 2 {
		t.Error("a key was created or deleted")
	}
	// Rewriting the same secret keeps key_uuid.
	own, _ := h.CloudKey(plugintest.CloudID)
	h.MustWrite("config/c", map[string]any{"key_uuid": own.KeyUUID, "client_secret": plugintest.CloudSecret})
	if resp := h.MustWrite("config/c", map[string]any{"client_secret": plugintest.CloudSecret}); resp != nil && len(resp.Warnings) != 0 ||
		h.MustRead("config/c").Data["key_uuid"] != own.KeyUUID {
		t.Errorf("the same secret cleared key_uuid: %v", resp.Warnings)
	}
}
