package paths_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

func TestCredsCloudLease(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/deploy", map[string]any{"config": "c", "ttl": "1h"})
	issued := h.Clock.Now()
	resp := h.MustRead("creds/deploy")

	tok := resp.Data["access_token"].(string)
	if tok == "" || resp.Data["token_type"] != "Bearer" {
		t.Fatalf("data: %#v", resp.Data)
	}
	if !h.Emu.TokenLive(tok) {
		t.Fatal("the emulator does not know the token")
	}
	exp, err := time.Parse(time.RFC3339, resp.Data["expires_at"].(string))
	if err != nil || !exp.Equal(issued.Add(300*time.Second)) {
		t.Errorf("expires_at %v, want %v", resp.Data["expires_at"], issued.Add(300*time.Second))
	}
	if resp.Secret.TTL != 300*time.Second {
		t.Errorf("TTL %s, want the upstream 300s", resp.Secret.TTL)
	}
	if resp.Secret.MaxTTL > 300*time.Second {
		t.Errorf("MaxTTL %s past upstream expiry", resp.Secret.MaxTTL)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "cut") {
		t.Errorf("want one warning about the cut TTL, got %v", resp.Warnings)
	}
	if _, ok := resp.Secret.InternalData["access_token"]; ok {
		t.Error("cloud leases need not keep the token")
	}

	// Renew after 200 s: at most the 100 s left upstream.
	h.Clock.Advance(200 * time.Second)
	r, err := h.Renew(resp, issued)
	if err != nil || r.IsError() {
		t.Fatalf("renew: %v %v", err, plugintest.ErrText(r))
	}
	if r.Secret.TTL != 100*time.Second {
		t.Errorf("renewed TTL %s, want 100s", r.Secret.TTL)
	}
	// Past expiry: refused.
	h.Clock.Advance(101 * time.Second)
	r, err = h.Renew(resp, issued)
	if err == nil && (r == nil || !r.IsError()) {
		t.Fatalf("renew past upstream expiry succeeded: %#v", r)
	}
	if h.Emu.TokenLive(tok) {
		t.Error("the emulator still accepts a token past 300 s")
	}
	// Revoke always succeeds, twice too.
	for i := 0; i < 2; i++ {
		if r, err := h.Revoke(resp); err != nil || (r != nil && r.IsError()) {
			t.Fatalf("revoke %d: %v %v", i, err, plugintest.ErrText(r))
		}
	}
}

func TestCredsShortRoleTTLNoWarning(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/short", map[string]any{"config": "c", "ttl": "60s", "max_ttl": "120s"})
	issued := h.Clock.Now()
	resp := h.MustRead("creds/short")
	if resp.Secret.TTL != 60*time.Second || resp.Secret.MaxTTL != 120*time.Second || len(resp.Warnings) != 0 {
		t.Errorf("TTL %s MaxTTL %s warnings %v", resp.Secret.TTL, resp.Secret.MaxTTL, resp.Warnings)
	}
	h.Clock.Advance(30 * time.Second)
	r, err := h.Renew(resp, issued)
	if err != nil || r.IsError() || r.Secret.TTL != 60*time.Second || r.Secret.MaxTTL != 120*time.Second {
		t.Errorf("renew: %v %v %+v", err, plugintest.ErrText(r), r.Secret)
	}
}

func TestCredsScopes(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", map[string]any{"scopes": "organization:" + plugintest.FedOrgUUID})
	h.MustWrite("roles/cfg-scope", map[string]any{"config": "c"})
	h.MustWrite("roles/own-scope", map[string]any{"config": "c", "scopes": "organization:" + plugintest.OrgUUID})
	for role, want := range map[string]string{"cfg-scope": plugintest.FedOrgUUID, "own-scope": plugintest.OrgUUID} {
		resp := h.MustRead("creds/" + role)
		s, _ := resp.Data["scopes"].([]string)
		if len(s) != 1 || s[0] != "organization:"+want {
			t.Errorf("%s: scopes %v", role, s)
		}
		tok := resp.Data["access_token"].(string)
		if et, ok := h.Emu.Token(tok); !ok || et.Service != "cloud" {
			t.Errorf("%s: token not issued by the emulator", role)
		} else if et.Scope != "organization:"+want {
			t.Errorf("%s: upstream granted %q", role, et.Scope)
		}
	}
}

