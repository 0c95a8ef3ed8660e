package paths

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// A static role is one upstream token that Vault holds, shares with every
// reader of static-creds/<name>, and rotates before it expires
// (staticrole/rotation.go). Many readers, one token: no lease, no upstream call on the
// read path.

// Static role field names.
const (
	fRotationPeriod = "rotation_period"
	fGracePeriod    = "grace_period"
)

func (e *Env) staticRolePaths() []*framework.Path {
	fields := grantFields("Config whose account mints the token. Required; must exist.",
		"Scopes to request; the config's when empty.",
		"client_credentials (default) or authorization_code (source, oauth2): a user's authorization, given through "+
			"authorize/<name>, refreshed at each rotation.",
		"authorization_code static roles: where the provider sends the browser, usually https://<vault>/v1/<mount>/callback.")
	fields[fRotationPeriod] = &framework.FieldSchema{Type: framework.TypeDurationSecond,
		Description:  "How often the token is replaced: at least 10s, at most 80% of the upstream token's lifetime (the default).",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Rotation period"}}
	fields[fGracePeriod] = &framework.FieldSchema{Type: framework.TypeDurationSecond,
		Description:  "How long the previous token stays valid after a rotation before it is revoked upstream. Default 1m where the upstream can revoke.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Grace period"}}
	return roleKind{
		prefix: lifecycle.StaticRolePrefix, noun: "static role", one: "static-role", many: "static-roles", listPlural: "static roles",
		fields: fields, exists: e.staticRoleExists, write: e.staticRoleWrite, read: e.staticRoleRead, del: e.staticRoleDelete,
		summaries: [4]string{"Create a static role; its first token is minted at once.",
			"Update a static role; a new config or scopes rotate its token at once.",
			"Read a static role and the state of its rotation.",
			"Delete a static role; its tokens are revoked upstream where the provider can."},
		synopsis: "One token that Vault holds, shares with every reader and rotates before it expires.",
		help: `Reading static-creds/<name> returns the role's current token, with no lease and
no upstream call. Vault replaces the token every rotation_period; where the
upstream can revoke, the previous token stays valid for grace_period, then is
revoked. Use it where many readers need the same access (Vault Agent on many
instances, Terraform plans); use creds/<role> for one token per consumer.`,
	}.paths()
}

func (e *Env) staticRoleExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := e.LoadStaticRole(ctx, req.Storage, d.Get("name").(string))
	return r != nil, err
}

func (e *Env) staticRoleWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	defer e.lockStaticRole(name)()

	existing, err := e.LoadStaticRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	role := lifecycle.StaticRole{}
	if existing != nil {
		role = *existing
	}
	g := roleGrant{Config: role.Config, Scopes: role.Scopes, GrantType: role.GrantType, RedirectURL: role.RedirectURL}
	acct, spec, err := e.parseRoleGrant(ctx, req.Storage, d, &g)
	if err != nil {
		return nil, err
	}
	role.Config, role.Scopes, role.GrantType, role.RedirectURL = g.Config, g.Scopes, g.GrantType, g.RedirectURL
	if err := parseStaticPeriods(d, &role); err != nil {
		return nil, err
	}
	if err := checkStaticRoom(role.Config, acct.Entry); err != nil {
		return nil, err
	}
	if err := e.checkDisableAllUse(ctx, req.Storage, role.Config, acct.Entry, name, ""); err != nil {
		return nil, err
	}
	if err := e.WriteStaticRole(ctx, req.Storage, name, existing, &role, spec.TokenLimit); err != nil {
		return nil, err
	}
	if existing != nil && existing.Config != role.Config {
		e.Metrics.ForgetStaticRole(existing.Config, name)
	}
	e.Logger.Info("static role written", "static_role", name, "config", role.Config, "created", existing == nil)
	return nil, nil
}

// parseStaticPeriods applies the written rotation_period and grace_period
// onto role and checks them against each other.
func parseStaticPeriods(d *framework.FieldData, role *lifecycle.StaticRole) error {
	if v, ok := d.GetOk(fRotationPeriod); ok {
		p := time.Duration(v.(int)) * time.Second
		if p != 0 && p < lifecycle.MinRotationPeriod {
			return lifecycle.BadField(fRotationPeriod, "must be at least %s (got %s), or 0 for 80%% of the upstream lifetime",
				lifecycle.MinRotationPeriod, p)
		}
		role.RotationPeriod = p
	}
	if v, ok := d.GetOk(fGracePeriod); ok {
		g := time.Duration(v.(int)) * time.Second
		if g < 0 {
			return lifecycle.BadField(fGracePeriod, "must not be negative (got %s)", g)
		}
		role.GracePeriod = &g
	}
	if role.RotationPeriod > 0 && role.GracePeriod != nil && *role.GracePeriod >= role.RotationPeriod {
		return lifecycle.BadField(fGracePeriod, "%s must be shorter than rotation_period %s", *role.GracePeriod, role.RotationPeriod)
	}
	return nil
}

