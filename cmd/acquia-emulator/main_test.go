package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8380": true,
		"127.1.2.3:0":    true,
		"[::1]:8380":     true,
		"localhost:8380": true,
		":8380":          false,
		"0.0.0.0:8380":   false,
		"[::]:8380":      false,
		"10.0.0.5:8380":  false,
		"example.com:80": false,
		"127.0.0.1":      false, // no port: net.Listen would refuse it anyway
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestRefusesRemoteWithoutFlag(t *testing.T) {
	if code := run([]string{"-listen", "0.0.0.0:0"}); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if code := run([]string{"-bogus"}); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
}

func TestBrowseFollowsTheSiteToTheCallback(t *testing.T) {
	e := emulator.New()
	e.AddDemo()
	base, err := e.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("code") == "" || r.URL.Query().Get("state") != "s1" {
			http.Error(w, "bad callback", http.StatusBadRequest)
			return
		}
		_, _ = fmt.Fprint(w, `{"authorized":true}`)
	}))
	defer callback.Close()
	q := url.Values{"response_type": {"code"}, "client_id": {emulator.DemoSourceClientID},
		"redirect_uri": {callback.URL + "/v1/acquia/callback"}, "state": {"s1"}, "scope": {"content:read"}}
	var out bytes.Buffer
	if code := openAsBrowser(base+"/oauth/authorize?"+q.Encode(), &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "200 OK") || !strings.Contains(out.String(), `"authorized":true`) || strings.Contains(out.String(), "code=") {
		t.Errorf("output:\n%s", out.String())
	}
	if code := openAsBrowser("https://example.com/oauth/authorize", &out); code != 2 {
		t.Errorf("a remote URL: exit %d, want 2", code)
	}
}