func TestCredsErrors(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", map[string]any{"request_timeout": "3s"})
	h.MustWrite("roles/r", map[string]any{"config": "c"})

	if resp, err := h.Read("creds/missing"); err != nil || resp == nil || !resp.IsError() || !strings.Contains(plugintest.ErrText(resp), "missing") {
		t.Errorf("unknown role: %v %v", plugintest.ErrText(resp), err)
	}

	cases := []struct {
		name  string
		fault emulator.Fault
		want  []string
	}{
		{"persistent 503", emulator.Fault{PathPrefix: "/api/auth", Status: 503, Times: 100}, []string{"503"}},
		{"malformed json", emulator.Fault{PathPrefix: "/api/auth", Body: "{not json", Times: 100}, []string{"malformed_response", "token_url"}},
		{"slow upstream", emulator.Fault{PathPrefix: "/api/auth", Delay: 10 * time.Second, Times: 100}, []string{"request_timeout 3s"}},
		{"rate limit beyond timeout", emulator.Fault{PathPrefix: "/api/auth", Status: 429, RetryAfter: "60", Times: 100}, []string{"429"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.Emu.ClearFaults()
			h.Emu.InjectFault(tc.fault)
			defer h.Emu.ClearFaults()
			resp, err := h.Read("creds/r")
			if err == nil {
				t.Fatalf("want an error, got %#v", resp)
			}
			coded, ok := err.(logical.HTTPCodedError)
			if !ok || coded.Code() != 502 {
				t.Errorf("want a 502 coded error, got %T %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), plugintest.CloudSecret) {
				t.Error("error leaks the secret")
			}
		})
	}

	// The key is revoked upstream after the config was stored.
	h.Emu.RemoveCloudClient(plugintest.CloudID)
	_, err := h.Read("creds/r")
	if err == nil || !strings.Contains(err.Error(), "client_id/client_secret rejected by") || !strings.Contains(err.Error(), "401") {
		t.Errorf("invalid_client: %v", err)
	}
}

// Transient failures are retried within one call: the reader never sees them.
func TestCredsRetriesTransientFailures(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/r", map[string]any{"config": "c"})
	for _, f := range []emulator.Fault{
		{PathPrefix: "/api/auth", Status: 503, Times: 2},
		{PathPrefix: "/api/auth", Status: 429, RetryAfter: "1", Times: 1},
		{PathPrefix: "/api/auth", Status: 503, RetryAfter: time.Now().Add(time.Second).UTC().Format(http1123), Times: 1},
		{PathPrefix: "/api/auth", Status: 502, Times: 1},
	} {
		h.Emu.ClearFaults()
		before := h.Emu.Requests("/api/auth")
		h.Emu.InjectFault(f)
		resp := h.MustRead("creds/r")
		if !h.Emu.TokenLive(resp.Data["access_token"].(string)) {
			t.Error("token not live")
		}
		if got := h.Emu.Requests("/api/auth") - before; got != max(f.Times, 1)+1 {
			t.Errorf("fault %+v: %d requests, want %d", f, got, max(f.Times, 1)+1)
		}
	}
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestCredsConcurrentReads(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/r", map[string]any{"config": "c"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.B.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "creds/r", Storage: h.Storage})
			if err != nil || resp.IsError() {
				t.Errorf("read: %v", err)
				return
			}
			mu.Lock()
			seen[resp.Data["access_token"].(string)] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) != 40 {
		t.Errorf("%d distinct tokens for 40 reads", len(seen))
	}
	for tok := range seen {
		h.Secrets = append(h.Secrets, tok)
	}
}

// Another node changed the config: Invalidate, which Vault calls on every
// node for such a write, makes this node use the new one.
func TestInvalidateRebuildsClient(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/r", map[string]any{"config": "c"})
	h.MustRead("creds/r") // caches a client
	h.Emu.AddCloudClient(emulator.CloudClient{ID: "key-2", Secret: "secret-2"})
	h.Secrets = append(h.Secrets, "secret-2")
	h.Emu.RemoveCloudClient(plugintest.CloudID)

	// Write the new config the way replication would: storage only.
	entry, _ := logical.StorageEntryJSON("config/c", map[string]any{
		"provider": "cloud", "client_id": "key-2", "client_secret": "secret-2",
		"token_url": h.Emu.URL() + "/api/auth/oauth/token", "api_url": h.Emu.URL() + "/api",
		"generation": uint64(time.Now().UnixNano()),
	})
	if err := h.Storage.Put(context.Background(), entry); err != nil {
		t.Fatal(err)
	}
	issuedTo := func(resp *logical.Response) string {
		tok, _ := resp.Data["access_token"].(string)
		if et, ok := h.Emu.Token(tok); ok && et.Service == "cloud" {
			return et.ClientID
		}
		return ""
	}
	h.B.InvalidateKey(context.Background(), "config/c")
	if got := issuedTo(h.MustRead("creds/r")); got != "key-2" {
		t.Errorf("after Invalidate: token issued to %q, want key-2", got)
	}
}

// expires_at_unix is what Acquia CLI's ACLI_ACCESS_TOKEN_EXPIRY takes: the
// instant of expires_at in whole seconds, for every provider, also when the
// upstream expiry falls inside a second.
func TestCredsExpiresAtUnix(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/deploy", map[string]any{"config": "c", "ttl": "5m"})
	h.AcronisSetup(nil)
	h.CDPSetup(3, time.Time{})
	h.Clock.Advance(700 * time.Millisecond)
	for role, lifetime := range map[string]time.Duration{"deploy": 300 * time.Second, "backup": 2 * time.Hour, "sync": 180 * 24 * time.Hour} {
		issued := h.Clock.Now()
		resp := h.MustRead("creds/" + role)
		unix, ok := resp.Data["expires_at_unix"].(int64)
		if !ok {
			t.Fatalf("%s: expires_at_unix is %T %v, want int64 seconds", role, resp.Data["expires_at_unix"], resp.Data["expires_at_unix"])
		}
		exp, err := time.Parse(time.RFC3339, resp.Data["expires_at"].(string))
		if err != nil || exp.Unix() != unix {
			t.Errorf("%s: expires_at %v and expires_at_unix %d name different instants", role, resp.Data["expires_at"], unix)
		}
		// Never later than the token really lives.
		if want := issued.Add(lifetime).Unix(); unix != want {
			t.Errorf("%s: expires_at_unix %d, want %d", role, unix, want)
		}
	}
}

// A role that asks for exactly its token's lifetime loses the second the
// answer takes to arrive; that cut is no news and has no warning. A role
// that asks for materially more than the upstream gives still hears of it,
// on read and on renew.
func TestCredsTTLCutWarnsOnlyWhenMateriallyLonger(t *testing.T) {
	for _, tc := range []struct {
		ttl  string
		warn bool
	}{
		{"5m", false},   // make dev's site-deploy: the token's 300 s exactly
		{"302s", false}, // within a few seconds of it
		{"310s", true},
		{"1h", true},
	} {
		t.Run(tc.ttl, func(t *testing.T) {
			h := plugintest.New(t)
			h.CloudConfig("c", nil)
			h.MustWrite("roles/deploy", map[string]any{"config": "c", "ttl": tc.ttl})
			// The answer takes a second or more to come back: the upstream's
			// clock runs on after each look at it.
			h.Emu.SetClock(func() time.Time {
				now := h.Clock.Now()
				h.Clock.Advance(time.Second)
				return now
			})
			issued := h.Clock.Now()
			resp := h.MustRead("creds/deploy")
			if resp.Secret.TTL >= 300*time.Second || resp.Secret.TTL < 290*time.Second {
				t.Errorf("TTL %s, want the token's 300 s less the round trip", resp.Secret.TTL)
			}
			if got := len(resp.Warnings) > 0; got != tc.warn {
				t.Errorf("ttl %s: warnings %v, want a warning: %v", tc.ttl, resp.Warnings, tc.warn)
			}
			if ttl, _ := time.ParseDuration(tc.ttl); tc.warn && !strings.Contains(resp.Warnings[0], "lease TTL cut from "+ttl.String()) {
				t.Errorf("warning %q does not name the role's ttl", resp.Warnings[0])
			}

			h.Emu.SetClock(h.Clock.Now)
			h.Clock.Advance(100 * time.Second)
			r, err := h.Renew(resp, issued.Add(time.Second))
			if err != nil || r.IsError() {
				t.Fatalf("renew: %v %v", err, plugintest.ErrText(r))
			}
			if got := len(r.Warnings) > 0; got != tc.warn {
				t.Errorf("renew, ttl %s: warnings %v, want a warning: %v", tc.ttl, r.Warnings, tc.warn)
			}
		})
	}
}
