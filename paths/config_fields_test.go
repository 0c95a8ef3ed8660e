package paths

import (
	"slices"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// TestEveryProviderFieldHasItsRow ties the two halves of the config
// fields' validation: each provider's Spec names the fields it takes and
// requires (checked against the effective config by validateEffective),
// and configTable is where each of those fields is described, parsed and
// checked on its own. A name in one without the other would be a field
// that is taken but never parsed, or parsed for no provider.
func TestEveryProviderFieldHasItsRow(t *testing.T) {
	rows := map[string]*configField{}
	for i := range configTable {
		rows[configTable[i].name] = &configTable[i]
	}
	taken := map[string]bool{}
	for _, name := range provider.Names() {
		spec, _ := provider.Lookup(name)
		for _, list := range [][]string{provider.CommonFields, spec.Fields, spec.Required} {
			for _, f := range list {
				taken[f] = true
				if rows[f] == nil && !slices.Contains(rotationFields, f) {
					t.Errorf("provider %s names field %q, which has no configTable row", name, f)
				}
			}
		}
		for _, f := range spec.Required {
			if !spec.Takes(f) {
				t.Errorf("provider %s requires field %q but does not take it", name, f)
			}
		}
	}
	for _, r := range configTable {
		if !taken[r.name] {
			t.Errorf("configTable row %q is taken by no provider", r.name)
		}
	}
	var issuer []string
	for _, r := range configTable {
		if r.issuer {
			issuer = append(issuer, r.name)
		}
	}
	if want := lifecycle.IssuerFields(); !slices.Equal(issuer, want) {
		t.Errorf("configTable's issuer rows are %v; the lifecycle's issuer is made of %v", issuer, want)
	}
}
