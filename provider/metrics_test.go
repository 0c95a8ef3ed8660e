package provider_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// attempts is a provider.CallRecorder keeping every report.
type attempts struct {
	mu  sync.Mutex
	got []string // "operation outcome"
}

func (a *attempts) UpstreamCall(op, outcome string, d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d < 0 {
		outcome += " (negative duration)"
	}
	a.got = append(a.got, op+" "+outcome)
}

func (a *attempts) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

// byOperation counts the reports per operation.
func (a *attempts) byOperation() map[string]int {
	out := map[string]int{}
	for _, g := range a.list() {
		op, _, _ := strings.Cut(g, " ")
		out[op]++
	}
	return out
}

// tokenServer is an OAuth 2.0 token endpoint answering with answer(n) to
// its n-th request (from 1), counting them.
func tokenServer(t *testing.T, answer func(n int32, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(n.Add(1), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func okToken(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "bearer", "expires_in": 300})
}

func metered(t *testing.T, tokenURL string, timeout time.Duration) (provider.Client, *attempts) {
	t.Helper()
	rec := &attempts{}
	c, err := provider.New(provider.Config{Provider: "oauth2", ClientID: "id", ClientSecret: "secret",
		TokenURL: tokenURL, RequestTimeout: timeout}, provider.Options{Metrics: rec})
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// A 5xx then a token: two attempts, each counted with its outcome.
func TestMetricsRetryCountsEachAttempt(t *testing.T) {
	srv, n := tokenServer(t, func(n int32, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			http.Error(w, `{"error":"server_error"}`, http.StatusBadGateway)
			return
		}
		okToken(w)
	})
	c, rec := metered(t, srv.URL, 10*time.Second)
	if _, err := c.Token(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.list(), []string{"token 5xx", "token ok"}; !slices.Equal(got, want) || n.Load() != 2 {
		t.Errorf("recorded %q for %d requests, want %q", got, n.Load(), want)
	}
}

// A call that times out is one attempt, counted once as a timeout.
func TestMetricsTimeoutCountsOnce(t *testing.T) {
	srv, n := tokenServer(t, func(_ int32, w http.ResponseWriter, r *http.Request) {
		// net/http notices the client hang up once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	c, rec := metered(t, srv.URL, 300*time.Millisecond)
	if _, err := c.Token(context.Background(), nil); err == nil {
		t.Fatal("no error from a token endpoint that never answers")
	}
	if got, want := rec.list(), []string{"token timeout"}; !slices.Equal(got, want) || n.Load() != 1 {
		t.Errorf("recorded %q for %d requests, want %q", got, n.Load(), want)
	}
}

// A redirect is refused, and counted so; a 4xx by its status.
func TestMetricsRedirectAndRefusal(t *testing.T) {
	srv, _ := tokenServer(t, func(n int32, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			http.Redirect(w, r, "https://elsewhere.example/token", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
	})
	c, rec := metered(t, srv.URL, 10*time.Second)
	for range 2 {
		if _, err := c.Token(context.Background(), nil); err == nil {
			t.Fatal("no error")
		}
	}
	if got, want := rec.list(), []string{"token redirect_refused", "token 401"}; !slices.Equal(got, want) {
		t.Errorf("recorded %q, want %q", got, want)
	}
}

// Without a recorder nothing is recorded, and calls work as before.
func TestMetricsOff(t *testing.T) {
	srv, _ := tokenServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) { okToken(w) })
	c, err := provider.New(provider.Config{Provider: "oauth2", ClientID: "id", ClientSecret: "secret", TokenURL: srv.URL,
		RequestTimeout: 10 * time.Second}, provider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Token(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

// Every call of every provider, through a storm of faults: the attempts
// recorded per operation equal what the emulator received per operation,
// retries, timeouts, resets and redirects included. This is the unit
// test's version of the end-to-end check of the metrics path.
func TestMetricsMatchEmulator(t *testing.T) {
	const timeout = time.Second
	ctx := context.Background()
	bogusUUID := "00000000-0000-4000-8000-000000000000"
	run := map[string]func(c provider.Client){
		"cloud": func(c provider.Client) {
			_, _ = c.Token(ctx, nil)
			_, _ = c.Verify(ctx)
			kr := c.(provider.KeyRotator)
			_, _ = kr.CreateKey(ctx, "metrics-test")
			_, _ = kr.ListKeys(ctx)
			_, _ = kr.GetKey(ctx, emulator.DemoCloudKeyUUID)
			_ = kr.DeleteKey(ctx, bogusUUID)
		},
		"source": func(c provider.Client) {
			tok, err := c.Token(ctx, nil)
			if err == nil {
				_ = c.(provider.Revoker).Revoke(ctx, tok.AccessToken)
			}
			_, _ = c.Verify(ctx)
			cg := c.(provider.CodeGranter)
			_, _ = cg.Exchange(ctx, "no-such-code", "verifier-verifier-verifier-verifier-verifier", "https://vault.example/cb")
			_, _ = cg.Refresh(ctx, "no-such-refresh-token")
		},
		"acronis": func(c provider.Client) {
			tok, err := c.Token(ctx, nil)
			if err == nil {
				_ = c.(provider.Revoker).Revoke(ctx, tok.AccessToken)
			}
			_, _ = c.Verify(ctx)
		},
		"oauth2": func(c provider.Client) {
			tok, err := c.Token(ctx, nil)
			if err == nil {
				_ = c.(provider.Revoker).Revoke(ctx, tok.AccessToken)
			}
			_, _ = c.Verify(ctx)
			cg := c.(provider.CodeGranter)
			_, _ = cg.Exchange(ctx, "no-such-code", "verifier-verifier-verifier-verifier-verifier", "https://vault.example/cb")
			_, _ = cg.Refresh(ctx, "no-such-refresh-token")
		},
		"cdp": func(c provider.Client) {
			tok, err := c.Token(ctx, nil)
			if err == nil {
				_, _ = c.(provider.Renewer).Renew(ctx, tok.AccessToken)
				_ = c.(provider.Revoker).Revoke(ctx, tok.AccessToken)
			}
			_, _ = c.(provider.Retriever).Retrieve(ctx)
			_, _ = c.Verify(ctx)
			_ = c.(provider.UserRevoker).RevokeAll(ctx)
			// A user without tokens answered 401: the login and logout
			// calls tell it from wrong credentials.
			_, _ = c.Verify(ctx)
		},
	}
	for name, calls := range run {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			emu := emulator.New()
			emu.AddDemo()
			emu.SetCDPNoTokenStatus(http.StatusUnauthorized)
			base, err := emu.Start()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(emu.Close)
			cfg := map[string]provider.Config{
				"cloud": {ClientID: emulator.DemoCloudClientID, ClientSecret: emulator.DemoCloudClientSecret,
					TokenURL: base + "/api/auth/oauth/token", APIURL: base + "/api"},
				"source": {ClientID: emulator.DemoSourceClientID, ClientSecret: emulator.DemoSourceClientSecret, BaseURL: base,
					RevocationURL: base + "/oauth/revoke"},
				"acronis": {ClientID: emulator.DemoAcronisClientID, ClientSecret: emulator.DemoAcronisClientSecret, BaseURL: base},
				"oauth2": {ClientID: emulator.DemoOAuth2ClientID, ClientSecret: emulator.DemoOAuth2ClientSecret, TokenURL: base + "/oauth2/token",
					AuthorizeURL: base + "/oauth2/authorize", RevocationURL: base + "/oauth2/revoke"},
				"cdp": {Username: emulator.DemoCDPUsername, Password: emulator.DemoCDPPassword, BaseURL: base},
			}[name]
			cfg.Provider, cfg.RequestTimeout = name, timeout
			rec := &attempts{}
			c, err := provider.New(cfg, provider.Options{Metrics: rec})
			if err != nil {
				t.Fatal(err)
			}
			calls(c) // in calm weather
			emu.SetStorm(emulator.Storm{Rate: 0.4, Slow: timeout + 500*time.Millisecond, Seed: 27})
			for range 3 {
				calls(c)
			}
			// And the faults that leave the plugin without an answer.
			emu.SetStorm(emulator.Storm{Rate: 0.5, Slow: timeout + 500*time.Millisecond, Seed: 27,
				Kinds: []string{emulator.StormReset, emulator.StormLate, emulator.StormSlow}})
			calls(c)
			got, want := rec.byOperation(), emu.Operations()[name]
			if !maps.Equal(got, want) {
				t.Errorf("recorded per operation %v,\nthe emulator received %v", got, want)
			}
			for _, g := range rec.list() {
				if strings.HasPrefix(g, provider.OpOther+" ") || strings.Contains(g, "negative") {
					t.Errorf("recorded %q", g)
				}
			}
			t.Logf("storm: %v; recorded: %v", emu.StormCounts(), outcomes(rec.list()))
		})
	}
}

func outcomes(list []string) map[string]int {
	out := map[string]int{}
	for _, g := range list {
		out[g]++
	}
	return out
}
