package rootkey

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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

// walKindKey marks the WAL entry of one rotation of a config's key.
const walKindKey = "api_key"

type walKey struct {
	Config string `json:"config"`
	// Label is the new key's label; the only way to find a key whose
	// create answer was lost.
	Label string `json:"label,omitempty"`
	// OldClientID and OldUUID are the key the rotation replaces.
	OldClientID string `json:"old_client_id,omitempty"`
	OldUUID     string `json:"old_key_uuid,omitempty"`
	// NewClientID and KeyUUID are the new key's, once known. An entry
	// of an earlier version holds only KeyUUID.
	NewClientID string `json:"new_client_id,omitempty"`
	KeyUUID     string `json:"key_uuid,omitempty"`
	// Written is when the entry was first written: a create may still
	// land upstream for a while after its caller gave up.
	Written time.Time `json:"written,omitempty"`
}

// createLandingWait is how long after a rotation began a key that its
// create may have made can still appear upstream: until then, no key with
// the label does not prove that none will.
func createLandingWait(cfg *lifecycle.ConfigEntry) time.Duration {
	timeout := cfg.RequestTimeout
	if timeout <= 0 {
		timeout = provider.DefaultRequestTimeout
	}
	return max(2*time.Minute, 2*timeout)
}

// rootRotation is what one rotation did.
type rootRotation struct {
	ClientID, KeyUUID string
	RotatedAt         time.Time
	Warnings          []string
}

// RotateRoot replaces the API key of config name. With onlyIf set, the
// rotation happens only if it holds for the config as loaded under the
// config's lock; otherwise rotateRoot returns nil, nil. The caller has
// passed ensureWritable.
func (e *Rotator) RotateRoot(ctx context.Context, s logical.Storage, name string, onlyIf func(*lifecycle.ConfigEntry) bool) (*rootRotation, error) {
	lock := e.ConfigLock(name)
	lock.Lock()
	defer lock.Unlock()

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
	oldUUID, warnings, err := configuredKeyUUID(ctx, kr, existing)
	if err != nil {
		return nil, err
	}
	oldEff, err := provider.Effective(existing.Config)
	if err != nil {
		return nil, err
	}

	now := e.Now().UTC()
	w := &walKey{Config: name, Label: e.keyLabel(name), OldClientID: existing.ClientID, OldUUID: oldUUID, Written: now}
	walID, err := framework.PutWAL(ctx, s, walKindKey, w)
	if err != nil {
		return nil, fmt.Errorf("writing the rotation's WAL entry: %w; no API key was created and the config is unchanged", err)
	}
	e.rotateStep("wal")

	key, err := kr.CreateKey(ctx, w.Label)
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Status/100 == 4 {
			// Refused: no key was made. A 5xx (a gateway's, after the
			// work) or no answer may have made one.
			_ = framework.DeleteWAL(ctx, s, walID)
			return nil, fmt.Errorf("%w; the config is unchanged", err)
		}
		return nil, e.abandonRotation(ctx, s, walID, w, err)
	}
	e.rotateStep("created")

	found, err := labelledKeys(ctx, kr, key.ClientID, w.Label)
	switch {
	case err != nil:
	case len(found) == 0:
		err = fmt.Errorf("no live API key labelled %q among the user's keys", w.Label)
	case len(found) > 1:
		err = fmt.Errorf("two live API keys, or more, are labelled %q", w.Label)
	}
	if err != nil {
		return nil, e.abandonRotation(ctx, s, walID, w, fmt.Errorf("finding the new API key's uuid: %w", err))
	}
	key.UUID = found[0]
	w.NewClientID, w.KeyUUID = key.ClientID, key.UUID
	if err := lifecycle.RewriteWAL(ctx, s, walID, walKindKey, w); err != nil {
		w.NewClientID = "" // not recorded: the config cannot come to hold it
		return nil, e.abandonRotation(ctx, s, walID, w, fmt.Errorf("recording the new API key in the WAL entry: %w", err))
	}
	e.rotateStep("found")

	cfg := *existing
	cfg.Scopes = append([]string(nil), existing.Scopes...)
	cfg.ClientID, cfg.ClientSecret, cfg.KeyUUID = key.ClientID, key.ClientSecret, key.UUID
	cfg.LastRotated = now
	eff, err := provider.Effective(cfg.Config)
	if err == nil && (cfg.ClientID == "" || cfg.ClientSecret == "") {
		err = errors.New("the key API answered without a client id or secret")
	}
	if err != nil {
		return nil, e.abandonRotation(ctx, s, walID, w, fmt.Errorf("the new API key is not usable: %w", err))
	}
	next, err := provider.New(cfg.Config, e.ClientOptions(cfg.Provider, name))
	if err != nil {
		return nil, e.abandonRotation(ctx, s, walID, w, err)
	}
	if err := verifyNewKey(ctx, next, eff.Scopes); err != nil {
		return nil, e.abandonRotation(ctx, s, walID, w,
			fmt.Errorf("the new API key %s could not fetch a token within %s: %w", key.UUID, keyPropagationWait, err))
	}
	e.rotateStep("verified")
	stored, err := e.StoreConfig(ctx, s, name, existing, &cfg, oldEff, eff)
	if err != nil {
		return nil, e.abandonRotation(ctx, s, walID, w, err)
	}
	e.rotateStep("stored")

	r := &rootRotation{ClientID: key.ClientID, KeyUUID: key.UUID, RotatedAt: now, Warnings: append(warnings, stored...)}
	if err := next.(provider.KeyRotator).DeleteKey(ctx, oldUUID); err != nil {
		// The WAL entry stays: the rollback, or the next rotation, deletes it.
		r.Warnings = append(r.Warnings, fmt.Sprintf("the new API key is in use, but the previous one, %s, is not deleted yet (%s): "+
			"Vault's rollback deletes it, and so does the next rotate of this config", oldUUID, err))
		return r, nil
	}
	e.rotateStep("old deleted")
	_ = framework.DeleteWAL(ctx, s, walID)
	r.Warnings = append(r.Warnings, e.reissueStatics(ctx, s, name)...)
	return r, nil
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

