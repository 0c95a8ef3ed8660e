//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The clients' secrets hold every character that HTTP Basic must
// form-encode (RFC 6749 §2.3.1): a plugin that sent them raw, or a server
// that did not decode them, would fail.
var oidcSecrets = map[string]string{
	"cc-basic": "basic+se/cret=with:colon+/=:",
	"cc-post":  "post+se/cret=with:colon+/=:",
	"web":      "web+se/cret=with:colon+/=:",
	"tv":       "tv+se/cret=with:colon+/=:",
}

// oidcServer is panva's oidc-provider (e2e/oidc), a certified OpenID
// provider, running in node.
type oidcServer struct {
	issuer string
}

// oidcProviderInstalled is node and the directory holding the pinned
// oidc-provider: $OIDC_PROVIDER_DIR (make e2e installs it first), or what
// scripts/install-oidc-provider prints. It skips the test when node is
// missing, or when the package cannot be installed (no npm, no registry).
func oidcProviderInstalled(t *testing.T) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the test against oidc-provider needs Node.js 20 or later")
	}
	if dir = os.Getenv("OIDC_PROVIDER_DIR"); dir != "" {
		return node, dir
	}
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "install-oidc-provider"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("scripts/install-oidc-provider failed (no npm, or no package registry): %v", err)
	}
	return node, strings.TrimSpace(string(out))
}

// startOIDCProvider runs e2e/oidc/server.mjs with Vault's callback as the
// web client's redirect URI; the server stops when the test ends.
func startOIDCProvider(t *testing.T, node, dir, redirectURI string) *oidcServer {
	t.Helper()
	return startOIDCProviderOn(t, node, dir, freePort(t), redirectURI, nil)
}

// startOIDCProviderOn is startOIDCProvider on port, with jwtClients
// (client_id: JWKS) as client-credentials clients that authenticate with
// private_key_jwt.
func startOIDCProviderOn(t *testing.T, node, dir string, port int, redirectURI string, jwtClients map[string]json.RawMessage) *oidcServer {
	t.Helper()
	secrets, _ := json.Marshal(oidcSecrets)
	clients, _ := json.Marshal(jwtClients)
	cmd := exec.Command(node, filepath.Join(repoRoot, "e2e", "oidc", "server.mjs"), dir)
	cmd.Env = append(os.Environ(), fmt.Sprintf("OIDC_PORT=%d", port), "OIDC_REDIRECT_URI="+redirectURI,
		"OIDC_SECRETS="+string(secrets), "OIDC_JWT_CLIENTS="+string(clients))
	cmd.SysProcAttr = procAttr(true)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "oidc-provider.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		stdin.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("oidc-provider log:\n%s", b)
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if issuer, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				ready <- issuer
			}
		}
	}()
	select {
	case issuer := <-ready:
		return &oidcServer{issuer: issuer}
	case <-done:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("oidc-provider exited during start-up:\n%s", b)
	case <-time.After(30 * time.Second):
		t.Fatal("oidc-provider did not listen within 30s")
	}
	return nil
}

// introspect asks the server's RFC 7662 endpoint about tok, as the client
// that holds it.
func (o *oidcServer) introspect(t *testing.T, client, tok string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, o.issuer+"/token/introspection",
		strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(client), url.QueryEscape(oidcSecrets[client]))
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("introspection: %d %v", resp.StatusCode, err)
	}
	return out
}

var (
	formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"[^>]*method="post"`)
	formInput  = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
)

