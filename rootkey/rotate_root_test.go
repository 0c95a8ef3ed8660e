package rootkey_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/rotation"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// The happy path, whatever a deleted key does to its tokens upstream: the
// old key is deleted and refused, the new one works and is what the config
// reads and mints with, static roles hold tokens that work, and no secret
// is answered or logged.
func TestRotateRoot(t *testing.T) {
	for _, revokeOnDelete := range []bool{false, true} {
		t.Run(fmt.Sprintf("tokens die with their key %v", revokeOnDelete), func(t *testing.T) {
			h := plugintest.New(t)
			h.Emu.SetCloudRevokeOnKeyDelete(revokeOnDelete)
			oldUUID := h.RotatableConfig("c", nil)
			h.MustWrite("roles/r", map[string]any{"config": "c"})
			h.MustWrite("static-roles/s", map[string]any{"config": "c"})
			before := h.StaticToken("s")

			resp, err := h.Rotate("c")
			if err != nil || resp == nil || resp.IsError() {
				t.Fatalf("rotate: err=%v resp=%v", err, plugintest.ErrText(resp))
			}
			id, _ := resp.Data["client_id"].(string)
			uuid, _ := resp.Data["key_uuid"].(string)
			if len(resp.Warnings) != 0 {
				t.Errorf("warnings %v", resp.Warnings)
			}
			if id == "" || id == plugintest.CloudID || uuid == "" || uuid == oldUUID || uuid == id {
				t.Fatalf("answer %v", resp.Data)
			}
			if at, err := time.Parse(time.RFC3339, fmt.Sprint(resp.Data["rotated_at"])); err != nil || !at.Equal(h.Clock.Now()) {
				t.Errorf("rotated_at %v, want %s", resp.Data["rotated_at"], h.Clock.Now().UTC().Format(time.RFC3339))
			}
			if len(resp.Data) != 3 {
				t.Errorf("rotate answered %d keys, want client_id, key_uuid and rotated_at: %v", len(resp.Data), resp.Data)
			}

			newKey, ok := h.CloudKey(id)
			if !ok || newKey.KeyUUID != uuid {
				t.Fatalf("the emulator has no key %s (%s)", id, uuid)
			}
			if _, ok := h.CloudKey(plugintest.CloudID); ok || len(h.Emu.CloudKeys()) != 1 {
				t.Error("the old key was not deleted upstream")
			}
			if st := h.TokenStatus(plugintest.CloudID, plugintest.CloudSecret); st != http.StatusUnauthorized {
				t.Errorf("the old secret gets %d, want 401", st)
			}
			if st := h.TokenStatus(id, newKey.Secret); st != http.StatusOK {
				t.Errorf("the new secret gets %d", st)
			}

			read := h.MustRead("config/c").Data
			if read["client_id"] != id || read["key_uuid"] != uuid || read["last_rotated"] != resp.Data["rotated_at"] {
				t.Errorf("config reads %v", read)
			}
			for _, r := range []*logical.Response{resp, h.MustRead("config/c")} {
				if text := fmt.Sprint(r.Data, r.Warnings); strings.Contains(text, newKey.Secret) || strings.Contains(text, plugintest.CloudSecret) {
					t.Error("a response holds a secret")
				}
			}

			creds := h.MustRead("creds/r")
			if tok, _ := creds.Data["access_token"].(string); testutil.BearerStatus(t, plugintest.HTTPClient, h.Emu.URL()+"/api/account", tok) != 200 {
				t.Error("creds after rotation do not work")
			}
			if got, _ := h.Emu.Token(creds.Data["access_token"].(string)); got.ClientID != id {
				t.Errorf("creds minted by %s, want the new key", got.ClientID)
			}
			after := h.StaticToken("s")
			if after == before || !h.Emu.TokenLive(after) {
				t.Error("the static role does not hold a live token of the new key")
			}
			if h.Wals() != 0 {
				t.Errorf("%d WAL entries left", h.Wals())
			}
			if !strings.Contains(h.Logs.String(), "rotated the config's API key") {
				t.Error("the rotation was not logged")
			}
		})
	}
}

