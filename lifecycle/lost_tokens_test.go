package lifecycle_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// A token request whose answer is lost may have minted a token that no
// lease holds: acronis and oauth2 cannot list tokens, so the plugin counts
// it in lost_tokens for one token lifetime (the longest its config's
// tokens have had), after which such a token is dead. The emulator hangs
// up here without minting: from the plugin's side the two are the same.
func TestLostTokensAreCountedForOneLifetime(t *testing.T) {
	for _, c := range []struct {
		name, config, role, tokenPath string
		lifetime                      time.Duration
		setup                         func(h *plugintest.Harness)
	}{
		{"acronis", "acr", "backup", "/bc/idp/token", 2 * time.Hour, func(h *plugintest.Harness) { h.AcronisSetup(nil) }},
		{"oauth2", "gen", "r", "/oauth2/token", time.Hour, func(h *plugintest.Harness) {
			h.OAuth2Client()
			h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"revocation_url": h.Emu.URL() + "/oauth2/revoke"}))
			h.MustWrite("roles/r", map[string]any{"config": "gen"})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := plugintest.New(t)
			c.setup(h)
			h.MustRead("creds/" + c.role)
			// A restart forgets nothing the bound needs.
			h.Restart()
			if n := h.LostTokens(c.config); n != 0 {
				t.Fatalf("lost_tokens %d before any loss", n)
			}
			h.Emu.InjectFault(emulator.Fault{PathPrefix: c.tokenPath, Lose: true})
			if _, err := h.Read("creds/" + c.role); err == nil {
				t.Fatal("a read whose answer was lost succeeded")
			}
			if n := h.LostTokens(c.config); n != 1 {
				t.Errorf("lost_tokens %d, want 1", n)
			}
			// A refused request minted nothing: not counted.
			h.Emu.InjectFault(emulator.Fault{PathPrefix: c.tokenPath, Status: 503, Times: 20})
			_, _ = h.Read("creds/" + c.role)
			h.Emu.ClearFaults()
			if n := h.LostTokens(c.config); n != 1 {
				t.Errorf("lost_tokens %d after a refused request, want 1", n)
			}
			h.Clock.Advance(c.lifetime - time.Minute)
			if n := h.LostTokens(c.config); n != 1 {
				t.Errorf("lost_tokens %d before the bound (%s), want 1", n, c.lifetime)
			}
			h.Clock.Advance(2 * time.Minute)
			if n := h.LostTokens(c.config); n != 0 {
				t.Errorf("lost_tokens %d after the bound, want 0", n)
			}
		})
	}
}

// A create that stopped before its answer was read (the process ended)
// leaves a WAL entry without a token; its rollback counts the token it may
// have minted.
func TestLostTokenCountedByTheRollback(t *testing.T) {
	h := plugintest.New(t)
	h.AcronisSetup(nil)
	ctx := context.Background()
	if _, err := framework.PutWAL(ctx, h.Storage, "upstream_token", map[string]any{"config": "acr", "role": "backup"}); err != nil {
		t.Fatal(err)
	}
	resp, err := h.B.HandleRequest(ctx, &logical.Request{Operation: logical.RollbackOperation, Storage: h.Storage,
		Data: map[string]any{"immediate": true}})
	if err != nil || resp.IsError() {
		t.Fatal(err, plugintest.ErrText(resp))
	}
	if n := h.LostTokens("acr"); n != 1 {
		t.Errorf("lost_tokens %d after the rollback, want 1", n)
	}
	if h.Wals() != 0 {
		t.Error("the WAL entry stays")
	}
}

// Found by TestStateful: a gateway's 502 after the token endpoint minted
// a token left that token live upstream, held by nothing and not counted.
// A 5xx but 503 may come after the work: it counts as a lost answer; a
// 503 says the server did nothing.
func TestStatefulGateway5xxAfterTheMintIsCounted(t *testing.T) {
	h := plugintest.New(t)
	h.OAuth2Client()
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"revocation_url": h.Emu.URL() + "/oauth2/revoke"}))
	h.MustWrite("roles/r", map[string]any{"config": "gen"})
	for i, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout} {
		h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Status: status, Handled: true})
		if _, err := h.Read("creds/r"); err == nil {
			t.Fatalf("a read answered %d succeeded", status)
		}
		if live, n := len(h.Emu.LiveTokens("oauth2")), h.LostTokens("gen"); live != i+1 || n != live {
			t.Errorf("after a %d: %d live tokens upstream, lost_tokens %d; want every one counted", status, live, n)
		}
	}
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Status: http.StatusServiceUnavailable, Times: 20})
	_, _ = h.Read("creds/r")
	h.Emu.ClearFaults()
	if n := h.LostTokens("gen"); n != 3 {
		t.Errorf("lost_tokens %d after 503s, want 3", n)
	}
}

