package lifecycle

import (
	"fmt"
	"slices"
	"strings"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// Narrowing is what one creds read asks beyond the role: a subset of the
// role's scopes, or (cloud) one of the role's organizations. The zero
// value asks nothing, and the read mints what the role says.
type Narrowing struct {
	Scopes       []string
	Organization string
}

// Asked reports whether the read asked for anything.
func (n Narrowing) Asked() bool { return len(n.Scopes) > 0 || n.Organization != "" }

// Names of the creds parameters, as errors name them.
const (
	ParamScopes       = "scopes"
	ParamOrganization = "organization"
)

const (
	// ProviderCloud is the provider whose roles take organizations.
	ProviderCloud = "cloud"
	// cloudOrgScope is the prefix of a Cloud organization scope.
	cloudOrgScope = "organization:"
)

// RequestScopes are the scopes a read of role requests: the role's (or
// its config's) when the read asks nothing, otherwise the narrowed set.
// A request the role does not allow is a 400 naming the parameter.
func RequestScopes(role *RoleEntry, cfg *ConfigEntry, ask Narrowing) ([]string, error) {
	if !ask.Asked() {
		return RoleScopes(role, cfg), nil
	}
	if err := narrowingAllowed(role, cfg, ask); err != nil {
		return nil, err
	}
	if ask.Organization != "" {
		return organizationScope(role, ask.Organization)
	}
	allowed := RoleScopes(role, cfg)
	var outside []string
	for _, s := range ask.Scopes {
		if !slices.Contains(allowed, s) {
			outside = append(outside, fmt.Sprintf("%q", s))
		}
	}
	if len(outside) > 0 {
		if len(allowed) == 0 {
			return nil, BadField(ParamScopes, "%s: role requests no scopes, so a read cannot narrow them", strings.Join(outside, ", "))
		}
		return nil, BadField(ParamScopes, "%s not among the role's scopes (%s); ask for a subset of them",
			strings.Join(outside, ", "), strings.Join(allowed, " "))
	}
	return ask.Scopes, nil
}

// narrowingAllowed refuses parameters the role or its provider do not
// take.
func narrowingAllowed(role *RoleEntry, cfg *ConfigEntry, ask Narrowing) error {
	param := ParamScopes
	if len(ask.Scopes) == 0 {
		param = ParamOrganization
	}
	switch {
	case role.NoNarrowing:
		return BadField(param, "this role has allow_narrowing=false: its reads take no scopes or organization")
	case role.GrantType == provider.GrantAuthorizationCode:
		return BadField(param, "an authorization_code role's token keeps the scopes the user granted; "+
			"narrow the role's scopes and authorize again instead")
	case ask.Organization != "" && cfg.Provider != ProviderCloud:
		return BadField(ParamOrganization, "only cloud roles take an organization")
	case ask.Organization != "" && len(ask.Scopes) > 0:
		return BadField(ParamOrganization, "give organization or scopes, not both")
	}
	return nil
}

// organizationScope is the scope of a Cloud read that picks org.
func organizationScope(role *RoleEntry, org string) ([]string, error) {
	if !provider.IsUUID(org) {
		return nil, BadField(ParamOrganization, "%q is not a uuid", org)
	}
	if len(role.Organizations) == 0 {
		return nil, BadField(ParamOrganization, "the role allows no organizations; set organizations=<uuid>,... on the role first")
	}
	if !slices.Contains(role.Organizations, org) {
		return nil, BadField(ParamOrganization, "%s is not one of the role's organizations (%s)", org,
			strings.Join(role.Organizations, ", "))
	}
	return []string{cloudOrgScope + org}, nil
}

// askedData is what a lease keeps of the read's parameters, for audit.
func askedData(ask Narrowing, internal map[string]any) {
	if len(ask.Scopes) > 0 {
		internal[IDRequestedScopes] = strings.Join(ask.Scopes, " ")
	}
	if ask.Organization != "" {
		internal[IDRequestedOrganization] = ask.Organization
	}
}
