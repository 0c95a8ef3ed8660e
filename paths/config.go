package paths

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/rootkey"
)

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
		Pattern:      lifecycle.ConfigPrefix + framework.GenericNameRegex("name") + "/" + action + "$",
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
			Pattern:        lifecycle.ConfigPrefix + framework.GenericNameRegex("name") + "$",
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
several. Secrets (client_secret, password, private_key) are write-only and
seal-wrapped; config/<name>/jwks serves the public half of a private_key.
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
		e.configJWKSPath(),
		{
			Pattern:      lifecycle.ConfigPrefix + "?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationSuffix: "configs"},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: listKeys(lifecycle.ConfigPrefix), Summary: "List configs."},
			},
			HelpSynopsis:    "List the names of configs.",
			HelpDescription: "Lists every config of this mount.",
		},
	}
}

func (e *Env) configExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	c, err := e.LoadConfig(ctx, req.Storage, d.Get("name").(string))
	return c != nil, err
}

func (e *Env) configWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	lock := e.ConfigLock(name)
	lock.Lock()
	defer lock.Unlock()

	existing, err := e.LoadConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	w, err := e.checkedConfig(ctx, req, d, name, existing)
	if err != nil {
		return nil, err
	}
	if w.verify {
		if err := e.verifyConfig(ctx, req.Storage, name, w); err != nil {
			return nil, err
		}
	}
	cfg := w.cfg
	if rootkey.TakesRotation(cfg.Provider) {
		if _, rewritten := req.Data[fClientSecret]; rewritten || existing == nil {
			// A key written by hand starts its rotation period afresh.
			cfg.LastRotated = e.Now().UTC()
		}
	}
	if w.rotationGiven {
		if err := e.Keys.ScheduleRootRotation(ctx, req, name, existing, cfg); err != nil {
			return nil, err
		}
	}
	stored, err := e.StoreConfig(ctx, req.Storage, name, existing, cfg, w.oldEff, w.eff)
	if err != nil {
		return nil, err
	}
	warnings := append(w.warnings, stored...)
	e.Logger.Info("config written", "config", name, "provider", cfg.Provider, "created", existing == nil)
	if len(warnings) == 0 {
		return nil, nil
	}
	return &logical.Response{Warnings: warnings}, nil
}

// configWriteOf is a checked config write, not stored yet.
type configWriteOf struct {
	cfg           *lifecycle.ConfigEntry
	eff, oldEff   provider.Config
	rotationGiven bool
	// verify: whether to prove the credentials upstream before storing.
	verify   bool
	warnings []string
}

// checkedConfig applies a write's fields onto the stored config (or a new
// one) and checks the result, before anything is asked upstream.
func (e *Env) checkedConfig(ctx context.Context, req *logical.Request, d *framework.FieldData, name string,
	existing *lifecycle.ConfigEntry) (*configWriteOf, error) {
	w := &configWriteOf{cfg: &lifecycle.ConfigEntry{}}
	if existing != nil {
		// Everything stored carries over: the rotation settings and state,
		// and IssuerChangedAt, which must outlive later writes.
		*w.cfg = *existing
		w.cfg.Scopes = append([]string(nil), existing.Scopes...)
	}
	if err := applyConfigFields(w.cfg, existing != nil, req, d); err != nil {
		return nil, err
	}
	generated, err := applyClientKey(w.cfg, existing, req, d)
	if err != nil {
		return nil, err
	}
	w.verify = d.Get(fVerify).(bool)
	if generated {
		w.warnings = append(w.warnings, generatedKeyWarning(name, req, &w.verify))
	}
	if w.rotationGiven, err = applyRotationFields(w.cfg, req, d); err != nil {
		return nil, err
	}
	if w.eff, err = provider.Effective(w.cfg.Config); err != nil {
		return nil, err
	}
	if err := validateEffective(&w.eff); err != nil {
		return nil, err
	}
	if err := e.checkStaticsFit(ctx, req.Storage, name, existing, w.eff); err != nil {
		return nil, err
	}
	if existing == nil {
		return w, nil
	}
	if w.oldEff, err = provider.Effective(existing.Config); err != nil {
		return nil, err
	}
	if err := secretFollowsDestination(w.oldEff, w.eff, req); err != nil {
		return nil, err
	}
	uuidWarning, err := keyUUIDFollowsSecret(existing, w.cfg, req)
	if err != nil {
		return nil, err
	}
	if uuidWarning != "" {
		w.warnings = append(w.warnings, uuidWarning)
	}
	// Checked again under the issuer lock; here so that a refused write
	// does not verify upstream first.
	return w, e.IssuerChangeRefusal(ctx, req.Storage, name, w.oldEff, w.eff)
}

