package backend_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/rotation"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// cloudKey is the emulator's live key with client id id.
func (h *harness) cloudKey(id string) (emulator.CloudClient, bool) {
	h.t.Helper()
	for _, k := range h.emu.CloudKeys() {
		h.secrets = append(h.secrets, k.Secret)
		if k.ID == id {
			return k, true
		}
	}
	return emulator.CloudClient{}, false
}

// rotatableConfig writes a cloud config that knows its key's uuid. The
// harness key is in a federated organization, so the Cloud API (key
// management included) wants that organization as scope.
func (h *harness) rotatableConfig(name string, extra map[string]any) string {
	h.t.Helper()
	k, _ := h.cloudKey(cloudID)
	data := map[string]any{"key_uuid": k.KeyUUID, "scopes": "organization:" + fedOrgUUID}
	for key, v := range extra {
		data[key] = v
	}
	h.cloudConfig(name, data)
	return k.KeyUUID
}

func (h *harness) rotate(name string) (*logical.Response, error) {
	h.t.Helper()
	resp, err := h.do(logical.UpdateOperation, "config/"+name+"/rotate", nil)
	if resp != nil && !resp.IsError() {
		if id, ok := resp.Data["client_id"].(string); ok {
			h.cloudKey(id) // collects the new secret for the log check
		}
	}
	return resp, err
}

