package paths_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/hashicorp/vault/sdk/logical"
)

// Every bad value is a 400 that names the field, and nothing is stored.
func TestConfigCreateRejectsBadInput(t *testing.T) {
	h := plugintest.New(t)
	cases := []struct {
		name  string
		set   map[string]any
		drop  string
		field string
	}{
		{"missing provider", nil, "provider", "provider"},
		{"unknown provider", map[string]any{"provider": "heroku"}, "", "provider"},
		{"empty client_id", map[string]any{"client_id": ""}, "", "client_id"},
		{"blank client_id", map[string]any{"client_id": "   "}, "", "client_id"},
		{"missing client_secret", nil, "client_secret", "client_secret"},
		{"empty client_secret", map[string]any{"client_secret": ""}, "", "client_secret"},
		{"http non-loopback token_url", map[string]any{"token_url": "http://accounts.acquia.com/api/auth/oauth/token"}, "", "token_url"},
		{"userinfo in token_url", map[string]any{"token_url": "https://user:pw@accounts.acquia.com/t"}, "", "token_url"},
		{"fragment in api_url", map[string]any{"api_url": "https://cloud.acquia.com/api#x"}, "", "api_url"},
		{"no host", map[string]any{"api_url": "https:///api"}, "", "api_url"},
		{"relative url", map[string]any{"token_url": "/oauth/token"}, "", "token_url"},
		{"ftp scheme", map[string]any{"token_url": "ftp://accounts.acquia.com/t"}, "", "token_url"},
		{"negative request_timeout", map[string]any{"request_timeout": "-5s"}, "", "request_timeout"},
		{"zero request_timeout", map[string]any{"request_timeout": "0s"}, "", "request_timeout"},
		{"huge request_timeout", map[string]any{"request_timeout": "1h"}, "", "request_timeout"},
		{"garbage ca_cert", map[string]any{"ca_cert": "not a pem"}, "", "ca_cert"},
		{"non-org scope", map[string]any{"scopes": "content:read"}, "", "scopes"},
		{"org scope without uuid", map[string]any{"scopes": "organization:acme"}, "", "scopes"},
		{"two org scopes", map[string]any{"scopes": "organization:" + plugintest.OrgUUID + ",organization:" + plugintest.FedOrgUUID}, "", "scopes"},
		{"bad auth_style", map[string]any{"auth_style": "header"}, "", "auth_style"},
		{"bad key_uuid", map[string]any{"key_uuid": "abc"}, "", "key_uuid"},
		{"unknown field", map[string]any{"clientsecret": "x"}, "", "clientsecret"},
		{"field of another provider", map[string]any{"username": "tracker_1"}, "", "username"},
		{"max_tokens on cloud", map[string]any{"max_tokens": 0}, "", "max_tokens"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := h.CloudConfigData(tc.set)
			if tc.drop != "" {
				delete(data, tc.drop)
			}
			if msg := h.Refused(t, "config/bad", data, plugintest.CloudSecret); !strings.Contains(msg, tc.field) {
				t.Errorf("error %q does not name field %q", msg, tc.field)
			}
		})
	}
}

func TestConfigUpdateRejectsBadInputAndKeepsOld(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("prod", nil)
	before := h.MustRead("config/prod").Data
	for name, data := range map[string]map[string]any{
		"provider change": {"provider": "cdp"},
		"bad url":         {"token_url": "http://example.com/token"},
		"empty client_id": {"client_id": ""},
		"bad secret":      {"client_secret": "wrong"}, // verify fails upstream
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := h.Write("config/prod", data)
			if err != nil || resp == nil || !resp.IsError() {
				t.Fatalf("want a 400, got %v %v", resp, err)
			}
			after := h.MustRead("config/prod").Data
			for k, v := range before {
				if strings.Join(strings.Fields(toString(after[k])), " ") != strings.Join(strings.Fields(toString(v)), " ") {
					t.Errorf("%s changed from %v to %v", k, v, after[k])
				}
			}
		})
	}
	// The stored secret is still the good one: creds still work.
	h.MustWrite("roles/r", map[string]any{"config": "prod"})
	h.MustRead("creds/r")
}

func TestConfigVerifyFailureNamesUpstreamAndStoresNothing(t *testing.T) {
	h := plugintest.New(t)
	resp, err := h.Write("config/c", h.CloudConfigData(map[string]any{"client_secret": "wrong+secret"}))
	if err != nil || resp == nil || !resp.IsError() {
		t.Fatalf("want a 400, got %v %v", resp, err)
	}
	msg := resp.Error().Error()
	for _, want := range []string{"401", "invalid_client", "client_id/client_secret rejected by 127.0.0.1", "nothing was stored"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "wrong+secret") {
		t.Errorf("error leaks the secret")
	}
	if h.Stored("config/c") {
		t.Error("stored after failed verify")
	}
	// Okta's error shape is understood too.
	h.Emu.SetOktaErrors(true)
	resp, _ = h.Write("config/c", h.CloudConfigData(map[string]any{"client_secret": "wrong"}))
	if resp == nil || !strings.Contains(plugintest.ErrText(resp), "invalid_client") {
		t.Errorf("okta-shaped error not parsed: %v", plugintest.ErrText(resp))
	}
	// verify=false stores without calling upstream.
	n := h.Emu.Requests("/api")
	h.MustWrite("config/c", h.CloudConfigData(map[string]any{"client_secret": "wrong", "verify": false}))
	if h.Emu.Requests("/api") != n {
		t.Error("verify=false still called the upstream")
	}
}

