package userauth_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/userauth"
)

// deviceHarness is a mount with an oauth2 config offering the device
// grant at the emulator, and an authorization_code role "user" without a
// redirect_url.
func deviceHarness(t *testing.T) *plugintest.Harness {
	h := plugintest.New(t)
	h.OAuth2Client()
	// The poller stops with the mount (h.B: the restarted one, if any).
	t.Cleanup(func() { h.B.Cleanup(context.Background()) })
	t.Cleanup(func() {
		h.Secrets = append(h.Secrets, h.Emu.OAuth2Credentials()...)
		h.Secrets = append(h.Secrets, h.Emu.OAuth2DeviceCodes()...)
	})
	base := h.Emu.URL()
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"device_authorization_url": base + "/oauth2/device_authorization",
		"revocation_url": base + "/oauth2/revoke"}))
	h.MustWrite("roles/user", map[string]any{"config": "gen", "grant_type": "authorization_code", "scopes": "read,write"})
	return h
}

func deviceOps(h *plugintest.Harness, op string) int { return h.Emu.Operations()["oauth2"][op] }

// startDevice runs authorize/user flow=device and checks the answer holds
// what RFC 8628 §3.2 names and no secret.
func startDevice(t *testing.T, h *plugintest.Harness) string {
	t.Helper()
	resp := h.MustWrite("authorize/user", map[string]any{"flow": "device"})
	for _, k := range []string{"user_code", "verification_uri", "verification_uri_complete", "expires_in", "interval", "expires_at"} {
		if _, ok := resp.Data[k]; !ok {
			t.Errorf("answer lacks %s: %v", k, resp.Data)
		}
	}
	if resp.Data["interval"] != int64(5) || resp.Data["expires_in"] != int64(600) {
		t.Errorf("interval %v expires_in %v, want 5 and 600", resp.Data["interval"], resp.Data["expires_in"])
	}
	assertNoSecret(t, h, resp)
	return resp.Data["user_code"].(string)
}

func assertNoSecret(t *testing.T, h *plugintest.Harness, resp *logical.Response) {
	t.Helper()
	b, _ := json.Marshal(resp)
	for _, s := range append(h.Emu.OAuth2DeviceCodes(), h.Emu.OAuth2Credentials()...) {
		if strings.Contains(string(b), s) {
			t.Fatal("a device code or refresh token reached an answer")
		}
	}
}

