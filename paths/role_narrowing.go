package paths

import (
	"slices"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// Role fields that govern what a creds read may ask.
const (
	fOrganizations  = "organizations"
	fAllowNarrowing = "allow_narrowing"
)

// narrowingFields are the schemas of the role fields parseNarrowing reads.
func narrowingFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		fOrganizations: {Type: framework.TypeCommaStringSlice,
			Description: "cloud: organization uuids a creds read may pick with organization=<uuid> (the token is then " +
				"scoped organization:<uuid>). Not together with an organization:<uuid> scope on the role.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Organizations"}},
		fAllowNarrowing: {Type: framework.TypeBool, Default: true,
			Description:  "Whether a creds read may take scopes or organization parameters to narrow its token. Default true.",
			DisplayAttrs: &framework.DisplayAttributes{Name: "Allow narrowing"}},
	}
}

// parseNarrowing applies the written organizations and allow_narrowing
// onto r, whose provider is providerName, and checks them.
func parseNarrowing(d *framework.FieldData, r *lifecycle.RoleEntry, providerName string) error {
	if v, ok := d.GetOk(fAllowNarrowing); ok {
		r.NoNarrowing = !v.(bool)
	}
	if v, ok := d.GetOk(fOrganizations); ok {
		r.Organizations = cleanScopes(v.([]string))
	}
	if len(r.Organizations) == 0 {
		r.Organizations = nil
		return nil
	}
	if providerName != lifecycle.ProviderCloud {
		return lifecycle.BadField(fOrganizations, "only cloud roles take organizations (this role's config is %s)", providerName)
	}
	for _, org := range r.Organizations {
		if !provider.IsUUID(org) {
			return lifecycle.BadField(fOrganizations, "%q is not a uuid; give organization uuids, comma separated", org)
		}
	}
	if i := slices.IndexFunc(r.Scopes, func(s string) bool { return strings.HasPrefix(s, "organization:") }); i >= 0 {
		return lifecycle.BadField(fOrganizations, "the role also has scopes=%s: set either one organization as scopes, "+
			"or the organizations a read may pick (and no organization scope), not both", r.Scopes[i])
	}
	return nil
}