// authorizeAsBrowser follows authURL as a person's browser would: it
// signs in on oidc-provider's login form, consents, and ends at Vault's
// callback, whose answer it returns.
func authorizeAsBrowser(t *testing.T, authURL, callbackPrefix string) (*http.Response, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	for step := 0; ; step++ {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.HasPrefix(resp.Request.URL.String(), callbackPrefix) {
			return resp, string(body)
		}
		m := formAction.FindStringSubmatch(string(body))
		if step == 4 || resp.StatusCode != 200 || m == nil {
			t.Fatalf("the browser is stuck at %s with %d:\n%s", resp.Request.URL, resp.StatusCode, body)
		}
		action, err := resp.Request.URL.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{}
		for _, in := range formInput.FindAllStringSubmatch(string(body), -1) {
			form.Set(in[1], html.UnescapeString(in[2]))
		}
		if form.Get("prompt") == "login" {
			form.Set("login", "alice")
			form.Set("password", "alice's password")
		}
		t.Logf("browser: %s form at %s", form.Get("prompt"), resp.Request.URL.Path)
		if resp, err = browser.PostForm(action.String(), form); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOIDCProviderThroughRealVault runs a real OpenID provider, panva's
// oidc-provider, as the upstream of provider=oauth2 through the real
// Vault: client credentials in HTTP Basic and in the body with secrets
// that need form-encoding, a user's authorization (code + PKCE) through
// Vault's callback driven as a browser, rotating refresh tokens read one
// at a time and 20 at once, RFC 7009 revocation on lease revoke, checked
// by introspection, and a wrong secret.
func TestOIDCProviderThroughRealVault(t *testing.T) {
	node, dir := oidcProviderInstalled(t)
	v := startVault(t)
	callback := v.addr + "/v1/acquia/callback"
	o := startOIDCProvider(t, node, dir, callback)
	for _, s := range oidcSecrets {
		v.remember(s)
	}
	t.Cleanup(v.assertLogClean)
	// Each subtest points the harness at itself, so its failures are its own.
	defer func() { v.t = t }()

	for _, style := range []struct{ client, authStyle string }{{"cc-basic", "basic"}, {"cc-post", "body"}} {
		t.Run("client_credentials/"+style.authStyle, func(t *testing.T) {
			v.t = t
			v.mustCLI("write", "acquia/config/"+style.client, "provider=oauth2", "client_id="+style.client,
				"client_secret="+oidcSecrets[style.client], "token_url="+o.issuer+"/token",
				"revocation_url="+o.issuer+"/token/revocation", "auth_style="+style.authStyle, "scopes=api:read")
			v.mustCLI("write", "acquia/roles/"+style.client, "config="+style.client, "scopes=api:read,api:write", "ttl=5m")
			s := v.readJSON("acquia/creds/" + style.client)
			tok, _ := s.Data["access_token"].(string)
			in := o.introspect(t, style.client, tok)
			if in["active"] != true || in["client_id"] != style.client || in["scope"] != "api:read api:write" {
				t.Errorf("introspection of the token: %v", in)
			}
			if s.LeaseDuration <= 0 || s.LeaseDuration > 300 {
				t.Errorf("lease duration %d, want at most the role's 5m", s.LeaseDuration)
			}
		})
	}

	for _, client := range []string{"cc-basic", "cc-post"} {
		t.Run("revocation/"+client, func(t *testing.T) {
			v.t = t
			s := v.readJSON("acquia/creds/" + client)
			tok, _ := s.Data["access_token"].(string)
			if in := o.introspect(t, client, tok); in["active"] != true {
				t.Fatalf("a fresh token is not active: %v", in)
			}
			v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
			if in := o.introspect(t, client, tok); in["active"] != false {
				t.Errorf("after lease revoke the token is still active: %v", in)
			}
		})
	}

	t.Run("wrong_secret", func(t *testing.T) {
		v.t = t
		wrong := "wrong+se/cret=with:colon"
		v.remember(wrong)
		_, errOut, err := v.cli("write", "acquia/config/bad", "provider=oauth2", "client_id=cc-basic",
			"client_secret="+wrong, "token_url="+o.issuer+"/token", "auth_style=basic")
		if err == nil || !strings.Contains(errOut, "Code: 400") || !strings.Contains(errOut, "invalid_client") ||
			strings.Contains(errOut, wrong) {
			t.Errorf("config write with a wrong secret: %v\n%s", err, errOut)
		}
		if code, _ := v.api("GET", "acquia/config/bad", nil); code != 404 {
			t.Errorf("a refused config was stored: GET answered %d", code)
		}
	})

	authorized := t.Run("authorization_code", func(t *testing.T) {
		v.t = t
		// The web client may not use client_credentials: oidc-provider
		// answers invalid_request, and verify proves the secret with a
		// refresh instead, storing the config with a warning.
		var written secretJSON
		out := v.mustCLI("write", "-format=json", "acquia/config/web", "provider=oauth2", "client_id=web",
			"client_secret="+oidcSecrets["web"], "token_url="+o.issuer+"/token", "authorize_url="+o.issuer+"/auth",
			"revocation_url="+o.issuer+"/token/revocation", "auth_style=basic")
		if err := json.Unmarshal([]byte(out), &written); err != nil || len(written.Warnings) != 1 ||
			!strings.Contains(written.Warnings[0], "authorization_code roles work") {
			t.Errorf("config write of a code-only client: %v %s", err, out)
		}
		v.mustCLI("write", "acquia/roles/alice", "config=web", "grant_type=authorization_code",
			"redirect_url="+callback, "scopes=openid,offline_access", "ttl=5m")
		var auth struct {
			Data struct {
				URL string `json:"url"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(v.mustCLI("write", "-format=json", "-f", "acquia/authorize/alice")), &auth); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(auth.Data.URL, o.issuer+"/auth?") || !strings.Contains(auth.Data.URL, "code_challenge_method=S256") ||
			!strings.Contains(auth.Data.URL, "prompt=consent") {
			t.Fatalf("authorize url %q", auth.Data.URL)
		}
		resp, body := authorizeAsBrowser(t, auth.Data.URL, callback+"?")
		if resp.StatusCode != 200 {
			t.Fatalf("Vault's callback answered %d: %s", resp.StatusCode, body)
		}
		if role := v.readJSON("acquia/roles/alice"); role.Data["authorized"] != true {
			t.Fatalf("the role is not authorized: %v", role.Data)
		}
	})
	if !authorized {
		return
	}

	t.Run("refresh", func(t *testing.T) {
		v.t = t
		for i := range 3 {
			s := v.readJSON("acquia/creds/alice")
			in := o.introspect(t, "web", s.Data["access_token"].(string))
			if in["active"] != true || in["sub"] != "alice" || in["client_id"] != "web" {
				t.Fatalf("read %d: introspection %v", i, in)
			}
		}
	})

	// oidc-provider revokes the whole grant when a rotated refresh token
	// comes back: if Vault ever replayed one, reads would fail from then on.
	t.Run("refresh_20_concurrent", func(t *testing.T) {
		v.t = t
		const n = 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed []string
		tokens := map[string]bool{}
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				resp, err := httpClient.Do(v.request(http.MethodGet, "acquia/creds/alice", nil).WithContext(ctx))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, err.Error())
					return
				}
				defer resp.Body.Close()
				var s struct {
					secretJSON
					Errors []string `json:"errors"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&s)
				if resp.StatusCode != 200 {
					failed = append(failed, fmt.Sprintf("%d %v", resp.StatusCode, s.Errors))
					return
				}
				tok, _ := s.Data["access_token"].(string)
				v.remember(tok)
				tokens[tok] = true
			}()
		}
		wg.Wait()
		if len(failed) != 0 {
			t.Errorf("%d of %d concurrent reads failed: %v", len(failed), n, failed)
		}
		if len(tokens) != n-len(failed) {
			t.Errorf("%d distinct access tokens for %d reads", len(tokens), n-len(failed))
		}
		for tok := range tokens {
			if in := o.introspect(t, "web", tok); in["active"] != true || in["sub"] != "alice" {
				t.Errorf("a token of the concurrent reads: introspection %v", in)
				break
			}
		}
		// The grant is alive: the role keeps working.
		s := v.readJSON("acquia/creds/alice")
		if in := o.introspect(t, "web", s.Data["access_token"].(string)); in["active"] != true {
			t.Errorf("after the concurrent reads: introspection %v", in)
		}
	})

	// A user role's lease revoke leaves its token to expire by default;
	// with revoke_user_access_tokens it revokes it upstream (RFC 7009).
	t.Run("revocation/user", func(t *testing.T) {
		v.t = t
		s := v.readJSON("acquia/creds/alice")
		tok := s.Data["access_token"].(string)
		v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
		if in := o.introspect(t, "web", tok); in["active"] != true {
			t.Errorf("by default, after lease revoke the token is inactive: %v", in)
		}
		v.mustCLI("write", "acquia/config/web", "revoke_user_access_tokens=true")
		s = v.readJSON("acquia/creds/alice")
		tok = s.Data["access_token"].(string)
		v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
		if in := o.introspect(t, "web", tok); in["active"] != false {
			t.Errorf("with revoke_user_access_tokens, after lease revoke the token is still active: %v", in)
		}
		// oidc-provider revokes the grant's refresh token with it (RFC 7009
		// §2.1), which is why the option is off by default: the role needs
		// a new authorization, and says so.
		if _, errOut, err := v.cli("read", "acquia/creds/alice"); err == nil || !strings.Contains(errOut, "Code: 400") ||
			!strings.Contains(errOut, "authorize/alice") {
			t.Errorf("a read after the cascade: %v %s", err, errOut)
		}
	})
}