func pendingStates(t *testing.T, h *plugintest.Harness) int {
	t.Helper()
	keys, err := h.Storage.List(context.Background(), lifecycle.StatePrefix)
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

func authorized(h *plugintest.Harness) bool {
	return h.MustRead("roles/user").Data["authorized"] == true
}

// pollOnce moves the clock one interval on and waits for the poll.
func pollOnce(t *testing.T, h *plugintest.Harness, d time.Duration) {
	t.Helper()
	before := deviceOps(h, "device_token")
	h.Clock.Advance(d)
	plugintest.WaitFor(t, "a device token poll", func() bool { return deviceOps(h, "device_token") > before })
	plugintest.WaitFor(t, "the poll's outcome stored", func() bool { return settled(t, h) })
}

// settled reports whether every pending device authorization waits for a
// poll still to come: the poller has acted on the last answer.
func settled(t *testing.T, h *plugintest.Harness) bool {
	keys, err := h.Storage.List(context.Background(), lifecycle.StatePrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		p, err := lifecycle.GetJSON[userauth.PendingAuth](context.Background(), h.Storage, lifecycle.StatePrefix+k, "state")
		if err != nil {
			t.Fatal(err)
		}
		if p != nil && !p.NextPoll.After(h.Clock.Now()) {
			return false
		}
	}
	return true
}

func TestDeviceFlowApproved(t *testing.T) {
	h := deviceHarness(t)
	code := startDevice(t, h)
	if pendingStates(t, h) != 1 {
		t.Fatal("no pending state stored")
	}
	pollOnce(t, h, 5*time.Second) // authorization_pending
	if authorized(h) {
		t.Fatal("authorized before the user answered")
	}
	if !h.Emu.OAuth2DeviceAnswer(code, true) {
		t.Fatal("the emulator does not know the user code")
	}
	h.Clock.Advance(5 * time.Second)
	plugintest.WaitFor(t, "the role's authorization", func() bool { return authorized(h) })
	plugintest.WaitFor(t, "the state's deletion", func() bool { return pendingStates(t, h) == 0 })
	r := h.MustRead("creds/user")
	assertNoSecret(t, h, r)
	if got := strings.Join(r.Data["scopes"].([]string), " "); got != "read write" {
		t.Errorf("scopes %q", got)
	}
	if n := h.Emu.OAuth2RefreshTokens(); n != 1 {
		t.Errorf("%d live refresh tokens upstream, want 1", n)
	}

	// A second authorization replaces the first, whose refresh token is
	// revoked.
	code = startDevice(t, h)
	h.Emu.OAuth2DeviceAnswer(code, true)
	before := deviceOps(h, "device_token")
	h.Clock.Advance(5 * time.Second)
	plugintest.WaitFor(t, "the second authorization", func() bool { return pendingStates(t, h) == 0 && deviceOps(h, "device_token") > before })
	if n := h.Emu.OAuth2RefreshTokens(); n != 1 {
		t.Errorf("%d live refresh tokens upstream after the second authorization, want 1", n)
	}
	h.MustRead("creds/user")
}

func TestDeviceFlowDenied(t *testing.T) {
	h := deviceHarness(t)
	code := startDevice(t, h)
	h.Emu.OAuth2DeviceAnswer(code, false)
	pollOnce(t, h, 5*time.Second)
	plugintest.WaitFor(t, "the state's deletion", func() bool { return pendingStates(t, h) == 0 })
	if authorized(h) {
		t.Fatal("a denied authorization was stored")
	}
	if !strings.Contains(h.Logs.String(), "denied the device authorization") {
		t.Error("no log line says the user denied")
	}
}

func TestDeviceFlowExpires(t *testing.T) {
	h := deviceHarness(t)
	startDevice(t, h)
	pollOnce(t, h, 5*time.Second)
	polls := deviceOps(h, "device_token")
	h.Clock.Advance(11 * time.Minute)
	plugintest.WaitFor(t, "the expired state's deletion", func() bool { return pendingStates(t, h) == 0 })
	if deviceOps(h, "device_token") != polls {
		t.Error("an expired device code was polled for")
	}
	if authorized(h) {
		t.Fatal("authorized")
	}
}

// The server's expired_token (its clock ahead of Vault's) ends it too.
func TestDeviceFlowExpiredToken(t *testing.T) {
	h := deviceHarness(t)
	startDevice(t, h)
	h.Emu.Advance(time.Hour)
	pollOnce(t, h, 5*time.Second)
	plugintest.WaitFor(t, "the state's deletion", func() bool { return pendingStates(t, h) == 0 })
	if authorized(h) {
		t.Fatal("authorized")
	}
}

func TestDeviceFlowSlowDown(t *testing.T) {
	h := deviceHarness(t)
	code := startDevice(t, h)
	h.Emu.SetOAuth2DeviceSlowDown(true)
	pollOnce(t, h, 5*time.Second) // slow_down: the interval is now 10 s
	h.Emu.SetOAuth2DeviceSlowDown(false)
	polls := deviceOps(h, "device_token")
	h.Clock.Advance(5 * time.Second)
	time.Sleep(600 * time.Millisecond)
	if deviceOps(h, "device_token") != polls {
		t.Fatal("polled again 5 s after slow_down")
	}
	h.Emu.OAuth2DeviceAnswer(code, true)
	h.Clock.Advance(5 * time.Second)
	plugintest.WaitFor(t, "the role's authorization", func() bool { return authorized(h) })
	if !strings.Contains(h.Logs.String(), "slower polling") {
		t.Error("slow_down not logged")
	}
}

func TestDeviceFlowCap(t *testing.T) {
	h := deviceHarness(t)
	for i := 0; i < userauth.MaxPendingStates+3; i++ {
		startDevice(t, h)
	}
	if n := pendingStates(t, h); n != userauth.MaxPendingStates {
		t.Fatalf("%d pending states, want %d", n, userauth.MaxPendingStates)
	}
}

func TestDeviceFlowRefusals(t *testing.T) {
	h := deviceHarness(t)
	// A role whose config has no device_authorization_url.
	h.MustWrite("config/plain", h.OAuth2Data(map[string]any{"authorize_url": h.Emu.URL() + "/oauth2/authorize"}))
	h.MustWrite("roles/code", map[string]any{"config": "plain", "grant_type": "authorization_code",
		"redirect_url": plugintest.SourceCallback})
	if msg, ok := plugintest.BadRequest(h.Write("authorize/code", map[string]any{"flow": "device"})); !ok ||
		!strings.Contains(msg, "device_authorization_url") {
		t.Errorf("flow=device without device_authorization_url: %s", msg)
	}
	// The code flow for a role without redirect_url.
	if msg, ok := plugintest.BadRequest(h.Write("authorize/user", nil)); !ok || !strings.Contains(msg, "flow=device") {
		t.Errorf("code flow without redirect_url: %s", msg)
	}
	if msg, ok := plugintest.BadRequest(h.Write("authorize/code", map[string]any{"flow": "sideways"})); !ok || !strings.Contains(msg, "flow") {
		t.Errorf("an unknown flow: %s", msg)
	}
	// A client_credentials role.
	h.MustWrite("roles/cc", map[string]any{"config": "gen"})
	if _, ok := plugintest.BadRequest(h.Write("authorize/cc", map[string]any{"flow": "device"})); !ok {
		t.Error("flow=device for a client_credentials role")
	}
	// No redirect_url and no device endpoint.
	if msg, ok := plugintest.BadRequest(h.Write("roles/x", map[string]any{"config": "plain", "grant_type": "authorization_code"})); !ok ||
		!strings.Contains(msg, "redirect_url") {
		t.Errorf("role without redirect_url nor device endpoint: %s", msg)
	}
	// The device endpoint refuses the client: a 400 naming it, nothing stored.
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"client_id": "nobody", "verify": false,
		"device_authorization_url": h.Emu.URL() + "/oauth2/device_authorization"}))
	if resp, err := h.Write("authorize/user", map[string]any{"flow": "device"}); err == nil && (resp == nil || !resp.IsError()) {
		t.Error("a refused device authorization answered success")
	}
	if pendingStates(t, h) != 0 {
		t.Error("a refused device authorization left a state")
	}
}

