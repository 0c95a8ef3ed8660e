package paths

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// A static role is one upstream token that Vault holds, shares with every
// reader of static-creds/<name>, and rotates before it expires
// (rotation.go). Many readers, one token: no lease, no upstream call on the
// read path.

// Static role field names.
const (
	fRotationPeriod = "rotation_period"
	fGracePeriod    = "grace_period"
)

const (
	// minRotationPeriod is the shortest rotation_period accepted.
	minRotationPeriod = 10 * time.Second
	// defaultGracePeriod is how long a rotated-out token stays valid where
	// the upstream can revoke it.
	defaultGracePeriod = time.Minute
)

// staticRole is the stored form of static-roles/:name.
type staticRole struct {
	Config string   `json:"config"`
	Scopes []string `json:"scopes,omitempty"`
	// RotationPeriod 0 means 80% of the upstream token's lifetime.
	RotationPeriod time.Duration `json:"rotation_period,omitempty"`
	// GracePeriod is nil when not set (the default applies).
	GracePeriod *time.Duration `json:"grace_period,omitempty"`
	// GrantType authorization_code (source, oauth2): the token comes from
	// a user's authorization (authorize/<name>), refreshed at each
	// rotation. Empty means client_credentials.
	GrantType   string `json:"grant_type,omitempty"`
	RedirectURL string `json:"redirect_url,omitempty"`
}

func (r *staticRole) grantType() string {
	if r.GrantType == "" {
		return provider.GrantClientCredentials
	}
	return r.GrantType
}

func (e *Env) staticRolePaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      staticRolePrefix + framework.GenericNameRegex("name") + "$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationSuffix: "static-role"},
			Fields: map[string]*framework.FieldSchema{
				"name": {Type: framework.TypeString, Required: true, Description: "Name of the static role."},
				fConfig: {Type: framework.TypeString, Description: "Config whose account mints the token. Required; must exist.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Config"}},
				fScopes: {Type: framework.TypeCommaStringSlice, Description: "Scopes to request; the config's when empty.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Scopes"}},
				fRotationPeriod: {Type: framework.TypeDurationSecond,
					Description:  "How often the token is replaced: at least 10s, at most 80% of the upstream token's lifetime (the default).",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Rotation period"}},
				fGracePeriod: {Type: framework.TypeDurationSecond,
					Description:  "How long the previous token stays valid after a rotation before it is revoked upstream. Default 1m where the upstream can revoke.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Grace period"}},
				fGrantType: {Type: framework.TypeString,
					Description:  "client_credentials (default) or authorization_code (source, oauth2): a user's authorization, given through authorize/<name>, refreshed at each rotation.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Grant type"}},
				fRedirectURL: {Type: framework.TypeString,
					Description:  "authorization_code static roles: where the provider sends the browser, usually https://<vault>/v1/<mount>/callback.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Redirect URL"}},
			},
			ExistenceCheck: e.staticRoleExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: forwarded(&framework.PathOperation{Callback: strict(e.staticRoleWrite),
					Summary: "Create a static role; its first token is minted at once."}),
				logical.UpdateOperation: forwarded(&framework.PathOperation{Callback: strict(e.staticRoleWrite),
					Summary: "Update a static role; a new config or scopes rotate its token at once."}),
				logical.ReadOperation: &framework.PathOperation{Callback: edge(e.staticRoleRead),
					Summary: "Read a static role and the state of its rotation."},
				logical.DeleteOperation: forwarded(&framework.PathOperation{Callback: edge(e.staticRoleDelete),
					Summary: "Delete a static role; its tokens are revoked upstream where the provider can."}),
			},
			HelpSynopsis: "One token that Vault holds, shares with every reader and rotates before it expires.",
			HelpDescription: `Reading static-creds/<name> returns the role's current token, with no lease and
no upstream call. Vault replaces the token every rotation_period; where the
upstream can revoke, the previous token stays valid for grace_period, then is
revoked. Use it where many readers need the same access (Vault Agent on many
instances, Terraform plans); use creds/<role> for one token per consumer.`,
		},
		{
			Pattern:      staticRolePrefix + "?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationSuffix: "static-roles"},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: listKeys(staticRolePrefix), Summary: "List static roles."},
			},
			HelpSynopsis:    "List the names of static roles.",
			HelpDescription: "Lists every static role of this mount.",
		},
	}
}

