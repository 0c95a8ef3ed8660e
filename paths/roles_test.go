package paths_test

import (
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/hashicorp/vault/sdk/logical"
)

func TestRoleRejectsBadInput(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	cases := []struct {
		name  string
		data  map[string]any
		field string
	}{
		{"missing config", map[string]any{"ttl": 60}, "config"},
		{"config does not exist", map[string]any{"config": "nope"}, "config"},
		{"bad cloud scope", map[string]any{"config": "c", "scopes": "content:read"}, "scopes"},
		{"org uuid malformed", map[string]any{"config": "c", "scopes": "organization:1234"}, "scopes"},
		{"authorization_code on cloud", map[string]any{"config": "c", "grant_type": "authorization_code", "redirect_url": "https://vault.example.com/v1/acquia/callback"}, "grant_type"},
		{"unknown grant", map[string]any{"config": "c", "grant_type": "password"}, "grant_type"},
		{"redirect_url on client_credentials", map[string]any{"config": "c", "redirect_url": "https://vault.example.com/cb"}, "redirect_url"},
		{"negative ttl", map[string]any{"config": "c", "ttl": "-1m"}, "ttl"},
		{"negative max_ttl", map[string]any{"config": "c", "max_ttl": "-1m"}, "max_ttl"},
		{"ttl above max_ttl", map[string]any{"config": "c", "ttl": "10m", "max_ttl": "5m"}, "ttl"},
		{"unknown field", map[string]any{"config": "c", "tll": "5m"}, "tll"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, ok := plugintest.BadRequest(h.Write("roles/bad", tc.data))
			if !ok {
				t.Fatalf("want a 400, got %s", msg)
			}
			if !strings.Contains(msg, tc.field) {
				t.Errorf("error %q does not name %q", msg, tc.field)
			}
			if h.Stored("roles/bad") {
				t.Error("a failed write stored the role")
			}
		})
	}
}

func TestRoleReadAndDefaults(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/r", map[string]any{"config": "c", "scopes": "organization:" + plugintest.OrgUUID, "ttl": "2m", "max_ttl": "4m"})
	d := h.MustRead("roles/r").Data
	if d["config"] != "c" || d["grant_type"] != "client_credentials" || d["ttl"] != int64(120) || d["max_ttl"] != int64(240) {
		t.Errorf("read: %#v", d)
	}
	if s := d["scopes"].([]string); len(s) != 1 || s[0] != "organization:"+plugintest.OrgUUID {
		t.Errorf("scopes: %v", s)
	}
	// Partial update keeps the rest; an update that breaks a rule stores nothing.
	h.MustWrite("roles/r", map[string]any{"ttl": "1m"})
	if resp, _ := h.Write("roles/r", map[string]any{"ttl": "10m"}); resp == nil || !resp.IsError() {
		t.Fatal("ttl above max_ttl accepted on update")
	}
	d = h.MustRead("roles/r").Data
	if d["ttl"] != int64(60) || d["max_ttl"] != int64(240) {
		t.Errorf("after update: %#v", d)
	}
	resp, err := h.Do(logical.ListOperation, "roles/", nil)
	if err != nil || len(resp.Data["keys"].([]string)) != 1 {
		t.Errorf("list: %v %v", resp, err)
	}
}
