package paths

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/automatedrotationutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// configEntry is the stored form of config/:name (seal-wrapped).
type configEntry struct {
	provider.Config
	UpdatedAt time.Time `json:"updated_at"`
	// Generation changes on every write, and never repeats for a name
	// (even across delete and create): cached clients are keyed on it.
	Generation uint64 `json:"generation,omitempty"`
	// IssuerChangedAt is when an issuer field last changed: tokens and
	// authorizations from before it, recorded without their issuer, are
	// not sent to the new one.
	IssuerChangedAt time.Time `json:"issuer_changed_at,omitempty"`

	// Automated rotation of the config's own credential (cloud; see
	// root_schedule.go): Vault's settings, whether Vault's rotation
	// manager runs them (else the plugin's periodic function does), and
	// when the current key was written or created.
	Rotation        automatedrotationutil.AutomatedRotationParams `json:"rotation"`
	RotationManaged bool                                          `json:"rotation_managed,omitempty"`
	LastRotated     time.Time                                     `json:"last_rotated,omitempty"`
}

// destinationFields are the config fields that say where requests, and so
// the stored secret, go. An update changing one must carry the secret
// again: whoever may update a config but not know its secret must not be
// able to send it somewhere of their choosing.
var destinationFields = fieldsWhere(func(f *configField) bool { return f.destination })

func destinationValues(c provider.Config) map[string]string {
	return stringValues(c, func(f *configField) bool { return f.destination })
}

// configAction is the path config/<name>/<action>: one update, forwarded
// to the active node.
func configAction(action, verb, suffix string, callback framework.OperationFunc, summary, synopsis, description string) *framework.Path {
	return &framework.Path{
		Pattern:      configPrefix + framework.GenericNameRegex("name") + "/" + action + "$",
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationVerb: verb, OperationSuffix: suffix},
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString, Required: true, Description: "Name of the config."},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: forwarded(&framework.PathOperation{Callback: callback, Summary: summary}),
		},
		HelpSynopsis:    synopsis,
		HelpDescription: description,
	}
}

func (e *Env) configPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:        configPrefix + framework.GenericNameRegex("name") + "$",
			DisplayAttrs:   &framework.DisplayAttributes{OperationPrefix: "acquia", OperationSuffix: "config"},
			Fields:         configSchema(),
			ExistenceCheck: e.configExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: forwarded(&framework.PathOperation{Callback: strict(e.configWrite),
					Summary: "Create an upstream account config."}),
				logical.UpdateOperation: forwarded(&framework.PathOperation{Callback: strict(e.configWrite),
					Summary: "Update an upstream account config; fields not given keep their values."}),
				logical.ReadOperation: &framework.PathOperation{Callback: edge(e.configRead),
					Summary: "Read a config; write-only fields are never returned."},
				logical.DeleteOperation: forwarded(&framework.PathOperation{Callback: edge(e.configDelete),
					Summary: "Delete a config; refused while a role uses it."}),
			},
			HelpSynopsis: "Configure an upstream account (Acquia Cloud, Source, CDP, Acronis or any OAuth 2.0 token endpoint).",
			HelpDescription: `A config holds the credentials of one upstream account. A mount holds
several. Secrets (client_secret, password) are write-only and seal-wrapped.
With verify=true (the default) a write first proves the credentials upstream
and stores nothing when they fail.`,
		},
		configAction("revoke-all", "revoke-all", "tokens", strict(e.configRevokeAll),
			"Delete every upstream token of the config's user (cdp).",
			"The kill switch: delete every upstream token of a CDP integration user.",
			`Calls CDP's DELETE /token with the user's credentials, which deletes every
token of that user, including any made outside Vault, and forgets the tokens
the plugin held. The Vault-side companion is
vault lease revoke -prefix <mount>/creds/<role>, which ends the leases.`),
		e.configRotatePath(),
		{
			Pattern:      configPrefix + "?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationSuffix: "configs"},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: listKeys(configPrefix), Summary: "List configs."},
			},
			HelpSynopsis:    "List the names of configs.",
			HelpDescription: "Lists every config of this mount.",
		},
	}
}

