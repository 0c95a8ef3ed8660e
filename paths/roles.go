package paths

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// Role field names.
const (
	fConfig      = "config"
	fGrantType   = "grant_type"
	fRedirectURL = "redirect_url"
	fTTL         = "ttl"
	fMaxTTL      = "max_ttl"
)

func (e *Env) rolePaths() []*framework.Path {
	fields := grantFields("Config whose account mints the tokens. Required; must exist.",
		"Scopes to request; the config's when empty. Cloud: organization:<uuid> for a federated organization.",
		"client_credentials (default) or authorization_code (source, oauth2).",
		"authorization_code roles: where the provider sends the browser, usually https://<vault>/v1/<mount>/callback.")
	fields[fTTL] = &framework.FieldSchema{Type: framework.TypeDurationSecond,
		Description:  "Lease TTL; the mount default when unset. Never past the upstream token's expiry.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "TTL"}}
	fields[fMaxTTL] = &framework.FieldSchema{Type: framework.TypeDurationSecond,
		Description:  "Longest a lease may be renewed to; the mount maximum when unset.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Max TTL"}}
	for name, f := range narrowingFields() {
		fields[name] = f
	}
	return roleKind{
		prefix: lifecycle.RolePrefix, noun: "role", one: "role", many: "roles", listPlural: "roles",
		fields: fields, exists: e.roleExists, write: e.roleWrite, read: e.roleRead, del: e.roleDelete,
		summaries: [4]string{"Create a role.", "Update a role; fields not given keep their values.", "Read a role.",
			"Delete a role; its leases stay revocable."},
		synopsis: "Define how dynamic credentials are minted from a config.",
		help: `A role names a config, the scopes to request and the lease TTLs. Reading
creds/<role> mints a new upstream token as a Vault lease. A lease never
outlives the upstream token. A read may narrow its token to a subset of the
role's scopes, or for cloud to one of the role's organizations, unless
allow_narrowing is false.`,
	}.paths()
}

func (e *Env) roleExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := e.LoadRole(ctx, req.Storage, d.Get("name").(string))
	return r != nil, err
}

func (e *Env) roleWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	warnings, dropAuthorization, err := e.storeRole(ctx, req, d)
	if err == nil && dropAuthorization {
		// Outside the graph lock: revoking upstream may take a while.
		err = e.DropRoleToken(ctx, req.Storage, d.Get("name").(string))
	}
	if err != nil || len(warnings) == 0 {
		return nil, err
	}
	return &logical.Response{Warnings: warnings}, nil
}

// storeRole validates and stores a role, and reports whether the role's
// user authorization must go because its config or grant changed.
func (e *Env) storeRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (warnings []string, dropAuthorization bool, err error) {
	name := d.Get("name").(string)
	if err := checkName(name); err != nil {
		return nil, false, err
	}
	e.Graph.Lock()
	defer e.Graph.Unlock()

	existing, err := e.LoadRole(ctx, req.Storage, name)
	if err != nil {
		return nil, false, err
	}
	role := lifecycle.RoleEntry{}
	if existing != nil {
		role = *existing
	}
	g := roleGrant{Config: role.Config, Scopes: role.Scopes, GrantType: role.GrantType, RedirectURL: role.RedirectURL}
	acct, spec, err := e.parseRoleGrant(ctx, req.Storage, d, &g)
	if err != nil {
		return nil, false, err
	}
	role.Config, role.Scopes, role.GrantType, role.RedirectURL = g.Config, g.Scopes, g.grant(spec), g.RedirectURL
	if err := e.checkDisableAllUse(ctx, req.Storage, role.Config, acct.Entry, "", name); err != nil {
		return nil, false, err
	}
	if err := parseRoleTTLs(d, &role); err != nil {
		return nil, false, err
	}
	if err := parseNarrowing(d, &role, acct.Entry.Provider); err != nil {
		return nil, false, err
	}
	// A user authorization belongs to one config and grant: when either
	// changes it is dropped, and the role must be authorized again.
	dropAuthorization = existing != nil && (existing.Config != role.Config || existing.GrantType != role.GrantType)
	if existing != nil && !dropAuthorization && role.GrantType == provider.GrantAuthorizationCode &&
		strings.Join(existing.Scopes, " ") != strings.Join(role.Scopes, " ") {
		warnings = append(warnings, "the new scopes apply from the next authorize/"+name+"; the stored authorization keeps the scopes the user granted")
	}

	err = lifecycle.PutJSON(ctx, req.Storage, lifecycle.RolePrefix+name, fmt.Sprintf("role %q", name), role)
	e.Roles.Drop(name)
	if err != nil {
		return nil, false, err
	}
	e.Logger.Info("role written", "role", name, "config", role.Config, "created", existing == nil)
	return warnings, dropAuthorization, nil
}

// parseRoleTTLs applies the written ttl and max_ttl onto r and checks
// them.
func parseRoleTTLs(d *framework.FieldData, r *lifecycle.RoleEntry) error {
	if v, ok := d.GetOk(fTTL); ok {
		r.TTL = time.Duration(v.(int)) * time.Second
	}
	if v, ok := d.GetOk(fMaxTTL); ok {
		r.MaxTTL = time.Duration(v.(int)) * time.Second
	}
	if err := checkDuration(fTTL, r.TTL); err != nil {
		return err
	}
	if err := checkDuration(fMaxTTL, r.MaxTTL); err != nil {
		return err
	}
	if r.MaxTTL > 0 && r.TTL > r.MaxTTL {
		return lifecycle.BadField(fTTL, "%s is longer than max_ttl %s; lower ttl or raise max_ttl", r.TTL, r.MaxTTL)
	}
	return nil
}

func (e *Env) roleRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	r, err := e.LoadRole(ctx, req.Storage, name)
	if err != nil || r == nil {
		return nil, err
	}
	data := map[string]any{
		fConfig:         r.Config,
		fScopes:         listOrEmpty(r.Scopes),
		fGrantType:      r.GrantType,
		fRedirectURL:    r.RedirectURL,
		fTTL:            durationSeconds(r.TTL),
		fMaxTTL:         durationSeconds(r.MaxTTL),
		fAllowNarrowing: !r.NoNarrowing,
		fOrganizations:  listOrEmpty(r.Organizations),
	}
	if r.GrantType == provider.GrantAuthorizationCode {
		// Whether the role is usable, never the refresh token itself.
		rt, err := e.LoadRoleToken(ctx, req.Storage, name)
		if err != nil {
			return nil, err
		}
		data["authorized"] = rt != nil
		if rt != nil {
			data["authorized_at"] = rt.AuthorizedAt.Format(time.RFC3339)
		}
	}
	return &logical.Response{Data: data}, nil
}

func (e *Env) roleDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	e.Graph.Lock()
	err := req.Storage.Delete(ctx, lifecycle.RolePrefix+name)
	e.Roles.Drop(name)
	e.Graph.Unlock()
	if err != nil {
		return nil, fmt.Errorf("deleting role %q: %w", name, err)
	}
	if err := e.DropRoleToken(ctx, req.Storage, name); err != nil {
		return nil, err
	}
	e.Logger.Info("role deleted", "role", name)
	return nil, nil
}