// tokenStatus asks the emulator's token endpoint for a token with id and
// secret, as any client of the key would.
func (h *harness) tokenStatus(id, secret string) int {
	h.t.Helper()
	resp, err := httpClient.PostForm(h.emu.URL()+"/api/auth/oauth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (h *harness) periodic() {
	h.t.Helper()
	if err := h.b.PeriodicFunc(context.Background(), &logical.Request{Storage: h.storage}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) wals() int {
	h.t.Helper()
	ids, err := framework.ListWAL(context.Background(), h.storage)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(ids)
}

// The happy path, whatever a deleted key does to its tokens upstream: the
// old key is deleted and refused, the new one works and is what the config
// reads and mints with, static roles hold tokens that work, and no secret
// is answered or logged.
func TestRotateRoot(t *testing.T) {
	for _, revokeOnDelete := range []bool{false, true} {
		t.Run(fmt.Sprintf("tokens die with their key %v", revokeOnDelete), func(t *testing.T) {
			h := newHarness(t)
			h.emu.SetCloudRevokeOnKeyDelete(revokeOnDelete)
			oldUUID := h.rotatableConfig("c", nil)
			h.mustWrite("roles/r", map[string]any{"config": "c"})
			h.mustWrite("static-roles/s", map[string]any{"config": "c"})
			before := h.staticToken("s")

			resp, err := h.rotate("c")
			if err != nil || resp == nil || resp.IsError() {
				t.Fatalf("rotate: err=%v resp=%v", err, errText(resp))
			}
			id, _ := resp.Data["client_id"].(string)
			uuid, _ := resp.Data["key_uuid"].(string)
			if len(resp.Warnings) != 0 {
				t.Errorf("warnings %v", resp.Warnings)
			}
			if id == "" || id == cloudID || uuid == "" || uuid == oldUUID || uuid == id {
				t.Fatalf("answer %v", resp.Data)
			}
			if at, err := time.Parse(time.RFC3339, fmt.Sprint(resp.Data["rotated_at"])); err != nil || !at.Equal(h.clock.Now()) {
				t.Errorf("rotated_at %v, want %s", resp.Data["rotated_at"], h.clock.Now().UTC().Format(time.RFC3339))
			}
			if len(resp.Data) != 3 {
				t.Errorf("rotate answered %d keys, want client_id, key_uuid and rotated_at: %v", len(resp.Data), resp.Data)
			}

			newKey, ok := h.cloudKey(id)
			if !ok || newKey.KeyUUID != uuid {
				t.Fatalf("the emulator has no key %s (%s)", id, uuid)
			}
			if _, ok := h.cloudKey(cloudID); ok || len(h.emu.CloudKeys()) != 1 {
				t.Error("the old key was not deleted upstream")
			}
			if st := h.tokenStatus(cloudID, cloudSecret); st != http.StatusUnauthorized {
				t.Errorf("the old secret gets %d, want 401", st)
			}
			if st := h.tokenStatus(id, newKey.Secret); st != http.StatusOK {
				t.Errorf("the new secret gets %d", st)
			}

			read := h.mustRead("config/c").Data
			if read["client_id"] != id || read["key_uuid"] != uuid || read["last_rotated"] != resp.Data["rotated_at"] {
				t.Errorf("config reads %v", read)
			}
			for _, r := range []*logical.Response{resp, h.mustRead("config/c")} {
				if text := fmt.Sprint(r.Data, r.Warnings); strings.Contains(text, newKey.Secret) || strings.Contains(text, cloudSecret) {
					t.Error("a response holds a secret")
				}
			}

			creds := h.mustRead("creds/r")
			if tok, _ := creds.Data["access_token"].(string); testutil.BearerStatus(t, httpClient, h.emu.URL()+"/api/account", tok) != 200 {
				t.Error("creds after rotation do not work")
			}
			if got, _ := h.emu.Token(creds.Data["access_token"].(string)); got.ClientID != id {
				t.Errorf("creds minted by %s, want the new key", got.ClientID)
			}
			after := h.staticToken("s")
			if after == before || !h.emu.TokenLive(after) {
				t.Error("the static role does not hold a live token of the new key")
			}
			if h.wals() != 0 {
				t.Errorf("%d WAL entries left", h.wals())
			}
			if !strings.Contains(h.logs.String(), "rotated the config's API key") {
				t.Error("the rotation was not logged")
			}
		})
	}
}

// A new key that never fetches a token is deleted, nothing is stored, and
// the old key keeps working; one that works after a few refusals is used.
func TestRotateRootVerification(t *testing.T) {
	h := newHarness(t)
	oldUUID := h.rotatableConfig("c", nil)
	gen := h.mustRead("config/c").Data

	h.emu.SetCloudKeyPropagation(1000)
	start := time.Now()
	resp, err := h.rotate("c")
	if err == nil || !strings.Contains(err.Error(), "could not fetch a token") || !strings.Contains(err.Error(), "no new API key is left") {
		t.Fatalf("want a verification failure, got err=%v resp=%v", err, errText(resp))
	}
	if ce, ok := err.(logical.HTTPCodedError); !ok || ce.Code() != http.StatusBadGateway {
		t.Errorf("err %T %v, want a 502", err, err)
	}
	if d := time.Since(start); d < 3*time.Second || d > 15*time.Second {
		t.Errorf("verification took %s, want about 5 s of retries", d)
	}
	if keys := h.emu.CloudKeys(); len(keys) != 1 || keys[0].ID != cloudID {
		t.Errorf("keys after a failed rotation: %d (the new one must be deleted)", len(keys))
	}
	read := h.mustRead("config/c").Data
	if read["client_id"] != cloudID || read["key_uuid"] != oldUUID || read["last_rotated"] != gen["last_rotated"] {
		t.Errorf("config changed: %v", read)
	}
	if h.tokenStatus(cloudID, cloudSecret) != http.StatusOK {
		t.Error("the old key stopped working")
	}
	if h.wals() != 0 {
		t.Errorf("%d WAL entries left", h.wals())
	}

	// A key still propagating for its first two token requests is waited for.
	h.emu.SetCloudKeyPropagation(2)
	resp, err = h.rotate("c")
	if err != nil || resp.IsError() {
		t.Fatalf("rotate with a slow key: err=%v resp=%v", err, errText(resp))
	}
	if h.mustRead("config/c").Data["client_id"] == cloudID {
		t.Error("not rotated")
	}
}

// The new key stays in use when the old one cannot be deleted; the
// warning names the old key's uuid.
func TestRotateRootOldKeyDeleteFails(t *testing.T) {
	h := newHarness(t)
	oldUUID := h.rotatableConfig("c", nil)
	h.emu.InjectFault(emulator.Fault{PathPrefix: "/api/account/tokens/", Method: http.MethodDelete, Status: http.StatusForbidden})
	resp, err := h.rotate("c")
	if err != nil || resp.IsError() {
		t.Fatalf("err=%v resp=%v", err, errText(resp))
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], oldUUID) || !strings.Contains(resp.Warnings[0], "403") {
		t.Errorf("warnings %v, want one naming %s and the refusal", resp.Warnings, oldUUID)
	}
	id := resp.Data["client_id"].(string)
	if h.mustRead("config/c").Data["client_id"] != id {
		t.Error("the new key is not stored")
	}
	if _, ok := h.cloudKey(cloudID); !ok || len(h.emu.CloudKeys()) != 2 {
		t.Error("want both keys live upstream")
	}
}

// Without key_uuid, and where the API cannot tell which key is the
// config's, rotate is a 400 naming key_uuid and creates nothing.
func TestRotateRootWithoutKeyUUID(t *testing.T) {
	h := newHarness(t)
	h.cloudConfig("c", map[string]any{"scopes": "organization:" + fedOrgUUID})
	msg, ok := badRequest(h.rotate("c"))
	if !ok || !strings.HasPrefix(msg, "key_uuid: ") || !strings.Contains(msg, "Account settings > API Tokens") {
		t.Errorf("got %q, want a 400 naming key_uuid", msg)
	}
	if len(h.emu.CloudKeys()) != 1 || h.wals() != 0 {
		t.Errorf("%d keys, %d WAL entries after a refused rotate", len(h.emu.CloudKeys()), h.wals())
	}
}

func TestRotateRootRefusals(t *testing.T) {
	h := newHarness(t)
	h.mustWrite("config/o", map[string]any{"provider": "oauth2", "client_id": "x", "client_secret": "y",
		"token_url": h.emu.URL() + "/oauth2/token", "verify": false})
	fedKey, _ := h.cloudKey(cloudID)
	h.cloudConfig("fed", map[string]any{"key_uuid": fedKey.KeyUUID}) // a federated key without the organization scope
	cases := []struct{ name, path, want string }{
		{"another provider", "config/o/rotate", "rotate is for cloud configs: oauth2 has no API to create keys"},
		{"no such config", "config/nope/rotate", `config "nope" does not exist`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, ok := badRequest(h.do(logical.UpdateOperation, tc.path, nil))
			if !ok || !strings.Contains(msg, tc.want) {
				t.Errorf("got %s, want a 400 with %q", msg, tc.want)
			}
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		if msg, ok := badRequest(h.do(logical.UpdateOperation, "config/fed/rotate", map[string]any{"client_secret": "x"})); !ok {
			t.Errorf("got %s", msg)
		}
	})
	t.Run("upstream refusal", func(t *testing.T) {
		_, err := h.rotate("fed")
		if err == nil || !strings.Contains(err.Error(), "scopes=organization:<uuid>") || !strings.Contains(err.Error(), "config is unchanged") {
			t.Errorf("err %v, want a 502 with the federated hint", err)
		}
		if len(h.emu.CloudKeys()) != 1 {
			t.Error("a key was created")
		}
	})
	if h.mustRead("config/fed").Data["client_id"] != cloudID {
		t.Error("a refused rotation changed the config")
	}
	if msg, ok := badRequest(h.write("config/o", map[string]any{"rotation_period": "1h"})); !ok || !strings.Contains(msg, "rotation_period") {
		t.Errorf("rotation_period on oauth2: %s", msg)
	}
}

// A WAL entry naming a key no config holds is rolled back by deleting the
// key; one naming the config's key is rolled forward.
func TestRotateRootRollback(t *testing.T) {
	h := newHarness(t)
	h.rotatableConfig("c", nil)
	tok := h.bearer(cloudID, cloudSecret, "organization:"+fedOrgUUID)
	req, _ := http.NewRequest(http.MethodPost, h.emu.URL()+"/api/account/tokens", strings.NewReader(`{"label":"orphan"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := httpClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v %v", err, resp)
	}
	resp.Body.Close()
	var orphan emulator.CloudClient
	for _, k := range h.emu.CloudKeys() {
		h.secrets = append(h.secrets, k.Secret)
		if k.ID != cloudID {
			orphan = k
		}
	}
	own, _ := h.cloudKey(cloudID)
	for _, uuid := range []string{orphan.KeyUUID, own.KeyUUID} {
		if _, err := framework.PutWAL(context.Background(), h.storage, "api_key", map[string]any{"config": "c", "key_uuid": uuid}); err != nil {
			t.Fatal(err)
		}
	}
	if rb, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.RollbackOperation,
		Storage: h.storage, Data: map[string]any{"immediate": true}}); err != nil || (rb != nil && rb.IsError()) {
		t.Fatal(err, errText(rb))
	}
	if keys := h.emu.CloudKeys(); len(keys) != 1 || keys[0].ID != cloudID {
		t.Errorf("after rollback %d keys, want the config's only", len(keys))
	}
	if h.wals() != 0 {
		t.Errorf("%d WAL entries left", h.wals())
	}
}

// bearer fetches a Cloud token for id and secret with scope.
func (h *harness) bearer(id, secret, scope string) string {
	h.t.Helper()
	resp, err := httpClient.PostForm(h.emu.URL()+"/api/auth/oauth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {scope}})
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		h.t.Fatalf("token: %v", err)
	}
	h.secrets = append(h.secrets, out.AccessToken)
	return out.AccessToken
}

// On Vault Community the plugin runs rotation_period itself, from the
// periodic function, only on a node that can write; rotation_schedule is
// refused there.
func TestRotateRootAutomatedCommunity(t *testing.T) {
	h := newHarness(t)
	h.rotatableConfig("c", map[string]any{"rotation_period": "1h"})
	read := h.mustRead("config/c").Data
	if read["rotation_period"] != int64(3600) || read["disable_automated_rotation"] != false || read["rotation_schedule"] != "" ||
		read["last_rotated"] != h.clock.Now().UTC().Format(time.RFC3339) {
		t.Errorf("read %v", read)
	}
	msg, ok := badRequest(h.write("config/c", map[string]any{"rotation_schedule": "0 * * * *"}))
	if !ok || !strings.Contains(msg, "rotation_schedule") || !strings.Contains(msg, "Community") {
		t.Errorf("rotation_schedule on Community: %s", msg)
	}
	if h.mustRead("config/c").Data["rotation_period"] != int64(3600) {
		t.Error("a refused write changed the config")
	}
	for _, bad := range []map[string]any{{"rotation_period": "30s"}, {"rotation_period": "1h", "rotation_schedule": "0 * * * *"},
		{"rotation_window": "10m"}} {
		if msg, ok := badRequest(h.write("config/c", bad)); !ok {
			t.Errorf("%v: %s", bad, msg)
		}
	}

	clientID := func() string { return h.mustRead("config/c").Data["client_id"].(string) }
	h.clock.Advance(59 * time.Minute)
	h.periodic()
	if clientID() != cloudID {
		t.Fatal("rotated before rotation_period")
	}
	h.clock.Advance(2 * time.Minute)
	h.periodic()
	first := clientID()
	if first == cloudID {
		t.Fatal("not rotated after rotation_period")
	}
	h.cloudKey(first)
	if _, ok := h.cloudKey(cloudID); ok {
		t.Error("the old key lives on")
	}
	// The period runs from the last rotation.
	h.clock.Advance(59 * time.Minute)
	h.periodic()
	if clientID() != first {
		t.Fatal("rotated again before a period since the last rotation")
	}

	// Nothing upstream from a node that cannot write.
	h.b.Env().Writable = func() bool { return false }
	calls := h.emu.Requests("/api/")
	h.clock.Advance(2 * time.Hour)
	h.periodic()
	if n := h.emu.Requests("/api/") - calls; n != 0 || clientID() != first {
		t.Errorf("a read-only node made %d upstream calls", n)
	}
	h.b.Env().Writable = func() bool { return true }

	// Paused, then resumed.
	h.mustWrite("config/c", map[string]any{"disable_automated_rotation": true})
	h.periodic()
	if clientID() != first {
		t.Error("rotated while disable_automated_rotation")
	}
	h.mustWrite("config/c", map[string]any{"disable_automated_rotation": false})
	h.periodic()
	second := clientID()
	if second == first {
		t.Error("not rotated once resumed")
	}
	h.cloudKey(second)
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
	h := newHarness(t, func(c *logical.BackendConfig) { c.System = sys })
	h.rotatableConfig("c", map[string]any{"rotation_schedule": "0 3 * * *", "rotation_window": "1h"})
	job := sys.jobs["config/c"]
	if job == nil || job.RotationSchedule != "0 3 * * *" || job.RotationWindow != time.Hour || job.RotationPeriod != 0 {
		t.Fatalf("jobs %v", sys.jobs)
	}
	h.mustWrite("config/c", map[string]any{"rotation_period": "1h"})
	if job := sys.jobs["config/c"]; job.RotationPeriod != time.Hour || job.RotationSchedule != "" {
		t.Errorf("job after rotation_period: %+v", job)
	}
	h.clock.Advance(2 * time.Hour)
	h.periodic()
	if h.mustRead("config/c").Data["client_id"] != cloudID {
		t.Fatal("the plugin rotated a config the rotation manager runs")
	}
	if _, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.RotationOperation,
		Path: "config/c", Storage: h.storage}); err != nil {
		t.Fatal(err)
	}
	id := h.mustRead("config/c").Data["client_id"].(string)
	if id == cloudID {
		t.Fatal("the rotation manager's call did not rotate")
	}
	h.cloudKey(id)
	h.mustWrite("config/c", map[string]any{"rotation_period": 0})
	if len(sys.jobs) != 0 || len(sys.deregistered) != 1 {
		t.Errorf("jobs %v after clearing rotation_period, deregistered %v", sys.jobs, sys.deregistered)
	}
	h.mustWrite("config/c", map[string]any{"rotation_period": "24h"})
	if _, err := h.do(logical.DeleteOperation, "config/c", nil); err != nil {
		t.Fatal(err)
	}
	if len(sys.jobs) != 0 || len(sys.deregistered) != 2 {
		t.Errorf("jobs %v after delete, deregistered %v", sys.jobs, sys.deregistered)
	}
}
