package provider

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestNoRedirectIsFollowed: every upstream call of every provider, answered
// with each redirect status pointing at another host, the same host over
// http, or a loopback URL, fails naming the host and status, is sent once,
// and nothing reaches the Location.
func TestNoRedirectIsFollowed(t *testing.T) {
	var targetHits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, `{"access_token":"stolen","token_type":"Bearer","expires_in":300}`)
	}))
	defer target.Close()
	otherTLS := httptest.NewTLSServer(target.Config.Handler)
	defer otherTLS.Close()
	port := target.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":")+1:]

	var location string
	var status int
	var originHits atomic.Int64
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		originHits.Add(1)
		http.Redirect(w, r, location, status)
	}))
	defer origin.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: origin.Certificate().Raw}))
	originHost := origin.Listener.Addr().String()

	type call struct {
		name string
		cfg  Config
		do   func(ctx context.Context, c Client) error
	}
	base := origin.URL
	rfc := func(p string) Config {
		return Config{Provider: p, ClientID: "id", ClientSecret: "sec+ret", BaseURL: base, TokenURL: base + "/token",
			AuthorizeURL: base + "/authorize", RevocationURL: base + "/revoke", APIURL: base + "/api", CACert: ca}
	}
	cdp := Config{Provider: "cdp", Username: "u", Password: "pw", BaseURL: base, CACert: ca}
	token := func(ctx context.Context, c Client) error { _, err := c.Token(ctx, nil); return err }
	verify := func(ctx context.Context, c Client) error { _, err := c.Verify(ctx); return err }
	revoke := func(ctx context.Context, c Client) error { return c.(Revoker).Revoke(ctx, "tok") }
	calls := []call{
		{"cloud token", Config{Provider: "cloud", ClientID: "id", ClientSecret: "s", TokenURL: base + "/token", APIURL: base, CACert: ca}, token},
		{"source token", rfc("source"), token},
		{"oauth2 token", rfc("oauth2"), token},
		{"oauth2 verify", rfc("oauth2"), verify},
		{"oauth2 revoke", rfc("oauth2"), revoke},
		{"oauth2 exchange", rfc("oauth2"), func(ctx context.Context, c Client) error {
			_, err := c.(CodeGranter).Exchange(ctx, "code", "verifier", "https://vault.example/v1/acquia/callback")
			return err
		}},
		{"oauth2 refresh", rfc("oauth2"), func(ctx context.Context, c Client) error {
			_, err := c.(CodeGranter).Refresh(ctx, "refresh")
			return err
		}},
		{"acronis token", rfc("acronis"), token},
		{"acronis revoke", rfc("acronis"), revoke},
		{"cdp create", cdp, token},
		{"cdp verify", cdp, verify},
		{"cdp extend", cdp, func(ctx context.Context, c Client) error { _, err := c.(Renewer).Renew(ctx, "tok"); return err }},
		{"cdp delete", cdp, revoke},
		{"cdp delete all", cdp, func(ctx context.Context, c Client) error { return c.(UserRevoker).RevokeAll(ctx) }},
	}
	locations := map[string]string{
		"another host":       otherTLS.URL + "/elsewhere",
		"same host, http":    "http://127.0.0.1:" + port + "/elsewhere",
		"loopback over http": "http://localhost:" + port + "/elsewhere",
		"echoing a secret":   otherTLS.URL + "/cb?code=the-code&token=sec%2Bret#frag",
	}
	for _, c := range calls {
		for where, loc := range locations {
			for _, st := range []int{301, 302, 303, 307, 308} {
				t.Run(fmt.Sprintf("%s/%s/%d", c.name, where, st), func(t *testing.T) {
					location, status = loc, st
					originHits.Store(0)
					targetHits.Store(0)
					client, err := New(c.cfg, Options{})
					if err != nil {
						t.Fatal(err)
					}
					err = c.do(context.Background(), client)
					var ue *Error
					if !errors.As(err, &ue) {
						t.Fatalf("want an *Error, got %v", err)
					}
					if ue.Status != st || ue.Code != "redirect" || ue.Host != originHost {
						t.Errorf("error = %+v; want status %d, code redirect, host %s", ue, st, originHost)
					}
					msg := err.Error()
					if !strings.Contains(msg, originHost) || !strings.Contains(msg, fmt.Sprint(st)) ||
						!strings.Contains(msg, "redirects are not followed") {
						t.Errorf("message %q does not name the host, the status and the rule", msg)
					}
					if strings.Contains(msg, "sec+ret") || strings.Contains(msg, "sec%2Bret") || strings.Contains(msg, "the-code") ||
						strings.Contains(msg, "/cb") {
						t.Errorf("message leaks a secret: %q", msg)
					}
					if n := targetHits.Load(); n != 0 {
						t.Errorf("the redirect target received %d requests", n)
					}
					if n := originHits.Load(); n != 1 {
						t.Errorf("origin received %d requests; a redirect must not be retried", n)
					}
				})
			}
		}
	}
}