// verifyConfig asks the upstream whether the written credentials work;
// nothing is stored when they do not.
func (e *Env) verifyConfig(ctx context.Context, s logical.Storage, name string, w *configWriteOf) error {
	client, err := provider.New(w.cfg.Config, e.ClientOptions(w.cfg.Provider, name))
	if err != nil {
		return lifecycle.UserErr("%s", err)
	}
	warnings, err := client.Verify(ctx)
	if err != nil {
		e.CountLostByVerify(ctx, s, name, w.cfg, client, err)
		return lifecycle.UserErr("verify: %s; nothing was stored (fix the credentials, or write with verify=false to store them unchecked)", err)
	}
	w.warnings = append(warnings, w.warnings...)
	return nil
}

// checkStaticsFit refuses a max_tokens under which the config's static
// roles could not rotate (checkStaticRoom).
func (e *Env) checkStaticsFit(ctx context.Context, s logical.Storage, name string, existing *lifecycle.ConfigEntry, eff provider.Config) error {
	spec, _ := provider.Lookup(eff.Provider)
	if existing == nil || !spec.TokenLimit {
		return nil
	}
	statics, err := e.StaticRolesUsing(ctx, s, name)
	if err != nil || len(statics) == 0 {
		return err
	}
	if eff.DisablesAll() {
		roles, err := e.RolesUsing(ctx, s, name)
		if err != nil {
			return err
		}
		if len(statics)+len(roles) > 1 {
			return lifecycle.BadField(fTokenLimitMode, "disable_all serves one static role or leases, not both, and config %q has "+
				"static role(s) %s and role(s) %s", name, strings.Join(statics, ", "), strings.Join(roles, ", "))
		}
	}
	if eff.MaxTokens >= staticSlotsOf(eff) {
		return nil
	}
	return lifecycle.BadField(fMaxTokens, "static role(s) %s need at least %d: each holds its token and, while it rotates, the next",
		strings.Join(statics, ", "), staticSlots)
}