// A new key that never fetches a token is deleted, nothing is stored, and
// the old key keeps working; one that works after a few refusals is used.
func TestRotateRootVerification(t *testing.T) {
	h := plugintest.New(t)
	oldUUID := h.RotatableConfig("c", nil)
	gen := h.MustRead("config/c").Data

	h.Emu.SetCloudKeyPropagation(1000)
	start := time.Now()
	resp, err := h.Rotate("c")
	if err == nil || !strings.Contains(err.Error(), "could not fetch a token") || !strings.Contains(err.Error(), "no new API key is left") {
		t.Fatalf("want a verification failure, got err=%v resp=%v", err, plugintest.ErrText(resp))
	}
	if ce, ok := err.(logical.HTTPCodedError); !ok || ce.Code() != http.StatusBadGateway {
		t.Errorf("err %T %v, want a 502", err, err)
	}
	if d := time.Since(start); d < 3*time.Second || d > 15*time.Second {
		t.Errorf("verification took %s, want about 5 s of retries", d)
	}
	if keys := h.Emu.CloudKeys(); len(keys) != 1 || keys[0].ID != plugintest.CloudID {
		t.Errorf("keys after a failed rotation: %d (the new one must be deleted)", len(keys))
	}
	read := h.MustRead("config/c").Data
	if read["client_id"] != plugintest.CloudID || read["key_uuid"] != oldUUID || read["last_rotated"] != gen["last_rotated"] {
		t.Errorf("config changed: %v", read)
	}
	if h.TokenStatus(plugintest.CloudID, plugintest.CloudSecret) != http.StatusOK {
		t.Error("the old key stopped working")
	}
	if h.Wals() != 0 {
		t.Errorf("%d WAL entries left", h.Wals())
	}

	// A key still propagating for its first two token requests is waited for.
	h.Emu.SetCloudKeyPropagation(2)
	resp, err = h.Rotate("c")
	if err != nil || resp.IsError() {
		t.Fatalf("rotate with a slow key: err=%v resp=%v", err, plugintest.ErrText(resp))
	}
	if h.MustRead("config/c").Data["client_id"] == plugintest.CloudID {
		t.Error("not rotated")
	}
}

// The new key stays in use when the old one cannot be deleted; the
// warning names the old key's uuid.
func TestRotateRootOldKeyDeleteFails(t *testing.T) {
	h := plugintest.New(t)
	oldUUID := h.RotatableConfig("c", nil)
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens/", Method: http.MethodDelete, Status: http.StatusForbidden})
	resp, err := h.Rotate("c")
	if err != nil || resp.IsError() {
		t.Fatalf("err=%v resp=%v", err, plugintest.ErrText(resp))
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], oldUUID) || !strings.Contains(resp.Warnings[0], "403") {
		t.Errorf("warnings %v, want one naming %s and the refusal", resp.Warnings, oldUUID)
	}
	id := resp.Data["client_id"].(string)
	if h.MustRead("config/c").Data["client_id"] != id {
		t.Error("the new key is not stored")
	}
	if _, ok := h.CloudKey(plugintest.CloudID); !ok || len(h.Emu.CloudKeys()) != 2 {
		t.Error("want both keys live upstream")
	}
}

// Without key_uuid, and where the API cannot tell which key is the
// config's, rotate is a 400 naming key_uuid and creates nothing.
func TestRotateRootWithoutKeyUUID(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", map[string]any{"scopes": "organization:" + plugintest.FedOrgUUID})
	msg, ok := plugintest.BadRequest(h.Rotate("c"))
	if !ok || !strings.HasPrefix(msg, "key_uuid: ") || !strings.Contains(msg, "Account settings > API Tokens") {
		t.Errorf("got %q, want a 400 naming key_uuid", msg)
	}
	if len(h.Emu.CloudKeys()) != 1 || h.Wals() != 0 {
		t.Errorf("%d keys, %d WAL entries after a refused rotate", len(h.Emu.CloudKeys()), h.Wals())
	}
}