func (e *Env) loadConfig(ctx context.Context, s logical.Storage, name string) (*configEntry, error) {
	c, err := e.configs.load(ctx, s, name, fmt.Sprintf("config %q", name))
	if err != nil || c == nil {
		return nil, err
	}
	if _, ok := provider.Lookup(c.Provider); !ok {
		// Written by a newer plugin version, then downgraded.
		return nil, fmt.Errorf("config %q uses provider %q, which this plugin version (%s) does not know; "+
			"run a plugin version that does, or delete the config", name, c.Provider, strings.Join(provider.Names(), ", "))
	}
	return c, nil
}

func (e *Env) configExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	c, err := e.loadConfig(ctx, req.Storage, d.Get("name").(string))
	return c != nil, err
}

func (e *Env) configWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := e.ensureWritable(); err != nil {
		return nil, err
	}
	lock := locksFor(e.configLocks, name)
	lock.Lock()
	defer lock.Unlock()

	existing, err := e.loadConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	cfg := &configEntry{}
	if existing != nil {
		// Everything stored carries over: the rotation settings and state,
		// and IssuerChangedAt, which must outlive later writes.
		*cfg = *existing
		cfg.Scopes = append([]string(nil), existing.Scopes...)
	}
	if err := applyConfigFields(cfg, existing != nil, req, d); err != nil {
		return nil, err
	}
	rotationGiven, err := applyRotationFields(cfg, req, d)
	if err != nil {
		return nil, err
	}
	eff, err := provider.Effective(cfg.Config)
	if err != nil {
		return nil, err
	}
	if err := validateEffective(&eff); err != nil {
		return nil, err
	}
	if err := e.checkStaticsFit(ctx, req.Storage, name, existing, eff); err != nil {
		return nil, err
	}
	var oldEff provider.Config
	var uuidWarning string
	if existing != nil {
		if oldEff, err = provider.Effective(existing.Config); err != nil {
			return nil, err
		}
		if err := secretFollowsDestination(oldEff, eff, req); err != nil {
			return nil, err
		}
		if uuidWarning, err = keyUUIDFollowsSecret(existing, cfg, req); err != nil {
			return nil, err
		}
		// Checked again under the issuer lock; here so that a refused
		// write does not verify upstream first.
		if err := e.issuerChangeRefusal(ctx, req.Storage, name, oldEff, eff); err != nil {
			return nil, err
		}
	}

	var warnings []string
	if d.Get(fVerify).(bool) {
		client, err := provider.New(cfg.Config, e.providerOptions())
		if err != nil {
			return nil, userErr("%s", err)
		}
		warnings, err = client.Verify(ctx)
		if err != nil {
			e.countLostByVerify(ctx, req.Storage, name, cfg, client, err)
			return nil, userErr("verify: %s; nothing was stored (fix the credentials, or write with verify=false to store them unchecked)", err)
		}
	}
	if uuidWarning != "" {
		warnings = append(warnings, uuidWarning)
	}

	if takesRotation(cfg.Provider) {
		if _, rewritten := req.Data[fClientSecret]; rewritten || existing == nil {
			// A key written by hand starts its rotation period afresh.
			cfg.LastRotated = e.Now().UTC()
		}
	}
	if rotationGiven {
		if err := e.scheduleRootRotation(ctx, req, name, existing, cfg); err != nil {
			return nil, err
		}
	}

	stored, err := e.storeConfig(ctx, req.Storage, name, existing, cfg, oldEff, eff)
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, stored...)
	e.Logger.Info("config written", "config", name, "provider", cfg.Provider, "created", existing == nil)

	if len(warnings) == 0 {
		return nil, nil
	}
	return &logical.Response{Warnings: warnings}, nil
}