// SettleRotations finishes every rotation of config name that a WAL entry
// says is unfinished. The caller holds the config's lock.
func (e *Rotator) SettleRotations(ctx context.Context, s logical.Storage, name string) error {
	ids, err := framework.ListWAL(ctx, s)
	if err != nil {
		return err
	}
	for _, id := range ids {
		entry, err := framework.GetWAL(ctx, s, id)
		if err != nil {
			return err
		}
		if entry == nil || entry.Kind != walKindKey {
			continue
		}
		w, err := decodeWALKey(entry.Data)
		if err != nil || w.Config != name {
			continue
		}
		if _, err := e.settleRotation(ctx, s, w); err != nil {
			return err
		}
		if err := framework.DeleteWAL(ctx, s, id); err != nil {
			return err
		}
	}
	return nil
}

// Outcomes of settleRotation.
const (
	rolledBack    = "rolled back"
	rolledForward = "rolled forward"
	settledAlone  = "config gone"
)

// settleRotation finishes the rotation w from the stored config: until
// the config holds the new key, it deletes the new key; after, the old
// one. An error keeps the entry for another try. The caller holds the
// config's lock.
func (e *Rotator) settleRotation(ctx context.Context, s logical.Storage, w *walKey) (string, error) {
	cfg, err := e.LoadConfig(ctx, s, w.Config)
	if err != nil {
		return "", err
	}
	if cfg == nil {
		e.Logger.Warn("a rotation left an API key behind and its config is gone; delete the key by hand in "+keysUIHint,
			"config", w.Config, "label", w.Label, "key_uuid", w.KeyUUID)
		return settledAlone, nil
	}
	client, err := e.Client(w.Config, cfg)
	if err != nil {
		return "", err
	}
	kr, ok := client.(provider.KeyRotator)
	if !ok {
		return settledAlone, nil
	}
	if w.Label == "" {
		// An entry of an earlier version: the new key's uuid alone.
		if cfg.KeyUUID == w.KeyUUID {
			return rolledForward, nil
		}
		if err := kr.DeleteKey(ctx, w.KeyUUID); err != nil {
			return "", err
		}
		return rolledBack, nil
	}
	if w.NewClientID != "" && cfg.ClientID == w.NewClientID {
		if w.OldUUID != "" && w.OldUUID != cfg.KeyUUID {
			if err := kr.DeleteKey(ctx, w.OldUUID); err != nil {
				return "", err
			}
		}
		for _, warning := range e.reissueStatics(ctx, s, w.Config) {
			e.Logger.Warn("after finishing a rotation of the config's API key", "config", w.Config, "warning", warning)
		}
		e.Logger.Info("finished a rotation of the config's API key: the previous key is deleted", "config", w.Config, "key_uuid", w.OldUUID)
		return rolledForward, nil
	}
	// The config does not hold the new key: every key with the label goes
	// (a create retried after a 5xx may have made two), never the config's.
	uuids, err := labelledKeys(ctx, kr, w.NewClientID, w.Label)
	if err != nil {
		return "", err
	}
	if w.KeyUUID != "" && !slices.Contains(uuids, w.KeyUUID) {
		uuids = append(uuids, w.KeyUUID)
	}
	if len(uuids) == 0 && e.Now().Sub(w.Written) < createLandingWait(cfg) {
		return "", fmt.Errorf("no API key labelled %q yet, but its create may still land upstream", w.Label)
	}
	outcome := rolledBack
	for _, uuid := range uuids {
		if uuid == cfg.KeyUUID {
			// Written into the config by hand after all: the old key is
			// the one to go.
			outcome = rolledForward
			if w.OldUUID != "" && w.OldUUID != cfg.KeyUUID {
				if err := kr.DeleteKey(ctx, w.OldUUID); err != nil {
					return "", err
				}
			}
			continue
		}
		if err := kr.DeleteKey(ctx, uuid); err != nil {
			return "", err
		}
		e.Logger.Info("deleted an API key a rotation made but did not store", "config", w.Config, "key_uuid", uuid)
	}
	return outcome, nil
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

func decodeWALKey(data any) (*walKey, error) {
	var w walKey
	raw, err := json.Marshal(data)
	if err == nil {
		err = json.Unmarshal(raw, &w)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding WAL entry: %v", err)
	}
	return &w, nil
}

// abandonRotation ends a rotation that failed before its config was
// stored, and returns cause saying what became of the new key. If that
// cannot be settled now, the WAL entry stays for the rollback and the
// next rotation.
func (e *Rotator) abandonRotation(ctx context.Context, s logical.Storage, walID string, w *walKey, cause error) error {
	outcome, err := e.settleRotation(ctx, s, w)
	if err != nil {
		e.Logger.Error("could not delete a new API key that is not used; Vault's rollback tries again",
			"config", w.Config, "label", w.Label, "error", err)
		return fmt.Errorf("%w; the config is unchanged, but the new API key (labelled %q) could not be deleted yet (%v): "+
			"Vault's rollback deletes it, and so does the next rotate of this config", cause, w.Label, err)
	}
	_ = framework.DeleteWAL(ctx, s, walID)
	if outcome == rolledForward {
		return fmt.Errorf("%w; the config holds the new API key all the same, and the previous one is deleted", cause)
	}
	return fmt.Errorf("%w; no new API key is left and the config is unchanged", cause)
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
		if err := e.ReplaceDeadStatic(ctx, s, st); err != nil {
			warnings = append(warnings, fmt.Sprintf("static role %s could not take a token of the new key yet (%s); Vault retries", st, err))
		}
	}
	return warnings
}