// Found by TestStateful: an answer lost before the config was ever
// answered a token was counted for the 5 minutes an oauth2 answer without
// expires_in is assumed to last, while the token lived an hour. Until a
// lifetime is known the bound is a day; a longer one learnt later extends
// the records already kept.
func TestStatefulLostBeforeAnyLifetimeIsKnown(t *testing.T) {
	h := plugintest.New(t)
	h.OAuth2Client()
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"revocation_url": h.Emu.URL() + "/oauth2/revoke"}))
	h.MustWrite("roles/r", map[string]any{"config": "gen"})
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Lose: true})
	if _, err := h.Read("creds/r"); err == nil {
		t.Fatal("a read whose answer was lost succeeded")
	}
	h.Clock.Advance(30 * time.Minute)
	if live, n := len(h.Emu.LiveTokens("oauth2")), h.LostTokens("gen"); live != 1 || n != 1 {
		t.Fatalf("%d live tokens and lost_tokens %d half an hour on, want 1 and 1", live, n)
	}
	h.Clock.Advance(24 * time.Hour)
	if n := h.LostTokens("gen"); n != 0 {
		t.Errorf("lost_tokens %d a day on, want 0", n)
	}
}

// Found by TestStateful: a config write whose verify lost the answer to
// its token request left that token live upstream, held by nothing and
// not counted. The write fails and stores no config, and the token is
// counted under the config's name.
func TestStatefulVerifyLostAnswerIsCounted(t *testing.T) {
	h := plugintest.New(t)
	h.OAuth2Client()
	data := h.OAuth2Data(map[string]any{"revocation_url": h.Emu.URL() + "/oauth2/revoke"})
	h.MustWrite("config/gen", data)
	if live := len(h.Emu.LiveTokens("oauth2")); live != 0 {
		t.Fatalf("verify left %d live tokens", live)
	}
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Lose: true})
	if resp, err := h.Write("config/gen", map[string]any{"request_timeout": "10s"}); err == nil && (resp == nil || !resp.IsError()) {
		t.Fatal("a write whose verify lost its answer succeeded")
	}
	if got := h.MustRead("config/gen").Data["request_timeout"]; got == 10 {
		t.Error("the failed write stored the config")
	}
	if live, n := len(h.Emu.LiveTokens("oauth2")), h.LostTokens("gen"); live != 1 || n != 1 {
		t.Errorf("%d live tokens, lost_tokens %d; want the token counted", live, n)
	}
}

// Found by TestStateful: a config deleted while it counted lost tokens
// said nothing of them. The delete warns, and the records stay.
func TestStatefulConfigDeleteWarnsOfLostTokens(t *testing.T) {
	h := plugintest.New(t)
	h.OAuth2Client()
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"revocation_url": h.Emu.URL() + "/oauth2/revoke"}))
	h.MustWrite("roles/r", map[string]any{"config": "gen"})
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/oauth2/token", Lose: true})
	_, _ = h.Read("creds/r")
	h.MustWrite("roles/r", map[string]any{"config": "gen"})
	if _, err := h.Do(logical.DeleteOperation, "roles/r", nil); err != nil {
		t.Fatal(err)
	}
	resp, err := h.Do(logical.DeleteOperation, "config/gen", nil)
	if err != nil || resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "1 token request(s)") {
		t.Fatalf("delete: %v %v, want a warning of the lost token", err, resp)
	}
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"revocation_url": h.Emu.URL() + "/oauth2/revoke"}))
	if n := h.LostTokens("gen"); n != 1 {
		t.Errorf("lost_tokens %d once the config is written again, want 1", n)
	}
}
