package paths_test

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/backend"
)

// Every path has a synopsis and a description (Vault's OpenAPI document
// shows only the synopsis, so the end-to-end check cannot see the
// description), every operation a summary, every field a description and,
// but for the name in the path, display attributes.
func TestEveryPathIsDocumented(t *testing.T) {
	b := backend.New(logical.TestBackendConfig())
	if strings.TrimSpace(b.Help) == "" {
		t.Error("the backend has no help")
	}
	for _, p := range b.Paths {
		if strings.TrimSpace(p.HelpSynopsis) == "" || strings.TrimSpace(p.HelpDescription) == "" {
			t.Errorf("%s: HelpSynopsis or HelpDescription missing", p.Pattern)
		}
		for op, h := range p.Operations {
			if strings.TrimSpace(h.Properties().Summary) == "" {
				t.Errorf("%s %s: no summary", op, p.Pattern)
			}
		}
		for name, f := range p.Fields {
			if strings.TrimSpace(f.Description) == "" {
				t.Errorf("%s: field %s has no description", p.Pattern, name)
			}
			if name != "name" && f.DisplayAttrs == nil {
				t.Errorf("%s: field %s has no display attributes", p.Pattern, name)
			}
			if f.Type == framework.TypeInvalid {
				t.Errorf("%s: field %s has no type", p.Pattern, name)
			}
		}
	}
}
