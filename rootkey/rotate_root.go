package rootkey

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// rotate-root: a config replaces its own credential through the upstream's
// key API (provider.KeyRotator: Acquia Cloud's /account/tokens).
//
// One rotation, each step recorded before the next so that a crash at any
// point leaves a key nothing tracks nowhere:
//
//  1. a WAL entry names the new key's label (unique to the mount, the
//     config and the attempt) and the old key's uuid, before the create;
//  2. the key is created with the old key; its answer carries no uuid;
//  3. its uuid is found by its label (GET /account/tokens/{client_id}
//     where the uuid is the client id, else the list) and written to the
//     WAL entry;
//  4. it fetches a token (a new key may take a moment upstream);
//  5. the config is stored with it;
//  6. the old key is deleted with the new one; the WAL entry goes once the
//     old key is confirmed gone (200, 404 or 409).
//
// settleRotation finishes an entry left behind, from the stored config:
// until the config holds the new key, the new key (found by its label) is
// deleted; after, the old key is. The rollback runs it, and so does the
// next rotation of the config before it creates anything.

// keyPropagationWait bounds how long a new key may take to work upstream:
// its verification is retried until then.
const keyPropagationWait = 5 * time.Second

// keysUIHint says where an operator deletes an Acquia Cloud key by hand.
const keysUIHint = "the Cloud Platform UI (Account settings > API Tokens)"

// rootRotation is what one rotation did.
type rootRotation struct {
	ClientID, KeyUUID string
	RotatedAt         time.Time
	Warnings          []string
}

// keyRotation is one rotation of a config's key on its way.
type keyRotation struct {
	name     string
	existing *lifecycle.ConfigEntry
	kr       provider.KeyRotator
	oldUUID  string
	oldEff   provider.Config
	now      time.Time
	walID    string
	w        *walKey
	warnings []string
}

// RotateRoot replaces the API key of config name. With onlyIf set, the
// rotation happens only if it holds for the config as loaded under the
// config's lock; otherwise rotateRoot returns nil, nil. The caller has
// passed ensureWritable.
func (e *Rotator) RotateRoot(ctx context.Context, s logical.Storage, name string, onlyIf func(*lifecycle.ConfigEntry) bool) (*rootRotation, error) {
	lock := e.ConfigLock(name)
	lock.Lock()
	defer lock.Unlock()

	r, err := e.startRotation(ctx, s, name, onlyIf)
	if err != nil || r == nil {
		return nil, err
	}
	key, err := e.createKey(ctx, s, r)
	if err != nil {
		return nil, err
	}
	next, stored, err := e.adoptKey(ctx, s, r, key)
	if err != nil {
		return nil, err
	}
	out := &rootRotation{ClientID: key.ClientID, KeyUUID: key.UUID, RotatedAt: r.now, Warnings: append(r.warnings, stored...)}
	if err := next.(provider.KeyRotator).DeleteKey(ctx, r.oldUUID); err != nil {
		// The WAL entry stays: the rollback, or the next rotation, deletes it.
		out.Warnings = append(out.Warnings, fmt.Sprintf("the new API key is in use, but the previous one, %s, is not deleted yet (%s): "+
			"Vault's rollback deletes it, and so does the next rotate of this config", r.oldUUID, err))
		return out, nil
	}
	e.rotateStep("old deleted")
	_ = framework.DeleteWAL(ctx, s, r.walID)
	out.Warnings = append(out.Warnings, e.reissueStatics(ctx, s, name)...)
	return out, nil
}

// startRotation loads what a rotation of config name starts from: the
// config, its key API and the uuid of its current key, once every earlier
// rotation is settled. nil, nil when onlyIf refuses the config.
func (e *Rotator) startRotation(ctx context.Context, s logical.Storage, name string,
	onlyIf func(*lifecycle.ConfigEntry) bool) (*keyRotation, error) {
	existing, err := e.LoadConfig(ctx, s, name)
	if err != nil {
		return nil, err
	}
	if existing == nil {
		return nil, lifecycle.UserErr("config %q does not exist", name)
	}
	if onlyIf != nil && !onlyIf(existing) {
		return nil, nil
	}
	current, err := e.Client(name, existing)
	if err != nil {
		return nil, err
	}
	kr, ok := current.(provider.KeyRotator)
	if !ok {
		return nil, lifecycle.UserErr("rotate is for cloud configs: %s has no API to create keys", existing.Provider)
	}
	// A retry never makes a second key while an earlier one is unresolved.
	if err := e.SettleRotations(ctx, s, name); err != nil {
		return nil, fmt.Errorf("an earlier rotation of config %q is not finished (%w); no new API key was created: "+
			"try again later (Vault's rollback retries it too)", name, err)
	}
	r := &keyRotation{name: name, existing: existing, kr: kr, now: e.Now().UTC()}
	if r.oldUUID, r.warnings, err = configuredKeyUUID(ctx, kr, existing); err != nil {
		return nil, err
	}
	if r.oldEff, err = provider.Effective(existing.Config); err != nil {
		return nil, err
	}
	return r, nil
}