// rollbackKey finishes a rotation a WAL entry says stopped half way.
// Vault's rollback read the entry before it took the config's lock, and a
// rotation may have rewritten or settled it since: the entry with the same
// label is read again under the lock, and one gone is done.
func (e *Rotator) rollbackKey(ctx context.Context, s logical.Storage, data any) error {
	w, err := decodeWALKey(data)
	if err != nil {
		return err
	}
	lock := e.ConfigLock(w.Config)
	lock.Lock()
	defer lock.Unlock()
	if w.Label != "" {
		if w, err = currentWALKey(ctx, s, w.Label); err != nil || w == nil {
			return err
		}
	}
	_, err = e.settleRotation(ctx, s, w)
	return err // on error the entry is kept; the rollback manager tries again
}

// currentWALKey is the stored rotation entry labelled label, nil if none.
func currentWALKey(ctx context.Context, s logical.Storage, label string) (*walKey, error) {
	ids, err := framework.ListWAL(ctx, s)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		entry, err := framework.GetWAL(ctx, s, id)
		if err != nil {
			return nil, err
		}
		if entry == nil || entry.Kind != walKindKey {
			continue
		}
		if w, err := decodeWALKey(entry.Data); err == nil && w.Label == label {
			return w, nil
		}
	}
	return nil, nil
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