// A node that cannot write asks nothing upstream: its authorize is handed
// to the active node, and its periodic function polls for nothing.
func TestDeviceFlowStandbyDoesNothingUpstream(t *testing.T) {
	h := deviceHarness(t)
	startDevice(t, h)
	n := h.Node(consts.ReplicationPerformanceStandby, false)
	before := deviceOps(h, "device_authorization")
	_, err := n.Handle(&logical.Request{Operation: logical.UpdateOperation, Path: "authorize/user", Data: map[string]any{"flow": "device"}})
	if err == nil || !strings.Contains(err.Error(), logical.ErrReadOnly.Error()) {
		t.Errorf("standby authorize: %v, want ErrReadOnly", err)
	}
	if deviceOps(h, "device_authorization") != before {
		t.Error("a standby called the device authorization endpoint")
	}
	// The active node stops (step-down); the standby's periodic runs.
	h.B.Cleanup(context.Background())
	polls := deviceOps(h, "device_token")
	if err := n.B.PeriodicFunc(context.Background(), &logical.Request{Storage: n.Storage}); err != nil {
		t.Fatal(err)
	}
	h.Clock.Advance(10 * time.Second)
	time.Sleep(600 * time.Millisecond)
	if deviceOps(h, "device_token") != polls {
		t.Error("a standby polled the token endpoint")
	}
	if pendingStates(t, h) != 1 {
		t.Error("the pending state was lost")
	}
}

// A restart during the wait: the new mount's initialize resumes polling.
func TestDeviceFlowResumesAfterRestart(t *testing.T) {
	h := deviceHarness(t)
	code := startDevice(t, h)
	pollOnce(t, h, 5*time.Second)
	h.B.Cleanup(context.Background()) // the poller stops with the mount
	polls := deviceOps(h, "device_token")
	h.Clock.Advance(5 * time.Second)
	time.Sleep(400 * time.Millisecond)
	if deviceOps(h, "device_token") != polls {
		t.Fatal("a cleaned-up mount polled")
	}
	n := h.NewNode()
	t.Cleanup(func() { n.Cleanup(context.Background()) })
	h.B = n
	if err := n.Initialize(context.Background(), &logical.InitializationRequest{Storage: h.Storage}); err != nil {
		t.Fatal(err)
	}
	h.Emu.OAuth2DeviceAnswer(code, true)
	h.Clock.Advance(5 * time.Second)
	plugintest.WaitFor(t, "the authorization on the restarted mount", func() bool { return authorized(h) })
	h.MustRead("creds/user")
}