func (e *Env) loadStaticRole(ctx context.Context, s logical.Storage, name string) (*staticRole, error) {
	return getJSON[staticRole](ctx, s, staticRolePrefix+name, fmt.Sprintf("static role %q", name))
}

func (e *Env) staticRoleExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := e.loadStaticRole(ctx, req.Storage, d.Get("name").(string))
	return r != nil, err
}

// gracePeriod is the role's grace period, its default applied.
func (r *staticRole) gracePeriod(revocable bool) time.Duration {
	if !revocable {
		return 0
	}
	if r.GracePeriod != nil {
		return *r.GracePeriod
	}
	return defaultGracePeriod
}

// rotationPeriod is the role's rotation period for a token of lifetime.
func (r *staticRole) rotationPeriod(lifetime time.Duration) time.Duration {
	if r.RotationPeriod > 0 {
		return r.RotationPeriod
	}
	p := lifetime * 8 / 10
	if p < minRotationPeriod {
		p = minRotationPeriod
	}
	return p.Truncate(time.Second)
}

func (e *Env) staticRoleWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := e.ensureWritable(); err != nil {
		return nil, err
	}
	defer e.lockStaticRole(name)()

	existing, err := e.loadStaticRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	role := staticRole{}
	if existing != nil {
		role = *existing
	}
	if v, ok := d.GetOk(fConfig); ok {
		role.Config = strings.TrimSpace(v.(string))
	}
	if role.Config == "" {
		return nil, badField(fConfig, "required: the name of a config/ entry")
	}
	cfg, err := e.loadConfig(ctx, req.Storage, role.Config)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, badField(fConfig, "config %q does not exist; write config/%s first", role.Config, role.Config)
	}
	spec, _ := provider.Lookup(cfg.Provider)
	if v, ok := d.GetOk(fScopes); ok {
		role.Scopes = cleanScopes(v.([]string))
	}
	if spec.ValidateScopes != nil && len(role.Scopes) > 0 {
		if err := spec.ValidateScopes(role.Scopes); err != nil {
			return nil, badField(fScopes, "%s", err)
		}
	}
	if v, ok := d.GetOk(fRotationPeriod); ok {
		p := time.Duration(v.(int)) * time.Second
		if p != 0 && p < minRotationPeriod {
			return nil, badField(fRotationPeriod, "must be at least %s (got %s), or 0 for 80%% of the upstream lifetime", minRotationPeriod, p)
		}
		role.RotationPeriod = p
	}
	if v, ok := d.GetOk(fGracePeriod); ok {
		g := time.Duration(v.(int)) * time.Second
		if g < 0 {
			return nil, badField(fGracePeriod, "must not be negative (got %s)", g)
		}
		role.GracePeriod = &g
	}
	if role.RotationPeriod > 0 && role.GracePeriod != nil && *role.GracePeriod >= role.RotationPeriod {
		return nil, badField(fGracePeriod, "%s must be shorter than rotation_period %s", *role.GracePeriod, role.RotationPeriod)
	}
	if v, ok := d.GetOk(fGrantType); ok {
		role.GrantType = strings.TrimSpace(v.(string))
	}
	if v, ok := d.GetOk(fRedirectURL); ok {
		role.RedirectURL = strings.TrimSpace(v.(string))
	}
	asRole := roleEntry{Config: role.Config, Scopes: role.Scopes, GrantType: role.grantType(), RedirectURL: role.RedirectURL}
	if err := validateRole(&asRole, spec); err != nil {
		return nil, err
	}
	if err := checkStaticRoom(role.Config, cfg); err != nil {
		return nil, err
	}
	if err := e.checkDisableAllUse(ctx, req.Storage, role.Config, cfg, name, ""); err != nil {
		return nil, err
	}
	userGrant := role.grantType() == provider.GrantAuthorizationCode
	if eff, _ := provider.Effective(cfg.Config); userGrant && eff.AuthorizeURL == "" {
		return nil, badField(fGrantType, "authorization_code needs the config's authorize_url; write authorize_url to config/%s first",
			role.Config)
	}
	// A user authorization belongs to one config and grant.
	dropAuthorization := existing != nil && (existing.Config != role.Config || existing.grantType() != role.grantType())

	rotateNow := existing == nil || existing.Config != role.Config || existing.grantType() != role.grantType() ||
		strings.Join(existing.Scopes, " ") != strings.Join(role.Scopes, " ")
	st, err := e.loadStaticToken(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if !rotateNow {
		if err := checkRotationPeriod(&role, st); err != nil {
			return nil, err
		}
		if err := checkGracePeriod(&role, st, spec.TokenLimit); err != nil {
			return nil, err
		}
	}
	entry, err := logical.StorageEntryJSON(staticRolePrefix+name, role)
	if err != nil {
		return nil, err
	}
	switch {
	case rotateNow && userGrant && existing != nil && !dropAuthorization:
		// Same authorization, new scopes: the next token comes from it
		// now; the current one is served until then.
		if err := req.Storage.Put(ctx, entry); err != nil {
			return nil, fmt.Errorf("storing static role %q: %w", name, err)
		}
		e.rotateOrRecord(ctx, req.Storage, name, &role, st)
	case rotateNow && userGrant:
		// Nothing to mint before a user authorizes: the first token comes
		// with the callback of authorize/<name>.
		if existing != nil {
			if err := e.retireStatic(ctx, req.Storage, name, existing); err != nil {
				return nil, err
			}
		}
		if err := req.Storage.Put(ctx, entry); err != nil {
			return nil, fmt.Errorf("storing static role %q: %w", name, err)
		}
		if dropAuthorization {
			if err := e.dropRoleToken(ctx, req, staticHolder(name)); err != nil {
				return nil, err
			}
		}
	case rotateNow:
		// The first token (or one for the new config or scopes) is minted
		// before the role is stored: a role that cannot mint, or whose
		// rotation_period does not fit the token, stores nothing.
		if err := e.rotateStatic(ctx, req.Storage, name, &role, rotationCheck{entry: entry}); err != nil {
			return nil, err
		}
		if dropAuthorization {
			if err := e.dropRoleToken(ctx, req, staticHolder(name)); err != nil {
				return nil, err
			}
		}
	default:
		if err := req.Storage.Put(ctx, entry); err != nil {
			return nil, fmt.Errorf("storing static role %q: %w", name, err)
		}
		if st == nil {
			// No token yet (an authorization_code role waiting for its
			// user): the first one is scheduled when it is minted.
			break
		}
		st.NextRotation = st.LastRotated.Add(role.rotationPeriod(st.lifetime()))
		if err := e.storeStaticToken(ctx, req.Storage, name, st); err != nil {
			return nil, err
		}
	}
	e.Logger.Info("static role written", "static_role", name, "config", role.Config, "created", existing == nil)
	return nil, nil
}

