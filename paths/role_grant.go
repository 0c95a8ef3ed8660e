package paths

import (
	"context"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// roleGrant is what roles and static roles both say: the config whose
// account mints, the scopes, and how a token is granted.
type roleGrant struct {
	Config      string
	Scopes      []string
	GrantType   string // as stored; "" is the provider's default
	RedirectURL string
}

// grant is the grant type in force.
func (g *roleGrant) grant(spec *provider.Spec) string {
	if g.GrantType == "" {
		return spec.GrantTypes[0]
	}
	return g.GrantType
}

// parseRoleGrant is the one parser of the fields roles and static roles
// share: it applies the written config, scopes, grant_type and
// redirect_url onto g (the stored role's, or zero), checks them against
// the config's provider, and returns the config's account.
func (e *Env) parseRoleGrant(ctx context.Context, s logical.Storage, d *framework.FieldData, g *roleGrant) (*lifecycle.Account,
	*provider.Spec, error) {
	if v, ok := d.GetOk(fConfig); ok {
		g.Config = strings.TrimSpace(v.(string))
	}
	if g.Config == "" {
		return nil, nil, lifecycle.BadField(fConfig, "required: the name of a config/ entry")
	}
	acct, err := e.Account(ctx, s, g.Config)
	if err != nil {
		return nil, nil, err
	}
	if acct == nil {
		return nil, nil, lifecycle.BadField(fConfig, "config %q does not exist; write config/%s first", g.Config, g.Config)
	}
	spec, _ := provider.Lookup(acct.Entry.Provider)
	if v, ok := d.GetOk(fScopes); ok {
		g.Scopes = cleanScopes(v.([]string))
	}
	if v, ok := d.GetOk(fGrantType); ok {
		g.GrantType = strings.TrimSpace(v.(string))
	}
	if v, ok := d.GetOk(fRedirectURL); ok {
		g.RedirectURL = strings.TrimSpace(v.(string))
	}
	return acct, spec, checkRoleGrant(g, spec, acct.Eff)
}

// checkRoleGrant checks a role's grant against its provider and config.
func checkRoleGrant(g *roleGrant, spec *provider.Spec, eff provider.Config) error {
	grant := g.grant(spec)
	if !spec.AllowsGrant(grant) {
		return lifecycle.BadField(fGrantType, "%q is not available for provider %s; use %s", grant, spec.Name, quoteList(spec.GrantTypes))
	}
	if spec.ValidateScopes != nil && len(g.Scopes) > 0 {
		if err := spec.ValidateScopes(g.Scopes); err != nil {
			return lifecycle.BadField(fScopes, "%s", err)
		}
	}
	if grant != provider.GrantAuthorizationCode {
		if g.RedirectURL != "" {
			return lifecycle.BadField(fRedirectURL, "only authorization_code roles take a redirect_url")
		}
		return nil
	}
	if g.RedirectURL == "" {
		return lifecycle.BadField(fRedirectURL, "required for authorization_code roles, e.g. https://<vault>/v1/acquia/callback")
	}
	if err := checkURL(fRedirectURL, g.RedirectURL); err != nil {
		return err
	}
	if eff.AuthorizeURL == "" {
		return lifecycle.BadField(fGrantType, "authorization_code needs the config's authorize_url; write authorize_url to config/%s first",
			g.Config)
	}
	return nil
}