// A static role's device authorization mints its first token.
func TestDeviceFlowStaticRole(t *testing.T) {
	h := deviceHarness(t)
	h.MustWrite("static-roles/s", map[string]any{"config": "gen", "grant_type": "authorization_code", "scopes": "read"})
	resp := h.MustWrite("authorize/s", map[string]any{"flow": "device"})
	h.Emu.OAuth2DeviceAnswer(resp.Data["user_code"].(string), true)
	h.Clock.Advance(5 * time.Second)
	plugintest.WaitFor(t, "the static role's first token", func() bool {
		r, err := h.Read("static-creds/s")
		return err == nil && r != nil && !r.IsError()
	})
}

// A poll that fails for now (a 500) is tried again at the next interval.
func TestDeviceFlowTransientFailure(t *testing.T) {
	h := deviceHarness(t)
	code := startDevice(t, h)
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Status: 500, Times: 1})
	pollOnce(t, h, 5*time.Second)
	if pendingStates(t, h) != 1 {
		t.Fatal("a failed poll dropped the pending authorization")
	}
	h.Emu.OAuth2DeviceAnswer(code, true)
	h.Clock.Advance(5 * time.Second)
	plugintest.WaitFor(t, "the role's authorization", func() bool { return authorized(h) })
}

// A role deleted during the wait gets nothing: the approval's tokens are
// not kept and the state goes.
func TestDeviceFlowRoleDeletedMeanwhile(t *testing.T) {
	h := deviceHarness(t)
	code := startDevice(t, h)
	h.MustDelete("roles/user")
	h.Emu.OAuth2DeviceAnswer(code, true)
	h.Clock.Advance(5 * time.Second)
	plugintest.WaitFor(t, "the state's deletion", func() bool { return pendingStates(t, h) == 0 })
	if h.Stored(lifecycle.RoleTokenPrefix + "user") {
		t.Fatal("a deleted role holds an authorization")
	}
}

// device_authorization_url says where the secret goes: changing it takes
// client_secret again.
func TestDeviceAuthorizationURLIsADestination(t *testing.T) {
	h := deviceHarness(t)
	msg, ok := plugintest.BadRequest(h.Write("config/gen", map[string]any{"device_authorization_url": "https://elsewhere.example.com/device"}))
	if !ok || !strings.Contains(msg, "client_secret") {
		t.Errorf("moving device_authorization_url without the secret: %s", msg)
	}
	if msg, ok := plugintest.BadRequest(h.Write("config/gen", map[string]any{"device_authorization_url": "http://idp.example.com/device",
		"client_secret": plugintest.OAuthSecret})); !ok || !strings.Contains(msg, "device_authorization_url") {
		t.Errorf("an http device_authorization_url off loopback: %s", msg)
	}
}

// The device grant for a client that authenticates with private_key_jwt:
// the device authorization request and each poll carry a client
// assertion, which the emulator verifies, and no secret.
func TestDeviceFlowWithPrivateKeyJWT(t *testing.T) {
	h := plugintest.New(t)
	t.Cleanup(func() { h.B.Cleanup(context.Background()) })
	t.Cleanup(func() {
		h.Secrets = append(h.Secrets, h.Emu.OAuth2Credentials()...)
		h.Secrets = append(h.Secrets, h.Emu.OAuth2DeviceCodes()...)
	})
	base := h.Emu.URL()
	h.MustWrite("config/jwt", h.OAuth2JWTData(map[string]any{"generate_key": true,
		"device_authorization_url": base + "/oauth2/device_authorization"}))
	h.RegisterJWKS("jwt")
	h.MustWrite("roles/user", map[string]any{"config": "jwt", "grant_type": "authorization_code", "scopes": "read"})
	resp := h.MustWrite("authorize/user", map[string]any{"flow": "device"})
	assertNoSecret(t, h, resp)
	if !h.Emu.OAuth2DeviceAnswer(resp.Data["user_code"].(string), true) {
		t.Fatal("the emulator does not know the user code")
	}
	h.Clock.Advance(5 * time.Second)
	plugintest.WaitFor(t, "the role's authorization", func() bool { return authorized(h) })
	tok := h.MustRead("creds/user").Data["access_token"].(string)
	if !h.Emu.TokenLive(tok) {
		t.Error("the token of the device-authorized role is not live upstream")
	}
}