// checkRotationPeriod: at least 10s and at most 80% of the token's
// lifetime, so that a reader never gets an expired token.
func checkRotationPeriod(role *staticRole, st *staticToken) error {
	if st == nil || role.RotationPeriod == 0 {
		return nil
	}
	if limit := (st.lifetime() * 8 / 10).Truncate(time.Second); role.RotationPeriod > limit {
		return badField(fRotationPeriod, "%s is more than 80%% of the upstream token's lifetime %s; use at most %s",
			role.RotationPeriod, st.lifetime().Truncate(time.Second), limit)
	}
	return nil
}

// checkGracePeriod: where the upstream caps the tokens held (cdp), a
// token in its grace period must be revoked before the next rotation, or
// rotations pile up tokens until max_tokens refuses them all. So the grace
// period, its default included, is shorter than the rotation period, its
// default (80% of the token's lifetime) included.
func checkGracePeriod(role *staticRole, st *staticToken, limited bool) error {
	if !limited || st == nil || st.AccessToken == "" {
		return nil
	}
	period := role.rotationPeriod(st.lifetime())
	if g := role.gracePeriod(true); g >= period {
		return badField(fGracePeriod, "%s must be shorter than the rotation period %s (rotation_period, or 80%% of the "+
			"upstream token's lifetime): a token still in its grace period at the next rotation takes a max_tokens slot, "+
			"and rotations would stop", g, period)
	}
	return nil
}