func TestRotateRootRefusals(t *testing.T) {
	h := plugintest.New(t)
	h.MustWrite("config/o", map[string]any{"provider": "oauth2", "client_id": "x", "client_secret": "y",
		"token_url": h.Emu.URL() + "/oauth2/token", "verify": false})
	fedKey, _ := h.CloudKey(plugintest.CloudID)
	h.CloudConfig("fed", map[string]any{"key_uuid": fedKey.KeyUUID}) // a federated key without the organization scope
	cases := []struct{ name, path, want string }{
		{"another provider", "config/o/rotate", "rotate is for cloud configs: oauth2 has no API to create keys"},
		{"no such config", "config/nope/rotate", `config "nope" does not exist`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, ok := plugintest.BadRequest(h.Do(logical.UpdateOperation, tc.path, nil))
			if !ok || !strings.Contains(msg, tc.want) {
				t.Errorf("got %s, want a 400 with %q", msg, tc.want)
			}
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		if msg, ok := plugintest.BadRequest(h.Do(logical.UpdateOperation, "config/fed/rotate", map[string]any{"client_secret": "x"})); !ok {
			t.Errorf("got %s", msg)
		}
	})
	t.Run("upstream refusal", func(t *testing.T) {
		_, err := h.Rotate("fed")
		if err == nil || !strings.Contains(err.Error(), "scopes=organization:<uuid>") || !strings.Contains(err.Error(), "config is unchanged") {
			t.Errorf("err %v, want a 502 with the federated hint", err)
		}
		if len(h.Emu.CloudKeys()) != 1 {
			t.Error("a key was created")
		}
	})
	if h.MustRead("config/fed").Data["client_id"] != plugintest.CloudID {
		t.Error("a refused rotation changed the config")
	}
	if msg, ok := plugintest.BadRequest(h.Write("config/o", map[string]any{"rotation_period": "1h"})); !ok || !strings.Contains(msg, "rotation_period") {
		t.Errorf("rotation_period on oauth2: %s", msg)
	}
}

