package plugintest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// emuFederatedOnly is an API key whose only organization uses federated
// authentication.
func EmuFederatedOnly() emulator.CloudClient {
	return emulator.CloudClient{ID: "fed-key", Secret: "fed-secret", Orgs: []string{FedOrgUUID}, FederatedOrgs: []string{FedOrgUUID}}
}

// keyReading is one reading of the Cloud key API that its spec leaves
// open, and the key the config starts from under it.
type KeyReading struct {
	Name string
	V    emulator.CloudKeyVariants
}

// readingKey is the uuid-shaped key a config starts from under the
// uuid = client id reading.
const ReadingKey = "3f2e1d0c-9b8a-4776-8554-433221100fed"

// keyConfig sets the emulator to reading r and writes config name with a
// key of that reading and its key_uuid; it returns the key's client id
// and secret. The harness's own key is removed, so every live key
// upstream is this user's.
func (h *Harness) KeyConfig(name string, r KeyReading) (string, string) {
	h.T.Helper()
	h.Emu.SetCloudKeyVariants(r.V)
	id, uuid := CloudID, ""
	if r.V.UUIDIsClientID {
		old, _ := h.CloudKey(CloudID)
		h.Emu.RemoveCloudClient(CloudID)
		id, uuid = ReadingKey, ReadingKey
		h.Emu.AddCloudClient(emulator.CloudClient{ID: id, Secret: CloudSecret, KeyUUID: uuid, Orgs: old.Orgs, FederatedOrgs: old.FederatedOrgs})
	}
	k, _ := h.CloudKey(id)
	h.CloudConfig(name, map[string]any{"client_id": id, "key_uuid": k.KeyUUID, "scopes": "organization:" + FedOrgUUID})
	return id, CloudSecret
}

// oneLiveKey checks the account holds exactly the config's key, which
// fetches tokens, and that every earlier secret is refused.
func (h *Harness) OneLiveKey(config string, earlier map[string]string) {
	h.T.Helper()
	keys := h.Emu.CloudKeys()
	id, _ := h.MustRead("config/" + config).Data["client_id"].(string)
	if len(keys) != 1 || keys[0].ID != id {
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		h.T.Fatalf("live keys %v, want only the config's %s", ids, id)
	}
	h.Secrets = append(h.Secrets, keys[0].Secret)
	if st := h.TokenStatus(id, keys[0].Secret); st != http.StatusOK {
		h.T.Errorf("the config's key gets %d", st)
	}
	for oldID, secret := range earlier {
		if oldID == id {
			continue
		}
		if st := h.TokenStatus(oldID, secret); st != http.StatusUnauthorized {
			h.T.Errorf("an earlier secret (client_id %s) gets %d, want 401", oldID, st)
		}
	}
	if h.Wals() != 0 {
		h.T.Errorf("%d WAL entries left", h.Wals())
	}
}

// sameUserKey creates, through the key API with key id, another key of
// the same user (a CI pipeline's), and returns its uuid.
func (h *Harness) SameUserKey(id, secret string) string {
	h.T.Helper()
	tok := h.Bearer(id, secret, "organization:"+FedOrgUUID)
	req, _ := http.NewRequest(http.MethodPost, h.Emu.URL()+"/api/account/tokens", strings.NewReader(`{"label":"ci pipeline"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := HTTPClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		h.T.Fatalf("creating the CI key: %v %v", err, resp)
	}
	var out struct {
		ClientID string `json:"client_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	k, ok := h.CloudKey(out.ClientID)
	if !ok {
		h.T.Fatal("the CI key is not live")
	}
	return k.KeyUUID
}

// newestSecret is the secret of the config c's key.
func (h *Harness) NewestSecret() string {
	h.T.Helper()
	k, _ := h.CloudKey(h.MustRead("config/c").Data["client_id"].(string))
	return k.Secret
}

// crash stops a rotation at step, as a killed process would: nothing after
// it runs, and what was stored stays.
type Crash struct{ Step string }

func (h *Harness) RotateCrashingAt(name, step string) {
	h.T.Helper()
	h.B.Env().RotateRootStep = func(s string) {
		if s == step {
			panic(Crash{step})
		}
	}
	defer func() {
		h.B.Env().RotateRootStep = nil
		if r := recover(); r != nil {
			if _, ok := r.(Crash); !ok {
				panic(r)
			}
		}
	}()
	resp, err := h.Rotate(name)
	h.T.Fatalf("the rotation did not reach step %q: err=%v resp=%v", step, err, ErrText(resp))
}

// restart builds a new backend on the same storage, as a restarted Vault
// does; the emulator and the clock stay.
func (h *Harness) Restart() {
	h.T.Helper()
	h.B = h.NewNode()
}

func (h *Harness) Rollback() {
	h.T.Helper()
	resp, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.RollbackOperation,
		Storage: h.Storage, Data: map[string]any{"immediate": true}})
	if err != nil || (resp != nil && resp.IsError()) {
		h.T.Fatal(err, ErrText(resp))
	}
}

// cloudKey is the emulator's live key with client id id.
func (h *Harness) CloudKey(id string) (emulator.CloudClient, bool) {
	h.T.Helper()
	for _, k := range h.Emu.CloudKeys() {
		h.Secrets = append(h.Secrets, k.Secret)
		if k.ID == id {
			return k, true
		}
	}
	return emulator.CloudClient{}, false
}

// rotatableConfig writes a cloud config that knows its key's uuid. The
// harness key is in a federated organization, so the Cloud API (key
// management included) wants that organization as scope.
func (h *Harness) RotatableConfig(name string, extra map[string]any) string {
	h.T.Helper()
	k, _ := h.CloudKey(CloudID)
	data := map[string]any{"key_uuid": k.KeyUUID, "scopes": "organization:" + FedOrgUUID}
	for key, v := range extra {
		data[key] = v
	}
	h.CloudConfig(name, data)
	return k.KeyUUID
}

func (h *Harness) Rotate(name string) (*logical.Response, error) {
	h.T.Helper()
	resp, err := h.Do(logical.UpdateOperation, "config/"+name+"/rotate", nil)
	if resp != nil && !resp.IsError() {
		if id, ok := resp.Data["client_id"].(string); ok {
			h.CloudKey(id) // collects the new secret for the log check
		}
	}
	return resp, err
}

// tokenStatus asks the emulator's token endpoint for a token with id and
// secret, as any client of the key would.
func (h *Harness) TokenStatus(id, secret string) int {
	h.T.Helper()
	resp, err := HTTPClient.PostForm(h.Emu.URL()+"/api/auth/oauth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if err != nil {
		h.T.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (h *Harness) Periodic() {
	h.T.Helper()
	if err := h.B.PeriodicFunc(context.Background(), &logical.Request{Storage: h.Storage}); err != nil {
		h.T.Fatal(err)
	}
}

func (h *Harness) Wals() int {
	h.T.Helper()
	ids, err := framework.ListWAL(context.Background(), h.Storage)
	if err != nil {
		h.T.Fatal(err)
	}
	return len(ids)
}

// bearer fetches a Cloud token for id and secret with scope.
func (h *Harness) Bearer(id, secret, scope string) string {
	h.T.Helper()
	resp, err := HTTPClient.PostForm(h.Emu.URL()+"/api/auth/oauth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {scope}})
	if err != nil {
		h.T.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		h.T.Fatalf("token: %v", err)
	}
	h.Secrets = append(h.Secrets, out.AccessToken)
	return out.AccessToken
}
