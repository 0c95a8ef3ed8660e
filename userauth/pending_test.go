package userauth_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/userauth"
)

// codeAndDevice lets role "user" authorize by either flow.
func codeAndDevice(h *plugintest.Harness) {
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"device_authorization_url": h.Emu.URL() + "/oauth2/device_authorization",
		"revocation_url": h.Emu.URL() + "/oauth2/revoke", "authorize_url": h.Emu.URL() + "/oauth2/authorize"}))
	h.MustWrite("roles/user", map[string]any{"redirect_url": "https://vault.example/v1/acquia/callback"})
}

// The cap drops the oldest pending states, never the one just stored:
// 20 device authorizations living 30 minutes, then a code flow state
// living 10 minutes, which expires first but is the newest.
func TestCapKeepsTheNewestCodeState(t *testing.T) {
	h := deviceHarness(t)
	h.Emu.SetOAuth2DeviceTiming(5*time.Second, 30*time.Minute)
	codeAndDevice(h)
	for range userauth.MaxPendingStates {
		h.MustWrite("authorize/user", map[string]any{"flow": "device"})
	}
	resp := h.MustWrite("authorize/user", map[string]any{})
	if !h.Stored(userauth.StateKey(resp.Data["state"].(string))) {
		t.Fatal("authorize answered a state the cap had already deleted")
	}
	if n := pendingStates(t, h); n != userauth.MaxPendingStates {
		t.Errorf("%d pending states, want %d", n, userauth.MaxPendingStates)
	}
}

// Likewise for a device authorization whose code lives 5 minutes after 20
// code states of 10.
func TestCapKeepsTheNewestDeviceState(t *testing.T) {
	h := deviceHarness(t)
	codeAndDevice(h)
	h.Emu.SetOAuth2DeviceTiming(5*time.Second, 5*time.Minute)
	for range userauth.MaxPendingStates {
		h.MustWrite("authorize/user", map[string]any{})
	}
	h.MustWrite("authorize/user", map[string]any{"flow": "device"})
	keys, err := h.Storage.List(context.Background(), lifecycle.StatePrefix)
	if err != nil {
		t.Fatal(err)
	}
	devices := 0
	for _, k := range keys {
		p, _ := lifecycle.GetJSON[userauth.PendingAuth](context.Background(), h.Storage, lifecycle.StatePrefix+k, "state")
		if p != nil && p.DeviceCode != "" {
			devices++
		}
	}
	if devices != 1 {
		t.Fatalf("%d device states pending after a device authorize, want 1", devices)
	}
}

// An answer to an authorization whose holder now asks for other scopes
// (changed, or deleted and written again) stores nothing.
func TestDeviceAnswerAfterTheScopesChanged(t *testing.T) {
	for name, change := range map[string]func(h *plugintest.Harness){
		"scopes changed": func(h *plugintest.Harness) { h.MustWrite("roles/user", map[string]any{"scopes": "read"}) },
		"role written again": func(h *plugintest.Harness) {
			h.MustDelete("roles/user")
			h.MustWrite("roles/user", map[string]any{"config": "gen", "grant_type": "authorization_code", "scopes": "read"})
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := deviceHarness(t)
			code := startDevice(t, h)
			change(h)
			h.Emu.OAuth2DeviceAnswer(code, true)
			h.Clock.Advance(5 * time.Second)
			plugintest.WaitFor(t, "the state's end", func() bool { return pendingStates(t, h) == 0 })
			if authorized(h) {
				t.Error("the role holds an authorization for scopes it no longer asks for")
			}
			if n := h.Emu.OAuth2RefreshTokens(); n != 0 {
				t.Errorf("%d refresh tokens live upstream, want 0", n)
			}
		})
	}
}

// A device poll waiting on the token endpoint holds no lock a creds read
// of the same, already authorized, role needs.
func TestDevicePollHoldsNoRoleLock(t *testing.T) {
	h := plugintest.New(t)
	h.OAuth2Client()
	t.Cleanup(func() { h.B.Cleanup(context.Background()) })
	var hold atomic.Bool
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	target, _ := url.Parse(h.Emu.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		if hold.Load() && strings.Contains(string(b), "device_code=") {
			select {
			case arrived <- struct{}{}:
			default:
			}
			<-release
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	base := h.Emu.URL()
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"token_url": proxy.URL + "/oauth2/token",
		"device_authorization_url": base + "/oauth2/device_authorization", "revocation_url": base + "/oauth2/revoke"}))
	h.MustWrite("roles/user", map[string]any{"config": "gen", "grant_type": "authorization_code", "scopes": "read,write"})
	code := startDevice(t, h)
	h.Emu.OAuth2DeviceAnswer(code, true)
	h.Clock.Advance(5 * time.Second)
	plugintest.WaitFor(t, "the role's authorization", func() bool { return authorized(h) })

	startDevice(t, h) // a re-authorization, pending
	hold.Store(true)
	h.Clock.Advance(5 * time.Second)
	select {
	case <-arrived: // the poll waits at the token endpoint
	case <-time.After(20 * time.Second):
		t.Fatal("no device poll came")
	}
	read := make(chan error, 1)
	go func() {
		_, err := h.Read("creds/user")
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a creds read waited for a device poll held upstream")
	}
	close(release)
}