// A WAL entry naming a key no config holds is rolled back by deleting the
// key; one naming the config's key is rolled forward.
func TestRotateRootRollback(t *testing.T) {
	h := plugintest.New(t)
	h.RotatableConfig("c", nil)
	tok := h.Bearer(plugintest.CloudID, plugintest.CloudSecret, "organization:"+plugintest.FedOrgUUID)
	req, _ := http.NewRequest(http.MethodPost, h.Emu.URL()+"/api/account/tokens", strings.NewReader(`{"label":"orphan"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := plugintest.HTTPClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v %v", err, resp)
	}
	resp.Body.Close()
	var orphan emulator.CloudClient
	for _, k := range h.Emu.CloudKeys() {
		h.Secrets = append(h.Secrets, k.Secret)
		if k.ID != plugintest.CloudID {
			orphan = k
		}
	}
	own, _ := h.CloudKey(plugintest.CloudID)
	for _, uuid := range []string{orphan.KeyUUID, own.KeyUUID} {
		if _, err := framework.PutWAL(context.Background(), h.Storage, "api_key", map[string]any{"config": "c", "key_uuid": uuid}); err != nil {
			t.Fatal(err)
		}
	}
	if rb, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.RollbackOperation,
		Storage: h.Storage, Data: map[string]any{"immediate": true}}); err != nil || (rb != nil && rb.IsError()) {
		t.Fatal(err, plugintest.ErrText(rb))
	}
	if keys := h.Emu.CloudKeys(); len(keys) != 1 || keys[0].ID != plugintest.CloudID {
		t.Errorf("after rollback %d keys, want the config's only", len(keys))
	}
	if h.Wals() != 0 {
		t.Errorf("%d WAL entries left", h.Wals())
	}
}

// On Vault Community the plugin runs rotation_period itself, from the
// periodic function, only on a node that can write; rotation_schedule is
// refused there.
func TestRotateRootAutomatedCommunity(t *testing.T) {
	h := plugintest.New(t)
	h.RotatableConfig("c", map[string]any{"rotation_period": "1h"})
	read := h.MustRead("config/c").Data
	if read["rotation_period"] != int64(3600) || read["disable_automated_rotation"] != false || read["rotation_schedule"] != "" ||
		read["last_rotated"] != h.Clock.Now().UTC().Format(time.RFC3339) {
		t.Errorf("read %v", read)
	}
	msg, ok := plugintest.BadRequest(h.Write("config/c", map[string]any{"rotation_schedule": "0 * * * *"}))
	if !ok || !strings.Contains(msg, "rotation_schedule") || !strings.Contains(msg, "Community") {
		t.Errorf("rotation_schedule on Community: %s", msg)
	}
	if h.MustRead("config/c").Data["rotation_period"] != int64(3600) {
		t.Error("a refused write changed the config")
	}
	for _, bad := range []map[string]any{{"rotation_period": "30s"}, {"rotation_period": "1h", "rotation_schedule": "0 * * * *"},
		{"rotation_window": "10m"}} {
		if msg, ok := plugintest.BadRequest(h.Write("config/c", bad)); !ok {
			t.Errorf("%v: %s", bad, msg)
		}
	}

	clientID := func() string { return h.MustRead("config/c").Data["client_id"].(string) }
	h.Clock.Advance(59 * time.Minute)
	h.Periodic()
	if clientID() != plugintest.CloudID {
		t.Fatal("rotated before rotation_period")
	}
	h.Clock.Advance(2 * time.Minute)
	h.Periodic()
	first := clientID()
	if first == plugintest.CloudID {
		t.Fatal("not rotated after rotation_period")
	}
	h.CloudKey(first)
	if _, ok := h.CloudKey(plugintest.CloudID); ok {
		t.Error("the old key lives on")
	}
	// The period runs from the last rotation.
	h.Clock.Advance(59 * time.Minute)
	h.Periodic()
	if clientID() != first {
		t.Fatal("rotated again before a period since the last rotation")
	}

	// Nothing upstream from a node that cannot write.
	h.B.Env().Writable = func() bool { return false }
	calls := h.Emu.Requests("/api/")
	h.Clock.Advance(2 * time.Hour)
	h.Periodic()
	if n := h.Emu.Requests("/api/") - calls; n != 0 || clientID() != first {
		t.Errorf("a read-only node made %d upstream calls", n)
	}
	h.B.Env().Writable = func() bool { return true }

	// Paused, then resumed.
	h.MustWrite("config/c", map[string]any{"disable_automated_rotation": true})
	h.Periodic()
	if clientID() != first {
		t.Error("rotated while disable_automated_rotation")
	}
	h.MustWrite("config/c", map[string]any{"disable_automated_rotation": false})
	h.Periodic()
	second := clientID()
	if second == first {
		t.Error("not rotated once resumed")
	}
	h.CloudKey(second)
}

// enterpriseSystemView has a rotation manager: it records jobs.
type enterpriseSystemView struct {
	logical.StaticSystemView
	mu           sync.Mutex
	jobs         map[string]*rotation.RotationJobConfigureRequest
	deregistered []string
}

func (s *enterpriseSystemView) RegisterRotationJob(_ context.Context, req *rotation.RotationJobConfigureRequest) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[req.ReqPath] = req
	return "rotation-" + req.ReqPath, nil
}

func (s *enterpriseSystemView) DeregisterRotationJob(_ context.Context, req *rotation.RotationJobDeregisterRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jobs, req.ReqPath)
	s.deregistered = append(s.deregistered, req.ReqPath)
	return nil
}

// With Vault's rotation manager the config is registered with it, the
// plugin's periodic function leaves it alone, and the manager's call
// rotates it.
func TestRotateRootAutomatedEnterprise(t *testing.T) {
	sys := &enterpriseSystemView{StaticSystemView: logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour},
		jobs: map[string]*rotation.RotationJobConfigureRequest{}}
	h := plugintest.New(t, func(c *logical.BackendConfig) { c.System = sys })
	h.RotatableConfig("c", map[string]any{"rotation_schedule": "0 3 * * *", "rotation_window": "1h"})
	job := sys.jobs["config/c"]
	if job == nil || job.RotationSchedule != "0 3 * * *" || job.RotationWindow != time.Hour || job.RotationPeriod != 0 {
		t.Fatalf("jobs %v", sys.jobs)
	}
	h.MustWrite("config/c", map[string]any{"rotation_period": "1h"})
	if job := sys.jobs["config/c"]; job.RotationPeriod != time.Hour || job.RotationSchedule != "" {
		t.Errorf("job after rotation_period: %+v", job)
	}
	h.Clock.Advance(2 * time.Hour)
	h.Periodic()
	if h.MustRead("config/c").Data["client_id"] != plugintest.CloudID {
		t.Fatal("the plugin rotated a config the rotation manager runs")
	}
	if _, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.RotationOperation,
		Path: "config/c", Storage: h.Storage}); err != nil {
		t.Fatal(err)
	}
	id := h.MustRead("config/c").Data["client_id"].(string)
	if id == plugintest.CloudID {
		t.Fatal("the rotation manager's call did not rotate")
	}
	h.CloudKey(id)
	h.MustWrite("config/c", map[string]any{"rotation_period": 0})
	if len(sys.jobs) != 0 || len(sys.deregistered) != 1 {
		t.Errorf("jobs %v after clearing rotation_period, deregistered %v", sys.jobs, sys.deregistered)
	}
	h.MustWrite("config/c", map[string]any{"rotation_period": "24h"})
	if _, err := h.Do(logical.DeleteOperation, "config/c", nil); err != nil {
		t.Fatal(err)
	}
	if len(sys.jobs) != 0 || len(sys.deregistered) != 2 {
		t.Errorf("jobs %v after delete, deregistered %v", sys.jobs, sys.deregistered)
	}
}
