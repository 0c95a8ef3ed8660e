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
	return checkUserGrant(g, eff)
}

// checkUserGrant checks an authorization_code role: the code flow needs
// redirect_url and the config's authorize_url; the device grant (RFC
// 8628, authorize flow=device) the config's device_authorization_url and
// no redirect_url.
func checkUserGrant(g *roleGrant, eff provider.Config) error {
	if g.RedirectURL == "" {
		if eff.DeviceAuthorizationURL != "" {
			return nil
		}
		return lifecycle.BadField(fRedirectURL, "required for authorization_code roles, e.g. https://<vault>/v1/acquia/callback "+
			"(or, for the device grant only, write device_authorization_url to config/%s)", g.Config)
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

// roleKind describes a family of named role entries (roles, static roles)
// for entryPaths: their storage prefix, OpenAPI names, fields and
// handlers.
type roleKind struct {
	prefix     string // the path and storage prefix, e.g. "roles/"
	noun       string // "role", "static role"
	one, many  string // OpenAPI operation suffixes
	fields     map[string]*framework.FieldSchema
	exists     framework.ExistenceFunc
	write      framework.OperationFunc
	read, del  framework.OperationFunc
	summaries  [4]string // create, update, read, delete
	synopsis   string
	help       string
	listPlural string // "roles", "static roles"
}

// paths are the entry path (prefix/<name>) and the list path of k. Every
// write goes to the active node (forwarded) and takes no unknown field
// (strict).
func (k roleKind) paths() []*framework.Path {
	fields := map[string]*framework.FieldSchema{
		"name": {Type: framework.TypeString, Required: true, Description: "Name of the " + k.noun + "."},
	}
	for name, f := range k.fields {
		fields[name] = f
	}
	return []*framework.Path{
		{
			Pattern:        k.prefix + framework.GenericNameRegex("name") + "$",
			DisplayAttrs:   &framework.DisplayAttributes{OperationPrefix: "acquia", OperationSuffix: k.one},
			Fields:         fields,
			ExistenceCheck: k.exists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: forwarded(&framework.PathOperation{Callback: strict(k.write), Summary: k.summaries[0]}),
				logical.UpdateOperation: forwarded(&framework.PathOperation{Callback: strict(k.write), Summary: k.summaries[1]}),
				logical.ReadOperation:   &framework.PathOperation{Callback: edge(k.read), Summary: k.summaries[2]},
				logical.DeleteOperation: forwarded(&framework.PathOperation{Callback: edge(k.del), Summary: k.summaries[3]}),
			},
			HelpSynopsis:    k.synopsis,
			HelpDescription: k.help,
		},
		{
			Pattern:      k.prefix + "?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationSuffix: k.many},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: listKeys(k.prefix), Summary: "List " + k.listPlural + "."},
			},
			HelpSynopsis:    "List the names of " + k.listPlural + ".",
			HelpDescription: "Lists every " + strings.TrimSuffix(k.listPlural, "s") + " of this mount.",
		},
	}
}

// grantFields are the schemas of the fields parseRoleGrant reads.
func grantFields(config, scopes, grantType, redirectURL string) map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		fConfig: {Type: framework.TypeString, Description: config,
			DisplayAttrs: &framework.DisplayAttributes{Name: "Config"}},
		fScopes: {Type: framework.TypeCommaStringSlice, Description: scopes,
			DisplayAttrs: &framework.DisplayAttributes{Name: "Scopes"}},
		fGrantType: {Type: framework.TypeString, Description: grantType,
			DisplayAttrs: &framework.DisplayAttributes{Name: "Grant type"}},
		fRedirectURL: {Type: framework.TypeString, Description: redirectURL,
			DisplayAttrs: &framework.DisplayAttributes{Name: "Redirect URL"}},
	}
}
