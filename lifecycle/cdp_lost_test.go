package lifecycle_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// A CDP create whose answer is lost made a token that takes one of the
// user's slots for months. The plugin asks CDP's retrieve call before the
// create and again after it: where the answer proves which token the lost
// create made (not the one answered before, held by nothing, issued within
// the call), it deletes it; otherwise (retrieve answers the oldest or the
// initial token, which may be another consumer's) it counts the token
// against max_tokens until it is dead, and never deletes a token it cannot
// prove it made. revoke-all frees the count.
func TestCDPLostCreate(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		found bool
	}{{emulator.CDPRetrieveNewest, true}, {emulator.CDPRetrieveOldest, false}, {emulator.CDPRetrieveInitial, false}} {
		t.Run(tc.mode, func(t *testing.T) {
			h := plugintest.New(t)
			h.Emu.SetCDPRetrieve(tc.mode)
			h.CDPSetup(2, h.Clock.Now().Add(365*24*time.Hour))
			initial := h.Emu.CDPInitialToken(plugintest.CDPUser)
			h.Emu.InjectFault(emulator.Fault{PathPrefix: "/token", Method: http.MethodPost, Lose: true})
			if _, err := h.Read("creds/sync"); err == nil {
				t.Fatal("a read whose create answer was lost succeeded")
			}
			for _, tok := range h.Emu.LiveTokens("cdp") {
				h.Secrets = append(h.Secrets, tok.Value)
			}
			if !h.Emu.TokenLive(initial) {
				t.Fatal("the token CDP made with the user was deleted")
			}
			if tc.found {
				if n, lost := h.CDPLive(), h.LostTokens("cdp"); n != 0 || lost != 0 {
					t.Fatalf("%d live tokens and lost_tokens %d, want the lost create's token found and deleted", n, lost)
				}
				h.MustRead("creds/sync")
				h.MustRead("creds/sync")
				return
			}
			if n, lost := h.CDPLive(), h.LostTokens("cdp"); n != 1 || lost != 1 {
				t.Fatalf("%d live tokens and lost_tokens %d, want the token kept and counted", n, lost)
			}
			// One slot of two is taken: one read, then max_tokens.
			h.MustRead("creds/sync")
			if msg, ok := plugintest.BadRequest(h.Read("creds/sync")); !ok || !strings.Contains(msg, "max_tokens") {
				t.Errorf("a read past the slot the lost token takes: %q, want a 400 naming max_tokens", msg)
			}
			// A config that counts a lost token cannot be deleted; revoke-all frees it.
			h.MustWrite("config/cdp/revoke-all", nil)
			if lost := h.LostTokens("cdp"); lost != 0 {
				t.Errorf("lost_tokens %d after revoke-all", lost)
			}
		})
	}
}

// The create's answer is lost and the WAL entry stays (its delete failed):
// the rollback finds the token the same way.
func TestCDPLostCreateFoundByTheRollback(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(2, h.Clock.Now().Add(365*24*time.Hour))
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/token", Method: http.MethodPost, Lose: true})
	broken := &plugintest.FlakyStorage{Storage: h.Storage, Prefix: "wal/", Op: "delete", N: 1}
	resp, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "creds/sync", Storage: broken})
	if err == nil && !resp.IsError() {
		t.Fatal("a read whose create answer was lost succeeded")
	}
	for _, tok := range h.Emu.LiveTokens("cdp") {
		h.Secrets = append(h.Secrets, tok.Value)
	}
	if h.CDPLive() != 1 || h.Wals() != 1 {
		t.Fatalf("%d live tokens and %d WAL entries, want the token and the entry left", h.CDPLive(), h.Wals())
	}
	h.Rollback()
	if n, lost := h.CDPLive(), h.LostTokens("cdp"); n != 0 || lost != 0 || h.Wals() != 0 {
		t.Errorf("after the rollback: %d live tokens, lost_tokens %d, %d WAL entries; want none", n, lost, h.Wals())
	}
}

// A create the upstream finishes after the plugin gave up cannot be told
// apart from another consumer's: it is counted, not deleted.
func TestCDPLateCreateIsCounted(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(2, h.Clock.Now().Add(365*24*time.Hour))
	h.MustWrite("config/cdp", map[string]any{"request_timeout": "1s"})
	h.Emu.InjectFault(emulator.Fault{PathPrefix: "/token", Method: http.MethodPost, HandleAfter: 1500 * time.Millisecond})
	if _, err := h.Read("creds/sync"); err == nil {
		t.Fatal("a read whose create answer came late succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.CDPLive() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the late create never landed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tok := range h.Emu.LiveTokens("cdp") {
		h.Secrets = append(h.Secrets, tok.Value)
	}
	if lost := h.LostTokens("cdp"); lost != 1 {
		t.Errorf("lost_tokens %d, want the late create counted", lost)
	}
}

// A create's answer is lost, the calls that would find its token answer
// no better, and the record that would count it cannot be written: the
// plugin tries again, finding the token once the upstream answers; while
// nothing succeeds, a WAL entry stays, whose rollback counts the token.
func TestCDPLostCreateCountedOverFailingStorage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults int
		wals   int
	}{{"upstream answers again", 3, 0}, {"nothing succeeds", 20, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			h := plugintest.New(t)
			h.CDPSetup(3, h.Clock.Now().Add(365*24*time.Hour))
			// The create is made and its answer unreadable; so are the
			// retrieve calls that would find it, tc.faults in all.
			h.Emu.InjectFault(emulator.Fault{PathPrefix: "/token", Body: "{not json", Handled: true, Times: tc.faults})
			broken := &plugintest.FlakyStorage{Storage: h.Storage, Prefix: "tokens/", Op: "put", N: 1}
			resp, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation,
				Path: "creds/sync", Storage: broken})
			if err == nil && !resp.IsError() {
				t.Fatal("a read whose create answer was lost succeeded")
			}
			h.Emu.ClearFaults()
			for _, tok := range h.Emu.LiveTokens("cdp") {
				h.Secrets = append(h.Secrets, tok.Value)
			}
			if h.Wals() != tc.wals {
				t.Fatalf("%d WAL entries, want %d\n%s", h.Wals(), tc.wals, h.Logs.String())
			}
			if tc.wals > 0 {
				h.Rollback()
			}
			// The initial token CDP made with the user is live too.
			if live, counted := h.CDPLive()-1, h.LostTokens("cdp"); live > counted || h.Wals() != 0 {
				t.Errorf("%d lost tokens live upstream, %d counted, %d WAL entries", live, counted, h.Wals())
			}
		})
	}
}
