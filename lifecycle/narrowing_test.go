package lifecycle

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

func TestRequestScopes(t *testing.T) {
	const org, other = "0b7a9a4e-5f0e-4c5b-9d3e-1f2a3b4c5d6e", "9d3e1f2a-3b4c-4d6e-8b7a-9a4e5f0e4c5b"
	oauth := &ConfigEntry{}
	oauth.Provider, oauth.Scopes = "oauth2", []string{"read", "write", "admin"}
	cloud := &ConfigEntry{}
	cloud.Provider = ProviderCloud
	for _, c := range []struct {
		name string
		role RoleEntry
		cfg  *ConfigEntry
		ask  Narrowing
		want []string
		bad  string // the 400's field and words, or "" for success
	}{
		{"plain read: the role's", RoleEntry{Scopes: []string{"read"}}, oauth, Narrowing{}, []string{"read"}, ""},
		{"plain read: the config's", RoleEntry{}, oauth, Narrowing{}, []string{"read", "write", "admin"}, ""},
		{"subset of the config's", RoleEntry{}, oauth, Narrowing{Scopes: []string{"admin"}}, []string{"admin"}, ""},
		{"outside the role", RoleEntry{Scopes: []string{"read"}}, oauth, Narrowing{Scopes: []string{"write"}}, nil, `scopes "write"`},
		{"forbidden", RoleEntry{Scopes: []string{"read"}, NoNarrowing: true}, oauth, Narrowing{Scopes: []string{"read"}}, nil,
			"scopes allow_narrowing=false"},
		{"user authorization", RoleEntry{GrantType: provider.GrantAuthorizationCode}, oauth, Narrowing{Scopes: []string{"read"}}, nil,
			"scopes authorization_code"},
		{"organization picked", RoleEntry{Organizations: []string{org, other}}, cloud, Narrowing{Organization: other},
			[]string{"organization:" + other}, ""},
		{"organization not listed", RoleEntry{Organizations: []string{org}}, cloud, Narrowing{Organization: other}, nil,
			"organization " + other},
		{"organization elsewhere", RoleEntry{}, oauth, Narrowing{Organization: org}, nil, "organization cloud"},
		{"organization forbidden", RoleEntry{Organizations: []string{org}, NoNarrowing: true}, cloud, Narrowing{Organization: org},
			nil, "organization allow_narrowing=false"},
	} {
		got, err := RequestScopes(&c.role, c.cfg, c.ask)
		if c.bad == "" {
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
			}
			continue
		}
		var ue *UserError
		if !errors.As(err, &ue) {
			t.Errorf("%s: want a 400, got %v %v", c.name, got, err)
			continue
		}
		words := strings.Fields(c.bad)
		if ue.field != words[0] {
			t.Errorf("%s: the 400 names %q, want %q", c.name, ue.field, words[0])
		}
		for _, w := range words[1:] {
			if !strings.Contains(ue.msg, w) {
				t.Errorf("%s: %q lacks %q", c.name, ue.msg, w)
			}
		}
	}
}