func TestConfigVerifyWarnsForFederatedOrg(t *testing.T) {
	h := plugintest.New(t)
	h.Emu.AddCloudClient(plugintest.EmuFederatedOnly())
	resp := h.MustWrite("config/fed", h.CloudConfigData(map[string]any{"client_id": "fed-key", "client_secret": "fed-secret"}))
	if resp == nil || len(resp.Warnings) == 0 || !strings.Contains(strings.Join(resp.Warnings, " "), "organization:<uuid>") {
		t.Fatalf("want a warning about the organization scope, got %#v", resp)
	}
	// With the org scope the account check passes cleanly.
	resp = h.MustWrite("config/fed", map[string]any{"scopes": "organization:" + plugintest.FedOrgUUID})
	if resp != nil && len(resp.Warnings) > 0 {
		t.Errorf("unexpected warnings %v", resp.Warnings)
	}
}

func TestConfigReadShowsDefaultsNeverSecrets(t *testing.T) {
	h := plugintest.New(t)
	h.MustWrite("config/dflt", map[string]any{
		"provider": "cloud", "client_id": plugintest.CloudID, "client_secret": plugintest.CloudSecret, "verify": false,
	})
	d := h.MustRead("config/dflt").Data
	want := map[string]any{
		"provider":        "cloud",
		"client_id":       plugintest.CloudID,
		"token_url":       "https://accounts.acquia.com/api/auth/oauth/token",
		"api_url":         "https://cloud.acquia.com/api",
		"auth_style":      "body",
		"request_timeout": int64(25),
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %#v, want %#v", k, d[k], v)
		}
	}
	if s, ok := d["scopes"].([]string); !ok || len(s) != 0 {
		t.Errorf("scopes = %#v, want an empty list", d["scopes"])
	}
	for _, k := range []string{"client_secret", "password", "verify", "username", "max_tokens"} {
		if _, ok := d[k]; ok {
			t.Errorf("read returned %s", k)
		}
	}
	for k, v := range d {
		if strings.Contains(toString(v), plugintest.CloudSecret) {
			t.Errorf("read field %s holds the secret", k)
		}
	}
}

func TestConfigPartialUpdateKeepsOtherFields(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("p", map[string]any{"scopes": "organization:" + plugintest.OrgUUID, "request_timeout": "40s"})
	h.MustWrite("config/p", map[string]any{"request_timeout": 30})
	d := h.MustRead("config/p").Data
	if d["request_timeout"] != int64(30) {
		t.Errorf("request_timeout = %v", d["request_timeout"])
	}
	if s := d["scopes"].([]string); len(s) != 1 || s[0] != "organization:"+plugintest.OrgUUID {
		t.Errorf("scopes lost: %v", s)
	}
	if d["client_id"] != plugintest.CloudID {
		t.Errorf("client_id lost")
	}
}

func TestConfigListAndDeleteInUse(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("a", nil)
	h.CloudConfig("b", nil)
	h.MustWrite("roles/uses-a", map[string]any{"config": "a"})
	resp, err := h.Do(logical.ListOperation, "config/", nil)
	if err != nil || len(resp.Data["keys"].([]string)) != 2 {
		t.Fatalf("list: %v %v", resp, err)
	}
	resp, err = h.Do(logical.DeleteOperation, "config/a", nil)
	if err != nil || resp == nil || !resp.IsError() || !strings.Contains(plugintest.ErrText(resp), "uses-a") {
		t.Fatalf("delete of a config in use: want a 400 naming the role, got %v %v", plugintest.ErrText(resp), err)
	}
	if !h.Stored("config/a") {
		t.Fatal("config in use was deleted")
	}
	if _, err := h.Do(logical.DeleteOperation, "roles/uses-a", nil); err != nil {
		t.Fatal(err)
	}
	if resp, err := h.Do(logical.DeleteOperation, "config/a", nil); err != nil || resp.IsError() {
		t.Fatalf("delete: %v %v", plugintest.ErrText(resp), err)
	}
	if h.Stored("config/a") {
		t.Fatal("not deleted")
	}
	// Deleting again is fine.
	if resp, err := h.Do(logical.DeleteOperation, "config/a", nil); err != nil || (resp != nil && resp.IsError()) {
		t.Fatalf("second delete: %v %v", plugintest.ErrText(resp), err)
	}
}

func TestConfigStorageIsSealWrapped(t *testing.T) {
	h := plugintest.New(t)
	found := false
	for _, p := range h.B.SpecialPaths().SealWrapStorage {
		if p == "config/" {
			found = true
		}
	}
	if !found {
		t.Fatal("config/ is not seal-wrapped")
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []string:
		return strings.Join(x, ",")
	}
	return fmt.Sprint(v)
}