// checkStaticRoom: a static role on a capped upstream (cdp) holds its
// token and, while it rotates, the next; max_tokens 1 would let it mint
// the first and never rotate.
func checkStaticRoom(config string, cfg *lifecycle.ConfigEntry) error {
	spec, _ := provider.Lookup(cfg.Provider)
	eff, err := provider.Effective(cfg.Config)
	if err != nil || !spec.TokenLimit || eff.MaxTokens >= staticSlotsOf(eff) {
		return err
	}
	return lifecycle.BadField(fMaxTokens, "config %q allows %d token(s), and a static role needs %d: its token and, while it rotates, "+
		"the next; raise the config's max_tokens", config, eff.MaxTokens, staticSlots)
}

// staticSlots is the least max_tokens a static role can rotate under.
const staticSlots = 2

// staticSlotsOf is staticSlots, or 1 where each create disables every
// earlier token: the token a rotation replaces dies with the create.
func staticSlotsOf(eff provider.Config) int {
	if eff.DisablesAll() {
		return 1
	}
	return staticSlots
}

// checkDisableAllUse: a cdp config whose tenant disables every earlier
// token on each create (token_limit_mode=disable_all) serves one static
// role, or leases, never both: a lease's create would kill the static
// role's token, and a rotation a lease's. static or role names what is
// being written.
func (e *Env) checkDisableAllUse(ctx context.Context, s logical.Storage, config string, cfg *lifecycle.ConfigEntry, static, role string) error {
	eff, err := provider.Effective(cfg.Config)
	if err != nil || !eff.DisablesAll() {
		return err
	}
	roles, err := e.RolesUsing(ctx, s, config)
	if err != nil {
		return err
	}
	statics, err := e.StaticRolesUsing(ctx, s, config)
	if err != nil {
		return err
	}
	roles = slices.DeleteFunc(roles, func(r string) bool { return r == role })
	statics = slices.DeleteFunc(statics, func(r string) bool { return r == static })
	switch {
	case static != "" && len(roles)+len(statics) > 0:
		return lifecycle.BadField(fConfig, "config %q has token_limit_mode=disable_all and already serves %s: each create disables every "+
			"earlier token of the user, so it serves one static role or leases, not both; give this static role its own "+
			"integration user", config, strings.Join(append(roles, statics...), ", "))
	case role != "" && len(statics) > 0:
		return lifecycle.BadField(fConfig, "config %q has token_limit_mode=disable_all and serves static role %s: a lease's create "+
			"would disable its token; give this role its own integration user", config, strings.Join(statics, ", "))
	}
	return nil
}

func (e *Env) staticRoleRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	role, err := e.LoadStaticRole(ctx, req.Storage, name)
	if err != nil || role == nil {
		return nil, err
	}
	st, err := e.LoadStaticToken(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	cfg, err := e.LoadConfig(ctx, req.Storage, role.Config)
	if err != nil {
		return nil, err
	}
	revocable := cfg != nil && e.Revocable(role.Config, cfg)
	data := map[string]any{
		fConfig:         role.Config,
		fScopes:         listOrEmpty(role.Scopes),
		fRotationPeriod: durationSeconds(role.RotationPeriod),
		fGracePeriod:    durationSeconds(role.Grace(revocable)),
		fGrantType:      role.Grant(),
		fRedirectURL:    role.RedirectURL,
	}
	if role.Grant() == provider.GrantAuthorizationCode {
		rt, err := e.LoadRoleToken(ctx, req.Storage, lifecycle.StaticHolder(name))
		if err != nil {
			return nil, err
		}
		data["authorized"] = rt != nil
	}
	if st != nil {
		if role.RotationPeriod == 0 {
			data[fRotationPeriod] = durationSeconds(role.Period(st.Lifetime()))
		}
		data["last_rotated"] = formatTime(st.LastRotated)
		data["next_rotation"] = formatTime(st.NextRotation)
		data["expires_at"] = formatTime(st.ExpiresAt)
		data["last_error"] = st.LastError
		data["last_error_at"] = formatTime(st.LastErrorAt)
	}
	return &logical.Response{Data: data}, nil
}

func (e *Env) staticRoleDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	defer e.lockStaticRole(name)()
	role, err := e.LoadStaticRole(ctx, req.Storage, name)
	if err != nil || role == nil {
		return nil, err
	}
	// Its tokens go upstream first: a failure keeps the role, so nothing is
	// left that no one can revoke.
	if err := e.RetireStatic(ctx, req.Storage, name, role); err != nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, lifecycle.StaticRolePrefix+name); err != nil {
		return nil, fmt.Errorf("deleting static role %q: %w", name, err)
	}
	e.StaticChanged(name)
	e.Metrics.ForgetStaticRole(role.Config, name)
	if err := e.DropRoleToken(ctx, req.Storage, lifecycle.StaticHolder(name)); err != nil {
		return nil, err
	}
	e.Logger.Info("static role deleted", "static_role", name)
	return nil, nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// lockStaticRole takes what a write or delete of a static role needs, in
// lock order: graph (its config must not go meanwhile), then the role's
// own lock; the returned func releases both.
func (e *Env) lockStaticRole(name string) (unlock func()) {
	e.Graph.Lock()
	lock := e.StaticLock(name)
	lock.Lock()
	return func() {
		lock.Unlock()
		e.Graph.Unlock()
	}
}