// createKey creates the new key under a WAL entry written first, and
// finds its uuid by its label; the entry then records the key.
func (e *Rotator) createKey(ctx context.Context, s logical.Storage, r *keyRotation) (*provider.APIKey, error) {
	r.w = &walKey{Config: r.name, Label: e.keyLabel(r.name), OldClientID: r.existing.ClientID, OldUUID: r.oldUUID, Written: r.now}
	var err error
	if r.walID, err = framework.PutWAL(ctx, s, walKindKey, r.w); err != nil {
		return nil, fmt.Errorf("writing the rotation's WAL entry: %w; no API key was created and the config is unchanged", err)
	}
	e.rotateStep("wal")
	key, err := r.kr.CreateKey(ctx, r.w.Label)
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Status/100 == 4 {
			// Refused: no key was made. A 5xx (a gateway's, after the
			// work) or no answer may have made one.
			_ = framework.DeleteWAL(ctx, s, r.walID)
			return nil, fmt.Errorf("%w; the config is unchanged", err)
		}
		return nil, e.abandonRotation(ctx, s, r.walID, r.w, err)
	}
	e.rotateStep("created")
	found, err := labelledKeys(ctx, r.kr, key.ClientID, r.w.Label)
	switch {
	case err != nil:
	case len(found) == 0:
		err = fmt.Errorf("no live API key labelled %q among the user's keys", r.w.Label)
	case len(found) > 1:
		err = fmt.Errorf("two live API keys, or more, are labelled %q", r.w.Label)
	}
	if err != nil {
		return nil, e.abandonRotation(ctx, s, r.walID, r.w, fmt.Errorf("finding the new API key's uuid: %w", err))
	}
	key.UUID = found[0]
	r.w.NewClientID, r.w.KeyUUID = key.ClientID, key.UUID
	if err := lifecycle.RewriteWAL(ctx, s, r.walID, walKindKey, r.w); err != nil {
		r.w.NewClientID = "" // not recorded: the config cannot come to hold it
		return nil, e.abandonRotation(ctx, s, r.walID, r.w, fmt.Errorf("recording the new API key in the WAL entry: %w", err))
	}
	e.rotateStep("found")
	return key, nil
}

// adoptKey checks that the new key fetches a token and stores the config
// with it; the client it returns speaks with the new key.
func (e *Rotator) adoptKey(ctx context.Context, s logical.Storage, r *keyRotation, key *provider.APIKey) (provider.Client,
	[]string, error) {
	cfg := *r.existing
	cfg.Scopes = append([]string(nil), r.existing.Scopes...)
	cfg.ClientID, cfg.ClientSecret, cfg.KeyUUID = key.ClientID, key.ClientSecret, key.UUID
	cfg.LastRotated = r.now
	eff, err := provider.Effective(cfg.Config)
	if err == nil && (cfg.ClientID == "" || cfg.ClientSecret == "") {
		err = errors.New("the key API answered without a client id or secret")
	}
	if err != nil {
		return nil, nil, e.abandonRotation(ctx, s, r.walID, r.w, fmt.Errorf("the new API key is not usable: %w", err))
	}
	next, err := provider.New(cfg.Config, e.ClientOptions(cfg.Provider, r.name))
	if err != nil {
		return nil, nil, e.abandonRotation(ctx, s, r.walID, r.w, err)
	}
	if err := verifyNewKey(ctx, next, eff.Scopes); err != nil {
		return nil, nil, e.abandonRotation(ctx, s, r.walID, r.w,
			fmt.Errorf("the new API key %s could not fetch a token within %s: %w", key.UUID, keyPropagationWait, err))
	}
	e.rotateStep("verified")
	stored, err := e.StoreConfig(ctx, s, r.name, r.existing, &cfg, r.oldEff, eff)
	if err != nil {
		return nil, nil, e.abandonRotation(ctx, s, r.walID, r.w, err)
	}
	e.rotateStep("stored")
	return next, stored, nil
}

// rotateStep marks a step of a rotation for crash tests.
func (e *Rotator) rotateStep(step string) {
	if e.RotateRootStep != nil {
		e.RotateRootStep(step)
	}
}

