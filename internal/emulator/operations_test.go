package emulator_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// Every request is counted once under its service and operation, whether
// it succeeds, is refused or gets an injected fault; admin calls are not.
func TestOperations(t *testing.T) {
	e, base := start(t)
	// One request of each route gets a fault: it still counts.
	for _, p := range []string{"/oauth/token", "/token", "/api/account/tokens"} {
		e.InjectFault(emulator.Fault{PathPrefix: p, Status: http.StatusServiceUnavailable})
	}
	const uuid = "5c1d7e2a-9b3f-4a6e-8d0c-1f2e3a4b5c6d"
	cases := []struct {
		method, path, grant, auth string
		service, op               string
	}{
		{"POST", "/api/auth/oauth/token", "client_credentials", "", "cloud", "token"},
		{"POST", "/api/token", "client_credentials", "", "cloud", "token"},
		{"GET", "/api/account", "", "Bearer x", "cloud", "account_check"},
		{"POST", "/api/account/tokens", "", "Bearer x", "cloud", "key_create"},
		{"GET", "/api/account/tokens", "", "Bearer x", "cloud", "key_list"},
		{"GET", "/api/account/tokens/" + uuid, "", "Bearer x", "cloud", "key_read"},
		{"DELETE", "/api/account/tokens/" + uuid, "", "Bearer x", "cloud", "key_delete"},
		{"POST", "/oauth/token", "client_credentials", "", "source", "token"},
		{"POST", "/oauth/token", "authorization_code", "", "source", "code_exchange"},
		{"POST", "/oauth/token", "refresh_token", "", "source", "refresh"},
		{"POST", "/oauth/revoke", "", "", "source", "revoke"},
		{"GET", "/oauth/authorize", "", "", "source", "authorize"},
		{"POST", "/bc/idp/token", "client_credentials", "Basic eDp5", "acronis", "token"},
		{"POST", "/api/2/idp/token", "client_credentials", "Basic eDp5", "acronis", "token"},
		{"POST", "/api/2/idp/revoke_token", "", "Basic eDp5", "acronis", "revoke"},
		{"GET", "/api/2/clients/abc", "", "Bearer x", "acronis", "client_check"},
		{"GET", "/clients/abc", "", "Bearer x", "acronis", "client_check"},
		{"POST", "/oauth2/token", "client_credentials", "", "oauth2", "token"},
		{"POST", "/oauth2/token", "authorization_code", "", "oauth2", "code_exchange"},
		{"POST", "/oauth2/token", "refresh_token", "", "oauth2", "refresh"},
		{"POST", "/oauth2/revoke", "", "", "oauth2", "revoke"},
		{"POST", "/token?scheme=a1user&action=create", "", "Basic eDp5", "cdp", "token"},
		{"GET", "/token?scheme=a1user", "", "Basic eDp5", "cdp", "retrieve"},
		{"POST", "/token?scheme=a1user&action=extend", "", "Bearer x", "cdp", "extend"},
		{"DELETE", "/token?scheme=a1user", "", "Bearer x", "cdp", "delete"},
		{"DELETE", "/token?scheme=a1user", "", "Basic eDp5", "cdp", "delete_all"},
		{"POST", "/authentication?action=login", "", "Basic eDp5", "cdp", "login"},
		{"POST", "/authentication?action=logout", "", "Bearer x", "cdp", "logout"},
		{"GET", "/no/such/path", "", "", "unknown", "unknown"},
	}
	want := map[string]map[string]int{}
	for _, c := range cases {
		var body io.Reader
		form := url.Values{}
		if c.grant != "" {
			form.Set("grant_type", c.grant)
			form.Set("client_secret", "not-read-by-the-counter")
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(c.method, base+c.path, body)
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if want[c.service] == nil {
			want[c.service] = map[string]int{}
		}
		want[c.service][c.op]++
	}
	// Admin calls are not counted.
	resp, err := http.Get(base + "/_emulator/operations")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var viaAdmin map[string]map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&viaAdmin); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_emulator/operations: %d, %v", resp.StatusCode, err)
	}
	got := e.Operations()
	if !maps.EqualFunc(got, want, maps.Equal) {
		t.Errorf("Operations() = %v\nwant %v", got, want)
	}
	if !maps.EqualFunc(viaAdmin, want, maps.Equal) {
		t.Errorf("GET /_emulator/operations = %v\nwant %v", viaAdmin, want)
	}
	if n := e.Requests(""); n != len(cases) {
		t.Errorf("Requests counts %d, want %d", n, len(cases))
	}
	// Operations hands out a copy.
	got["cloud"]["token"] = 99
	if e.Operations()["cloud"]["token"] != 2 {
		t.Error("Operations' map is the emulator's own")
	}
}

// Reading the form to name the grant leaves the body for the handler: a
// token request still gets its token.
func TestOperationsLeaveTheBody(t *testing.T) {
	e, base := start(t)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {emulator.DemoCloudClientID},
		"client_secret": {emulator.DemoCloudClientSecret}}
	resp, err := http.PostForm(base+"/api/auth/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token request: %d, %v", resp.StatusCode, err)
	}
	if n := e.Operations()["cloud"]["token"]; n != 1 {
		t.Errorf("cloud token counted %d times, want 1", n)
	}
}