// secretFollowsDestination refuses an update that sends the stored secret
// to a new destination without the secret being written again.
func secretFollowsDestination(old, new provider.Config, req *logical.Request) error {
	secret := fClientSecret
	if spec, _ := provider.Lookup(new.Provider); !spec.Takes(fClientSecret) {
		secret = fPassword
	}
	if new.UsesAssertion() {
		secret = fPrivateKey
		if keyGiven(req) {
			return nil
		}
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
	if secret == fPrivateKey {
		return lifecycle.BadField(secret, "required (or generate_key=true) when %s changes: no assertion signed with the "+
			"stored key goes to a new destination unless the key is written again with the change", f)
	}
	return lifecycle.BadField(secret, "required when %s changes: the stored %s is never sent to a new destination "+
		"unless written again with the change", f, secret)
}

// keyUUIDFollowsSecret binds key_uuid to the key's secret: rotate deletes
// the key key_uuid names, so only a writer who knows the secret may say
// which key that is. A write of another secret without key_uuid forgets
// it: it was written with the secret replaced (perhaps by a writer who did
// not know the right one), and may name another key. The warning says so.
func keyUUIDFollowsSecret(existing, cfg *lifecycle.ConfigEntry, req *logical.Request) (string, error) {
	if !rootkey.TakesRotation(cfg.Provider) {
		return "", nil
	}
	_, uuidGiven := req.Data[fKeyUUID]
	if _, secretGiven := req.Data[fClientSecret]; !secretGiven {
		if uuidGiven && cfg.KeyUUID != existing.KeyUUID {
			return "", lifecycle.BadField(fClientSecret, "required when key_uuid changes: rotate deletes the key key_uuid names, "+
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
func applyConfigFields(cfg *lifecycle.ConfigEntry, exists bool, req *logical.Request, d *framework.FieldData) error {
	p, hasProvider := d.GetOk(fProvider)
	switch {
	case hasProvider && exists && p.(string) != cfg.Provider:
		return lifecycle.BadField(fProvider, "cannot change from %q to %q; delete this config and create a new one", cfg.Provider, p)
	case hasProvider:
		cfg.Provider = strings.TrimSpace(p.(string))
	case !exists:
		return lifecycle.BadField(fProvider, "required when creating a config; one of %s", strings.Join(provider.Names(), ", "))
	}
	spec, ok := provider.Lookup(cfg.Provider)
	if !ok {
		return lifecycle.BadField(fProvider, "unknown provider %q; use one of %s", cfg.Provider, strings.Join(provider.Names(), ", "))
	}
	for k := range req.Data {
		if k != "name" && !spec.Takes(k) {
			return lifecycle.BadField(k, "does not apply to provider %s; it takes %s", spec.Name, strings.Join(append(append([]string{}, provider.CommonFields...), spec.Fields...), ", "))
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
			return lifecycle.BadField(f, "required for provider %s", spec.Name)
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
				return lifecycle.BadField(fe.Field, "%s", fe.Msg)
			}
			return lifecycle.UserErr("%s", err)
		}
	}
	if spec.ValidateScopes != nil && len(c.Scopes) > 0 {
		if err := spec.ValidateScopes(c.Scopes); err != nil {
			return lifecycle.BadField(fScopes, "%s", err)
		}
	}
	return nil
}

func (e *Env) configRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	cfg, err := e.LoadConfig(ctx, req.Storage, name)
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
	if rootkey.TakesRotation(cfg.Provider) {
		readRotation(cfg, data)
	}
	if !spec.TokenLimit && e.Revocable(name, cfg) {
		n, err := e.LostCount(ctx, req.Storage, name)
		if err != nil {
			return nil, err
		}
		data["lost_tokens"] = n
	}
	if spec.TokenLimit {
		n, err := e.LostHeld(ctx, req.Storage, name)
		if err != nil {
			return nil, err
		}
		data["lost_tokens"] = n
		meta, err := e.LoadMeta(ctx, req.Storage, name)
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
	lock := e.ConfigLock(name)
	lock.Lock()
	defer lock.Unlock()
	e.Graph.Lock()
	defer e.Graph.Unlock()
	issuerLock := e.IssuerLock(name)
	issuerLock.Lock()
	defer issuerLock.Unlock()
	if err := e.configInUse(ctx, req.Storage, name); err != nil {
		return nil, err
	}
	// A rotation of its key that stopped half way is finished first, with
	// the config's credentials: deleted, the config could not delete the
	// key the rotation left.
	if err := e.Keys.SettleRotations(ctx, req.Storage, name); err != nil {
		return nil, fmt.Errorf("config %q has a rotation of its API key that is not finished (%w); deleting the config "+
			"now would leave an API key behind: try again", name, err)
	}
	// Read raw: a config of a provider this version does not know can
	// still be deleted.
	gone, _ := lifecycle.GetJSON[lifecycle.ConfigEntry](ctx, req.Storage, lifecycle.ConfigPrefix+name, "config")
	for _, key := range []string{lifecycle.ConfigPrefix + name, lifecycle.MetaPrefix + name} {
		err := req.Storage.Delete(ctx, key)
		e.ConfigChanged(name, 0)
		e.Metas.Drop(name)
		if err != nil {
			return nil, fmt.Errorf("deleting config %q: %w", name, err)
		}
	}
	e.Metrics.ForgetConfig(name)
	e.Logger.Info("config deleted", "config", name)
	var warnings []string
	// Tokens whose answers were lost cannot be revoked by anyone; their
	// records stay, and count again if the config is written anew.
	if n, err := e.LostCount(ctx, req.Storage, name); err == nil && n > 0 {
		warnings = append(warnings, fmt.Sprintf("%d token request(s) of config %q lost their answers: if the upstream minted "+
			"those tokens, nothing can revoke them and they live until they expire (lost_tokens counts them if the "+
			"config is written again)", n, name))
	}
	if gone != nil && gone.RotationManaged {
		if err := e.Keys.UnscheduleRootRotation(ctx, req, name); err != nil {
			warnings = append(warnings, err.Error())
		}
	}
	if len(warnings) > 0 {
		return &logical.Response{Warnings: warnings}, nil
	}
	return nil, nil
}

// configInUse refuses to delete a config that roles or static roles use,
// or whose live revocable tokens still need it for their revokes.
func (e *Env) configInUse(ctx context.Context, s logical.Storage, name string) error {
	users, err := e.RolesUsing(ctx, s, name)
	if err != nil {
		return err
	}
	statics, err := e.StaticRolesUsing(ctx, s, name)
	if err != nil {
		return err
	}
	for _, st := range statics {
		users = append(users, "static role "+st)
	}
	if len(users) > 0 {
		return lifecycle.UserErr("config %q is used by %s; delete those or point them at another config first",
			name, strings.Join(users, ", "))
	}
	// Roles are gone, but leases they issued may live: their revokes need
	// this config.
	live, err := e.LiveHeld(ctx, s, name, true)
	if err != nil {
		return err
	}
	if len(live) > 0 {
		hint := ""
		if spec, _ := provider.Lookup(e.ProviderOf(ctx, s, name)); spec != nil && spec.TokenLimit {
			hint = fmt.Sprintf(", or call config/%s/revoke-all", name)
		}
		return lifecycle.UserErr("config %q still holds %d live revocable upstream token(s), and their revokes need it; "+
			"revoke their leases first (vault lease revoke -prefix <mount>/creds/)%s, or wait for them to expire", name, len(live), hint)
	}
	return nil
}

func (e *Env) configRevokeAll(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	cfg, err := e.LoadConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, lifecycle.UserErr("config %q does not exist", name)
	}
	client, err := e.Client(name, cfg)
	if err != nil {
		return nil, err
	}
	ur, ok := client.(provider.UserRevoker)
	if !ok {
		return nil, lifecycle.UserErr("revoke-all is for cdp configs; %q is a %s config, whose upstream has no such call", name, cfg.Provider)
	}
	held, err := e.KillAllTokens(ctx, req.Storage, name, ur)
	if err != nil {
		return nil, err
	}
	// Every token of the user is gone, the static roles' too: they stop
	// serving theirs at once and rotate.
	statics, err := e.StaticRolesUsing(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	killed := make(map[string]bool, len(held))
	for _, id := range held {
		killed[id] = true
	}
	var warnings []string
	for _, s := range statics {
		if err := e.ReplaceKilledStatic(ctx, req.Storage, s, killed); err != nil {
			warnings = append(warnings, fmt.Sprintf("static role %s could not rotate yet (%s); Vault retries", s, err))
		}
	}
	e.Logger.Info("deleted every upstream token of the config's user", "config", name, "held_by_plugin", len(held),
		"static_roles", len(statics))
	return &logical.Response{Data: map[string]any{"revoked_held_tokens": len(held), "rotated_static_roles": len(statics)},
		Warnings: warnings}, nil
}