// keyLabel is a new key's label: unique to the mount (its backend UUID,
// which the rollback and periodic work know too), the config and the
// attempt, and within the 255 characters the API takes.
func (e *Rotator) keyLabel(name string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	mount := e.MountID
	if mount == "" {
		mount = "mount"
	}
	label := fmt.Sprintf("vault %s %s %s", mount, name, hex.EncodeToString(b))
	if len(label) > 255 {
		label = fmt.Sprintf("vault %s %s %s", mount[:min(len(mount), 36)], name[:min(len(name), 128)], hex.EncodeToString(b))
	}
	return label
}

// configuredKeyUUID is the uuid of the key the config holds, the one a
// rotation deletes. Where a key's uuid is its client id (the reading
// Acquia CLI relies on) the API says so, and that key is the one, whatever
// key_uuid says. Otherwise only key_uuid can tell: the list shows no
// client ids.
func configuredKeyUUID(ctx context.Context, kr provider.KeyRotator, cfg *lifecycle.ConfigEntry) (string, []string, error) {
	if provider.IsUUID(cfg.ClientID) {
		k, err := kr.GetKey(ctx, cfg.ClientID)
		if err != nil {
			return "", nil, fmt.Errorf("reading the config's API key: %w; no API key was created", err)
		}
		if k != nil && k.Active {
			var warnings []string
			if cfg.KeyUUID != "" && cfg.KeyUUID != k.UUID {
				warnings = append(warnings, fmt.Sprintf("key_uuid %s does not name the config's API key, whose uuid is its "+
					"client_id: that key was replaced, and the key %s left alone", cfg.KeyUUID, cfg.KeyUUID))
			}
			return k.UUID, warnings, nil
		}
	}
	if cfg.KeyUUID == "" {
		return "", nil, lifecycle.BadField("key_uuid", "rotate needs the uuid of the config's current API key, to delete it once the "+
			"new one is stored: write key_uuid with client_secret (the uuid is in "+keysUIHint+")")
	}
	return cfg.KeyUUID, nil, nil
}

// labelledKeys are the uuids of the live keys labelled label: by GET
// /account/tokens/{client_id} where that answers with the label, and in
// the list.
func labelledKeys(ctx context.Context, kr provider.KeyRotator, clientID, label string) ([]string, error) {
	var uuids []string
	if provider.IsUUID(clientID) {
		k, err := kr.GetKey(ctx, clientID)
		if err != nil {
			return nil, err
		}
		if k != nil && k.Label == label && k.Active {
			uuids = append(uuids, k.UUID)
		}
	}
	keys, err := kr.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.Label == label && k.Active && !slices.Contains(uuids, k.UUID) {
			uuids = append(uuids, k.UUID)
		}
	}
	return uuids, nil
}

// reissueStatics gives the static roles of a config new tokens after its
// previous key was deleted: whether a deleted key's tokens keep working
// upstream is not documented, and static-creds must not serve a dead one.
func (e *Rotator) reissueStatics(ctx context.Context, s logical.Storage, name string) []string {
	statics, err := e.StaticRolesUsing(ctx, s, name)
	if err != nil {
		return []string{fmt.Sprintf("the static roles of config %s could not be listed to give them tokens of the new key (%s)", name, err)}
	}
	var warnings []string
	for _, st := range statics {
		if err := e.statics.ReplaceDeadStatic(ctx, s, st); err != nil {
			warnings = append(warnings, fmt.Sprintf("static role %s could not take a token of the new key yet (%s); Vault retries", st, err))
		}
	}
	return warnings
}

// LogRotation logs a rotation and its warnings; by says what asked for it.
func (e *Rotator) LogRotation(name string, r *rootRotation, by string) {
	e.Logger.Info("rotated the config's API key", "config", name, "by", by, "key_uuid", r.KeyUUID)
	for _, w := range r.Warnings {
		e.Logger.Warn("after rotating the config's API key", "config", name, "warning", w)
	}
}

// verifyNewKey fetches a token with a new key. A key may take a moment to
// work upstream, so a refusal of the client, or a failure worth retrying,
// is tried again until keyPropagationWait has passed.
func verifyNewKey(ctx context.Context, c provider.Client, scopes []string) error {
	deadline := time.Now().Add(keyPropagationWait)
	wait := 250 * time.Millisecond
	for {
		_, err := c.Token(ctx, scopes)
		if err == nil {
			return nil
		}
		var pe *provider.Error
		retry := provider.HasCode(err, "invalid_client") || provider.IsStatus(err, http.StatusUnauthorized) ||
			errors.As(err, &pe) && pe.Retryable
		if !retry || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}
