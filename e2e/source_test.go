//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// TestSourceUserAuthorizationThroughRealVault walks the browser flow: the
// authorize URL Vault hands out, the emulated site's login redirecting to
// Vault's unauthenticated callback, then creds through rotating refresh
// tokens, 50 of them at once.
func TestSourceUserAuthorizationThroughRealVault(t *testing.T) {
	v := startVault(t)
	v.remember(emulator.DemoSourceClientSecret)
	t.Cleanup(func() {
		for _, c := range v.emu.SourceCredentials() {
			v.remember(c)
		}
		v.assertLogClean()
	})
	v.mustCLI("write", "acquia/config/site", "provider=source", "base_url="+v.emu.URL(),
		"client_id="+emulator.DemoSourceClientID, "client_secret="+emulator.DemoSourceClientSecret,
		"revocation_url="+v.emu.URL()+"/oauth/revoke")
	v.mustCLI("write", "acquia/roles/editor", "config=site", "grant_type=authorization_code",
		"redirect_url="+v.addr+"/v1/acquia/callback", "scopes=content:read,content:write", "ttl=5m")

	var auth struct {
		Data struct {
			URL   string `json:"url"`
			State string `json:"state"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(v.mustCLI("write", "-format=json", "-f", "acquia/authorize/editor")), &auth); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(auth.Data.URL, v.emu.URL()+"/oauth/authorize?") || !strings.Contains(auth.Data.URL, "code_challenge_method=S256") {
		t.Fatalf("authorize url %q", auth.Data.URL)
	}

	// The browser: no Vault token, follows the redirects to the callback.
	browser := &http.Client{}
	resp, err := browser.Get(auth.Data.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	callbackURL := resp.Request.URL.String()
	if resp.StatusCode != 200 || !strings.HasPrefix(callbackURL, v.addr+"/v1/acquia/callback?") || !strings.Contains(string(body), "editor") {
		t.Fatalf("the flow ended at %s with %d: %s", callbackURL, resp.StatusCode, body)
	}
	if role := v.readJSON("acquia/roles/editor"); role.Data["authorized"] != true || role.Data["authorized_at"] == nil {
		t.Errorf("role not authorized: %v", role.Data)
	}

	// Replaying the redirect, or a forged state, changes nothing.
	for name, u := range map[string]string{
		"replay": callbackURL,
		"forged": v.addr + "/v1/acquia/callback?code=x&state=" + strings.Repeat("A", 43),
	} {
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "state") {
			t.Errorf("%s callback: %d %s", name, resp.StatusCode, b)
		}
	}

	// Reads refresh, one at a time on the CLI...
	var last secretJSON
	for i := 0; i < 3; i++ {
		last = v.readJSON("acquia/creds/editor")
		if code := testutil.BearerStatus(t, httpClient, v.emu.URL()+"/jsonapi", last.Data["access_token"].(string)); code != 200 {
			t.Fatalf("read %d: the site refuses the token: %d", i, code)
		}
	}
	// ... and 50 at once on the HTTP API: never the same refresh token twice.
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, v.addr+"/v1/acquia/creds/editor", nil)
			req.Header.Set("X-Vault-Token", v.token)
			resp, err := httpClient.Do(req)
			if err != nil {
				mu.Lock()
				failures++
				mu.Unlock()
				return
			}
			var out secretJSON
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode != 200 {
				failures++
				t.Logf("concurrent read: %d %v", resp.StatusCode, out.Warnings)
				return
			}
			v.secrets = append(v.secrets, out.Data["access_token"].(string))
		}()
	}
	wg.Wait()
	if failures != 0 {
		t.Errorf("%d of %d concurrent reads failed", failures, n)
	}
	if r := v.emu.SourceRefreshReuses(); r != 0 {
		t.Errorf("Vault presented a rotated refresh token %d times (invalid_grant)", r)
	}

	// By default a lease revoke leaves a user role's token to expire, so
	// a site whose revocation cascades (RFC 7009 §2.1) cannot take the
	// role's authorization with it.
	s := v.readJSON("acquia/creds/editor")
	v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
	if code := testutil.BearerStatus(t, httpClient, v.emu.URL()+"/jsonapi", s.Data["access_token"].(string)); code != 200 {
		t.Errorf("by default, after lease revoke the site answers %d, want the token left to expire", code)
	}
	// Opted in, revoking a lease revokes its token at the site: use a
	// fresh one, since every refresh retires the previous access token.
	v.mustCLI("write", "acquia/config/site", "revoke_user_access_tokens=true")
	s = v.readJSON("acquia/creds/editor")
	tok := s.Data["access_token"].(string)
	v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
	if code := testutil.BearerStatus(t, httpClient, v.emu.URL()+"/jsonapi", tok); code != http.StatusUnauthorized {
		t.Errorf("after lease revoke the site answers %d", code)
	}
	// Refresh tokens never show in a read.
	out := v.mustCLI("read", "-format=json", "acquia/roles/editor") + v.mustCLI("read", "-format=json", "acquia/config/site")
	for _, c := range v.emu.SourceCredentials() {
		if strings.Contains(out, c) {
			t.Error("a read shows a code or refresh token")
		}
	}
}

func TestSourceClientCredentialsThroughRealVault(t *testing.T) {
	v := startVault(t)
	v.remember(emulator.DemoSourceClientSecret)
	v.mustCLI("write", "acquia/config/site", "provider=source", "base_url="+v.emu.URL(),
		"client_id="+emulator.DemoSourceClientID, "client_secret="+emulator.DemoSourceClientSecret)
	v.mustCLI("write", "acquia/roles/sync", "config=site", "scopes=content:read")
	s := v.readJSON("acquia/creds/sync")
	if code := testutil.BearerStatus(t, httpClient, v.emu.URL()+"/jsonapi", s.Data["access_token"].(string)); code != 200 {
		t.Errorf("the site refuses the token: %d", code)
	}
	if _, errOut, err := v.cli("write", "-f", "acquia/authorize/sync"); err == nil || !strings.Contains(errOut, "Code: 400") {
		t.Errorf("authorize on a client-credentials role: %s", errOut)
	}
	v.assertLogClean()
}