// storeConfig stores cfg as the new version of config name; existing is
// the stored version (nil on create), oldEff and eff the effective forms of
// both. It gives cfg a new generation and drops the cached client, and
// where an issuer field changed it drops the user authorizations the old
// issuer granted, saying so in the warnings it returns. The caller holds
// the config's lock.
func (e *Env) storeConfig(ctx context.Context, s logical.Storage, name string, existing, cfg *configEntry,
	oldEff, eff provider.Config) ([]string, error) {
	cfg.UpdatedAt = e.Now().UTC()
	issuerChanged := existing != nil && issuerChange(oldEff, eff) != ""
	if issuerChanged {
		cfg.IssuerChangedAt = cfg.UpdatedAt
	}
	cfg.Generation = uint64(time.Now().UnixNano())
	if existing != nil && existing.Generation >= cfg.Generation {
		cfg.Generation = existing.Generation + 1
	}
	entry, err := logical.StorageEntryJSON(configPrefix+name, cfg)
	if err != nil {
		return nil, err
	}
	// No mint runs between counting the old issuer's tokens and storing.
	issuerLock := locksFor(e.issuerLocks, name)
	issuerLock.Lock()
	defer issuerLock.Unlock()
	if existing != nil {
		if err := e.issuerChangeRefusal(ctx, s, name, oldEff, eff); err != nil {
			return nil, err
		}
	}
	err = s.Put(ctx, entry)
	e.configChanged(name, cfg.Generation)
	if err != nil {
		return nil, fmt.Errorf("storing config %q: %w", name, err)
	}
	if !issuerChanged {
		return nil, nil
	}
	// Still under the issuer lock: no refresh runs in between.
	dropped, err := e.dropAuthorizations(ctx, s, name, existing)
	if err != nil {
		return nil, err
	}
	if len(dropped) == 0 {
		return nil, nil
	}
	return []string{fmt.Sprintf("the issuer changed: the user authorizations of %s were revoked at the "+
		"previous issuer and dropped; run authorize/<role> again for each", strings.Join(dropped, ", "))}, nil
}

// checkStaticsFit refuses a max_tokens under which the config's static
// roles could not rotate (checkStaticRoom).
func (e *Env) checkStaticsFit(ctx context.Context, s logical.Storage, name string, existing *configEntry, eff provider.Config) error {
	spec, _ := provider.Lookup(eff.Provider)
	if existing == nil || !spec.TokenLimit {
		return nil
	}
	statics, err := e.staticRolesUsing(ctx, s, name)
	if err != nil || len(statics) == 0 {
		return err
	}
	if eff.DisablesAll() {
		roles, err := e.rolesUsing(ctx, s, name)
		if err != nil {
			return err
		}
		if len(statics)+len(roles) > 1 {
			return badField(fTokenLimitMode, "disable_all serves one static role or leases, not both, and config %q has "+
				"static role(s) %s and role(s) %s", name, strings.Join(statics, ", "), strings.Join(roles, ", "))
		}
	}
	if eff.MaxTokens >= staticSlotsOf(eff) {
		return nil
	}
	return badField(fMaxTokens, "static role(s) %s need at least %d: each holds its token and, while it rotates, the next",
		strings.Join(statics, ", "), staticSlots)
}

// issuerChangeRefusal refuses a change of the config's issuer while
// revocable tokens another issuer minted for it live.
func (e *Env) issuerChangeRefusal(ctx context.Context, s logical.Storage, name string, old, new provider.Config) error {
	field := issuerChange(old, new)
	if field == "" {
		return nil
	}
	n, err := e.heldByOthers(ctx, s, name, issuerOf(new))
	if err != nil || n == 0 {
		return err
	}
	return badField(field, "cannot change while %d revocable token(s) that config %q issued are live: "+
		"their revokes must reach the account and URLs that issued them; revoke them first "+
		"(vault lease revoke -prefix <mount>/creds/), or wait for them to expire", n, name)
}

