//go:build e2e

package e2e

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// anyFormAction finds a form's action wherever the attribute sits:
// oidc-provider's user code forms name method before action.
var anyFormAction = regexp.MustCompile(`<form[^>]*\saction="([^"]+)"`)

// approveDeviceAsBrowser approves userCode on oidc-provider's device flow
// pages as a person on another device would: it opens verificationURI,
// enters the code, confirms it, signs in on the login form and consents,
// until the success page.
func approveDeviceAsBrowser(t *testing.T, verificationURI, userCode string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := browser.Get(verificationURI)
	if err != nil {
		t.Fatal(err)
	}
	for step := 0; ; step++ {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "Sign-in Success") {
			return
		}
		m := anyFormAction.FindStringSubmatch(string(body))
		if step == 8 || resp.StatusCode != 200 || m == nil {
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
		what := form.Get("prompt")
		switch {
		case strings.Contains(string(body), `id="op.deviceInputForm"`):
			form.Set("user_code", userCode)
			what = "user code"
		case strings.Contains(string(body), `id="op.deviceConfirmForm"`):
			what = "confirm"
		case what == "login":
			form.Set("login", "alice")
			form.Set("password", "alice's password")
		}
		t.Logf("browser: %s form at %s", what, resp.Request.URL.Path)
		if resp, err = browser.PostForm(action.String(), form); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOIDCProviderDeviceFlowThroughRealVault runs the device authorization
// grant (RFC 8628) through the real Vault against panva's oidc-provider: a
// role without redirect_url, authorize flow=device answering the user code,
// a person approving it on the provider's pages, Vault's active node polling
// until it holds the refresh token, then creds reads.
func TestOIDCProviderDeviceFlowThroughRealVault(t *testing.T) {
	node, dir := oidcProviderInstalled(t)
	v := startVault(t)
	o := startOIDCProvider(t, node, dir, v.addr+"/v1/acquia/callback")
	for _, s := range oidcSecrets {
		v.remember(s)
	}
	t.Cleanup(v.assertLogClean)

	v.mustCLI("write", "acquia/config/tv", "provider=oauth2", "client_id=tv", "client_secret="+oidcSecrets["tv"],
		"token_url="+o.issuer+"/token", "device_authorization_url="+o.issuer+"/device/auth",
		"revocation_url="+o.issuer+"/token/revocation", "auth_style=basic")
	v.mustCLI("write", "acquia/roles/tv", "config=tv", "grant_type=authorization_code", "scopes=openid,offline_access", "ttl=5m")

	var auth struct {
		Data struct {
			UserCode                string `json:"user_code"`
			VerificationURI         string `json:"verification_uri"`
			VerificationURIComplete string `json:"verification_uri_complete"`
			ExpiresIn               int    `json:"expires_in"`
			Interval                int    `json:"interval"`
		} `json:"data"`
	}
	out := v.mustCLI("write", "-format=json", "acquia/authorize/tv", "flow=device")
	if err := json.Unmarshal([]byte(out), &auth); err != nil {
		t.Fatal(err)
	}
	d := auth.Data
	if d.UserCode == "" || !strings.HasPrefix(d.VerificationURI, o.issuer+"/device") ||
		!strings.Contains(d.VerificationURIComplete, "user_code=") || d.ExpiresIn <= 0 || d.Interval <= 0 {
		t.Fatalf("authorize flow=device answered %s", out)
	}
	if strings.Contains(out, "device_code") {
		t.Fatalf("the answer names a device code: %s", out)
	}
	if role := v.readJSON("acquia/roles/tv"); role.Data["authorized"] != false {
		t.Fatalf("authorized before the user answered: %v", role.Data)
	}

	// The person types the code at verification_uri, as on a phone.
	approveDeviceAsBrowser(t, d.VerificationURI, d.UserCode)

	deadline := time.Now().Add(time.Duration(3*d.Interval+15) * time.Second)
	for v.readJSON("acquia/roles/tv").Data["authorized"] != true {
		if time.Now().After(deadline) {
			t.Fatalf("the role was not authorized within %ds of the approval", 3*d.Interval+15)
		}
		time.Sleep(time.Second)
	}
	for i := range 2 {
		s := v.readJSON("acquia/creds/tv")
		tok, _ := s.Data["access_token"].(string)
		in := o.introspect(t, "tv", tok)
		if in["active"] != true || in["sub"] != "alice" || in["client_id"] != "tv" {
			t.Fatalf("read %d: introspection %v", i, in)
		}
	}
}