// checkStaticRoom: a static role on a capped upstream (cdp) holds its
// token and, while it rotates, the next; max_tokens 1 would let it mint
// the first and never rotate.
func checkStaticRoom(config string, cfg *configEntry) error {
	spec, _ := provider.Lookup(cfg.Provider)
	eff, err := provider.Effective(cfg.Config)
	if err != nil || !spec.TokenLimit || eff.MaxTokens >= staticSlotsOf(eff) {
		return err
	}
	return badField(fMaxTokens, "config %q allows %d token(s), and a static role needs %d: its token and, while it rotates, "+
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
func (e *Env) checkDisableAllUse(ctx context.Context, s logical.Storage, config string, cfg *configEntry, static, role string) error {
	eff, err := provider.Effective(cfg.Config)
	if err != nil || !eff.DisablesAll() {
		return err
	}
	roles, err := e.rolesUsing(ctx, s, config)
	if err != nil {
		return err
	}
	statics, err := e.staticRolesUsing(ctx, s, config)
	if err != nil {
		return err
	}
	roles = slices.DeleteFunc(roles, func(r string) bool { return r == role })
	statics = slices.DeleteFunc(statics, func(r string) bool { return r == static })
	switch {
	case static != "" && len(roles)+len(statics) > 0:
		return badField(fConfig, "config %q has token_limit_mode=disable_all and already serves %s: each create disables every "+
			"earlier token of the user, so it serves one static role or leases, not both; give this static role its own "+
			"integration user", config, strings.Join(append(roles, statics...), ", "))
	case role != "" && len(statics) > 0:
		return badField(fConfig, "config %q has token_limit_mode=disable_all and serves static role %s: a lease's create "+
			"would disable its token; give this role its own integration user", config, strings.Join(statics, ", "))
	}
	return nil
}

func (e *Env) staticRoleRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	role, err := e.loadStaticRole(ctx, req.Storage, name)
	if err != nil || role == nil {
		return nil, err
	}
	st, err := e.loadStaticToken(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	cfg, err := e.loadConfig(ctx, req.Storage, role.Config)
	if err != nil {
		return nil, err
	}
	revocable := cfg != nil && e.revocable(role.Config, cfg)
	data := map[string]any{
		fConfig:         role.Config,
		fScopes:         listOrEmpty(role.Scopes),
		fRotationPeriod: durationSeconds(role.RotationPeriod),
		fGracePeriod:    durationSeconds(role.gracePeriod(revocable)),
		fGrantType:      role.grantType(),
		fRedirectURL:    role.RedirectURL,
	}
	if role.grantType() == provider.GrantAuthorizationCode {
		rt, err := e.loadRoleToken(ctx, req.Storage, staticHolder(name))
		if err != nil {
			return nil, err
		}
		data["authorized"] = rt != nil
	}
	if st != nil {
		if role.RotationPeriod == 0 {
			data[fRotationPeriod] = durationSeconds(role.rotationPeriod(st.lifetime()))
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
	if err := e.ensureWritable(); err != nil {
		return nil, err
	}
	defer e.lockStaticRole(name)()
	role, err := e.loadStaticRole(ctx, req.Storage, name)
	if err != nil || role == nil {
		return nil, err
	}
	// Its tokens go upstream first: a failure keeps the role, so nothing is
	// left that no one can revoke.
	if err := e.retireStatic(ctx, req.Storage, name, role); err != nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, staticRolePrefix+name); err != nil {
		return nil, fmt.Errorf("deleting static role %q: %w", name, err)
	}
	e.staticChanged(name)
	if err := e.dropRoleToken(ctx, req, staticHolder(name)); err != nil {
		return nil, err
	}
	e.Logger.Info("static role deleted", "static_role", name)
	return nil, nil
}

// staticRolesUsing names the static roles that use config.
func (e *Env) staticRolesUsing(ctx context.Context, s logical.Storage, config string) ([]string, error) {
	return usersOf(ctx, s, staticRolePrefix, config, func(n string) (string, error) {
		r, err := e.loadStaticRole(ctx, s, n)
		if r == nil {
			return "", err
		}
		return r.Config, err
	})
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
	e.graph.Lock()
	lock := locksFor(e.staticLocks, name)
	lock.Lock()
	return func() {
		lock.Unlock()
		e.graph.Unlock()
	}
}