// secretFollowsDestination refuses an update that sends the stored secret
// to a new destination without the secret being written again.
func secretFollowsDestination(old, new provider.Config, req *logical.Request) error {
	secret := fClientSecret
	if spec, _ := provider.Lookup(new.Provider); !spec.Takes(fClientSecret) {
		secret = fPassword
	}
	if _, given := req.Data[secret]; given {
		return nil
	}
	ov, nv := destinationValues(old), destinationValues(new)
	var changed []string
	for _, f := range destinationFields {
		// Clearing a field sends nothing anywhere new.
		if nv[f] != "" && ov[f] != nv[f] {
			changed = append(changed, f)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	// Name the field the request wrote; a derived one (source's token_url
	// from base_url) only when nothing else changed.
	f := changed[0]
	for _, c := range changed {
		if _, written := req.Data[c]; written {
			f = c
			break
		}
	}
	return badField(secret, "required when %s changes: the stored %s is never sent to a new destination "+
		"unless written again with the change", f, secret)
}

// keyUUIDFollowsSecret binds key_uuid to the key's secret: rotate deletes
// the key key_uuid names, so only a writer who knows the secret may say
// which key that is. A write of another secret without key_uuid forgets
// it: it was written with the secret replaced (perhaps by a writer who did
// not know the right one), and may name another key. The warning says so.
func keyUUIDFollowsSecret(existing, cfg *configEntry, req *logical.Request) (string, error) {
	if !takesRotation(cfg.Provider) {
		return "", nil
	}
	_, uuidGiven := req.Data[fKeyUUID]
	if _, secretGiven := req.Data[fClientSecret]; !secretGiven {
		if uuidGiven && cfg.KeyUUID != existing.KeyUUID {
			return "", badField(fClientSecret, "required when key_uuid changes: rotate deletes the key key_uuid names, "+
				"so key_uuid is written with the secret of that key")
		}
		return "", nil
	}
	if uuidGiven || existing.KeyUUID == "" || cfg.ClientID == existing.ClientID && cfg.ClientSecret == existing.ClientSecret {
		return "", nil
	}
	cfg.KeyUUID = ""
	return "key_uuid was cleared: it was written with another client_id or client_secret; write it again with this " +
		"secret so that rotate can delete this key", nil
}

// applyConfigFields copies the given fields onto cfg, checking each. On
// error cfg is garbage and must not be stored.
func applyConfigFields(cfg *configEntry, exists bool, req *logical.Request, d *framework.FieldData) error {
	p, hasProvider := d.GetOk(fProvider)
	switch {
	case hasProvider && exists && p.(string) != cfg.Provider:
		return badField(fProvider, "cannot change from %q to %q; delete this config and create a new one", cfg.Provider, p)
	case hasProvider:
		cfg.Provider = strings.TrimSpace(p.(string))
	case !exists:
		return badField(fProvider, "required when creating a config; one of %s", strings.Join(provider.Names(), ", "))
	}
	spec, ok := provider.Lookup(cfg.Provider)
	if !ok {
		return badField(fProvider, "unknown provider %q; use one of %s", cfg.Provider, strings.Join(provider.Names(), ", "))
	}
	for k := range req.Data {
		if k != "name" && !spec.Takes(k) {
			return badField(k, "does not apply to provider %s; it takes %s", spec.Name, strings.Join(append(append([]string{}, provider.CommonFields...), spec.Fields...), ", "))
		}
	}

	for i := range configTable {
		f := &configTable[i]
		if f.name == fProvider {
			continue
		}
		if v, ok := d.GetOk(f.name); ok {
			if err := f.applyValue(&cfg.Config, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateEffective checks a config with defaults applied.
func validateEffective(c *provider.Config) error {
	spec, _ := provider.Lookup(c.Provider)
	values := stringValues(*c, func(*configField) bool { return true })
	for _, f := range spec.Required {
		if values[f] == "" {
			return badField(f, "required for provider %s", spec.Name)
		}
	}
	for _, f := range fieldsWhere(func(f *configField) bool { return f.url }) {
		if values[f] != "" {
			if err := checkURL(f, values[f]); err != nil {
				return err
			}
		}
	}
	if spec.Validate != nil {
		if err := spec.Validate(*c); err != nil {
			var fe *provider.FieldError
			if errors.As(err, &fe) {
				return badField(fe.Field, "%s", fe.Msg)
			}
			return userErr("%s", err)
		}
	}
	if spec.ValidateScopes != nil && len(c.Scopes) > 0 {
		if err := spec.ValidateScopes(c.Scopes); err != nil {
			return badField(fScopes, "%s", err)
		}
	}
	return nil
}

func (e *Env) configRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	cfg, err := e.loadConfig(ctx, req.Storage, name)
	if err != nil || cfg == nil {
		return nil, err
	}
	eff, err := provider.Effective(cfg.Config)
	if err != nil {
		return nil, err
	}
	spec, _ := provider.Lookup(cfg.Provider)
	data := map[string]any{}
	for i := range configTable {
		if f := &configTable[i]; spec.Takes(f.name) && !f.writeOnly {
			data[f.name] = f.readValue(eff)
		}
	}
	resp := &logical.Response{Data: data}
	if takesRotation(cfg.Provider) {
		readRotation(cfg, data)
	}
	if !spec.TokenLimit && e.revocable(name, cfg) {
		n, err := e.lostCount(ctx, req.Storage, name)
		if err != nil {
			return nil, err
		}
		data["lost_tokens"] = n
	}
	if spec.TokenLimit {
		n, err := e.lostHeld(ctx, req.Storage, name)
		if err != nil {
			return nil, err
		}
		data["lost_tokens"] = n
		meta, err := e.loadMeta(ctx, req.Storage, name)
		if err != nil {
			return nil, err
		}
		data["password_expiry_date"] = meta.PasswordExpiryDate
		resp.Warnings = provider.PasswordExpiryWarnings(meta.PasswordExpiryDate, e.Now())
	}
	return resp, nil
}

func (e *Env) configDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	// A write that loaded the config before this delete must not store it
	// again afterwards.
	lock := locksFor(e.configLocks, name)
	lock.Lock()
	defer lock.Unlock()
	e.graph.Lock()
	defer e.graph.Unlock()
	issuerLock := locksFor(e.issuerLocks, name)
	issuerLock.Lock()
	defer issuerLock.Unlock()
	users, err := e.rolesUsing(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	statics, err := e.staticRolesUsing(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	for _, s := range statics {
		users = append(users, "static role "+s)
	}
	if len(users) > 0 {
		return nil, userErr("config %q is used by %s; delete those or point them at another config first",
			name, strings.Join(users, ", "))
	}
	// Roles are gone, but leases they issued may live: their revokes need
	// this config.
	live, err := e.liveHeld(ctx, req.Storage, name, true)
	if err != nil {
		return nil, err
	}
	if len(live) > 0 {
		hint := ""
		if spec, _ := provider.Lookup(e.providerOf(ctx, req.Storage, name)); spec != nil && spec.TokenLimit {
			hint = fmt.Sprintf(", or call config/%s/revoke-all", name)
		}
		return nil, userErr("config %q still holds %d live revocable upstream token(s), and their revokes need it; "+
			"revoke their leases first (vault lease revoke -prefix <mount>/creds/)%s, or wait for them to expire", name, len(live), hint)
	}
	// A rotation of its key that stopped half way is finished first, with
	// the config's credentials: deleted, the config could not delete the
	// key the rotation left.
	if err := e.settleRotations(ctx, req.Storage, name); err != nil {
		return nil, fmt.Errorf("config %q has a rotation of its API key that is not finished (%w); deleting the config "+
			"now would leave an API key behind: try again", name, err)
	}
	// Read raw: a config of a provider this version does not know can
	// still be deleted.
	gone, _ := getJSON[configEntry](ctx, req.Storage, configPrefix+name, "config")
	for _, key := range []string{configPrefix + name, metaPrefix + name} {
		err := req.Storage.Delete(ctx, key)
		e.configChanged(name, 0)
		e.metas.drop(name)
		if err != nil {
			return nil, fmt.Errorf("deleting config %q: %w", name, err)
		}
	}
	e.Logger.Info("config deleted", "config", name)
	var warnings []string
	// Tokens whose answers were lost cannot be revoked by anyone; their
	// records stay, and count again if the config is written anew.
	if n, err := e.lostCount(ctx, req.Storage, name); err == nil && n > 0 {
		warnings = append(warnings, fmt.Sprintf("%d token request(s) of config %q lost their answers: if the upstream minted "+
			"those tokens, nothing can revoke them and they live until they expire (lost_tokens counts them if the "+
			"config is written again)", n, name))
	}
	if gone != nil && gone.RotationManaged {
		if err := e.unscheduleRootRotation(ctx, req, name); err != nil {
			warnings = append(warnings, err.Error())
		}
	}
	if len(warnings) > 0 {
		return &logical.Response{Warnings: warnings}, nil
	}
	return nil, nil
}

func (e *Env) configRevokeAll(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := e.ensureWritable(); err != nil {
		return nil, err
	}
	cfg, err := e.loadConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, userErr("config %q does not exist", name)
	}
	client, err := e.client(name, cfg)
	if err != nil {
		return nil, err
	}
	ur, ok := client.(provider.UserRevoker)
	if !ok {
		return nil, userErr("revoke-all is for cdp configs; %q is a %s config, whose upstream has no such call", name, cfg.Provider)
	}
	held, err := e.killAllTokens(ctx, req.Storage, name, ur)
	if err != nil {
		return nil, err
	}
	// Every token of the user is gone, the static roles' too: they stop
	// serving theirs at once and rotate.
	statics, err := e.staticRolesUsing(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	killed := make(map[string]bool, len(held))
	for _, id := range held {
		killed[id] = true
	}
	var warnings []string
	for _, s := range statics {
		if err := e.replaceKilledStatic(ctx, req.Storage, s, killed); err != nil {
			warnings = append(warnings, fmt.Sprintf("static role %s could not rotate yet (%s); Vault retries", s, err))
		}
	}
	e.Logger.Info("deleted every upstream token of the config's user", "config", name, "held_by_plugin", len(held),
		"static_roles", len(statics))
	return &logical.Response{Data: map[string]any{"revoked_held_tokens": len(held), "rotated_static_roles": len(statics)},
		Warnings: warnings}, nil
}

// killAllTokens deletes every upstream token of a capped config's user and
// forgets the plugin's records of them, under the config's token lock.
func (e *Env) killAllTokens(ctx context.Context, s logical.Storage, name string, ur provider.UserRevoker) ([]string, error) {
	lock := locksFor(e.tokenLocks, name)
	lock.Lock()
	defer lock.Unlock()
	if err := ur.RevokeAll(ctx); err != nil {
		return nil, err
	}
	held, err := s.List(ctx, tokenPrefix+name+"/")
	if err != nil {
		return nil, err
	}
	defer e.dropHeldIndex(name)
	for _, id := range held {
		if err := s.Delete(ctx, heldKey(name, id)); err != nil {
			return nil, err
		}
	}
	return held, nil
}

// providerOf is the provider of a stored config, "" when unknown.
func (e *Env) providerOf(ctx context.Context, s logical.Storage, name string) string {
	c, err := e.loadConfig(ctx, s, name)
	if err != nil || c == nil {
		return ""
	}
	return c.Provider
}

// errNoConfig is returned when a role names a config that is gone.
var errNoConfig = errors.New("config not found")
