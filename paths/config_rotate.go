package paths

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// rotate-root: a config replaces its own credential through the upstream's
// key API (provider.KeyRotator: Acquia Cloud's /account/tokens). The new
// key is created with the old one, proven by fetching a token with it,
// stored, and only then is the old key deleted with the new one. Until the
// new config is stored the old key is untouched, so a failure at any step
// before leaves the config working as it was.

// keyPropagationWait bounds how long a new key may take to work upstream:
// its verification is retried until then.
const keyPropagationWait = 5 * time.Second

// keysUIHint says where an operator deletes an Acquia Cloud key by hand.
const keysUIHint = "the Cloud Platform UI (Account settings > API Tokens)"

// walKindKey marks a WAL entry written once a new API key exists and
// cleared once the config holds it or the key is deleted: an entry left
// behind names a key nothing uses, which the rollback deletes.
const walKindKey = "api_key"

type walKey struct {
	Config  string `json:"config"`
	KeyUUID string `json:"key_uuid"`
}

// rootRotation is what one rotation did.
type rootRotation struct {
	clientID, keyUUID string
	rotatedAt         time.Time
	warnings          []string
}

func (e *Env) configRotatePath() *framework.Path {
	return configAction("rotate", "rotate", "root", strict(e.configRotate),
		"Replace the config's API key with a new one and delete the old one (cloud).",
		"Rotate the config's own credential: a new Acquia Cloud API key replaces the old one.",
		`Creates a new API key through the Cloud API (POST /account/tokens) with the
current key, checks that it can fetch a token, stores it in the config, then
deletes the previous key by its key_uuid. Answers the new client_id, key_uuid
and rotated_at, never the secret. If the new key does not work it is deleted
and the config is unchanged; if the previous key cannot be deleted the new one
stays in use and a warning names the key to delete by hand. Automated
rotation: rotation_period (and, with Vault's rotation manager,
rotation_schedule) on the config.`)
}

func (e *Env) configRotate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := e.ensureWritable(); err != nil {
		return nil, err
	}
	r, err := e.rotateRoot(ctx, req.Storage, name, nil)
	if err != nil {
		return nil, err
	}
	e.logRotation(name, r, "request")
	return &logical.Response{
		Data: map[string]any{
			fClientID:    r.clientID,
			fKeyUUID:     r.keyUUID,
			"rotated_at": r.rotatedAt.Format(time.RFC3339),
		},
		Warnings: r.warnings,
	}, nil
}

// rotateRoot replaces the API key of config name. With onlyIf set, the
// rotation happens only if it holds for the config as loaded under the
// config's lock; otherwise rotateRoot returns nil, nil. The caller has
// passed ensureWritable.
func (e *Env) rotateRoot(ctx context.Context, s logical.Storage, name string, onlyIf func(*configEntry) bool) (*rootRotation, error) {
	lock := locksFor(e.configLocks, name)
	lock.Lock()
	defer lock.Unlock()

	existing, err := e.loadConfig(ctx, s, name)
	if err != nil {
		return nil, err
	}
	if existing == nil {
		return nil, userErr("config %q does not exist", name)
	}
	if onlyIf != nil && !onlyIf(existing) {
		return nil, nil
	}
	current, err := e.client(name, existing)
	if err != nil {
		return nil, err
	}
	kr, ok := current.(provider.KeyRotator)
	if !ok {
		return nil, userErr("rotate is for cloud configs: %s has no API to create keys", existing.Provider)
	}
	oldEff, err := provider.Effective(existing.Config)
	if err != nil {
		return nil, err
	}

	now := e.Now().UTC()
	key, err := kr.CreateKey(ctx, fmt.Sprintf("vault %s %s", name, now.Format(time.RFC3339)))
	if err != nil {
		return nil, fmt.Errorf("%w; the config is unchanged", err)
	}
	walID, err := framework.PutWAL(ctx, s, walKindKey, &walKey{Config: name, KeyUUID: key.UUID})
	if err != nil {
		return nil, e.abandonKey(ctx, s, kr, key.UUID, "", fmt.Errorf("writing WAL: %w", err))
	}

	cfg := *existing
	cfg.Scopes = append([]string(nil), existing.Scopes...)
	cfg.ClientID, cfg.ClientSecret, cfg.KeyUUID = key.ClientID, key.ClientSecret, key.UUID
	cfg.LastRotated = now
	eff, err := provider.Effective(cfg.Config)
	if err == nil {
		err = validateEffective(&eff)
	}
	if err != nil {
		return nil, e.abandonKey(ctx, s, kr, key.UUID, walID, fmt.Errorf("the new API key is not usable: %w", err))
	}
	next, err := provider.New(cfg.Config, e.providerOptions())
	if err != nil {
		return nil, e.abandonKey(ctx, s, kr, key.UUID, walID, err)
	}
	if err := verifyNewKey(ctx, next, eff.Scopes); err != nil {
		return nil, e.abandonKey(ctx, s, kr, key.UUID, walID,
			fmt.Errorf("the new API key %s could not fetch a token within %s: %w", key.UUID, keyPropagationWait, err))
	}
	warnings, err := e.storeConfig(ctx, s, name, existing, &cfg, oldEff, eff)
	if err != nil {
		return nil, e.abandonKey(ctx, s, kr, key.UUID, walID, err)
	}
	// The config holds the key now: a WAL entry left behind by a failed
	// delete is rolled forward, not back.
	_ = framework.DeleteWAL(ctx, s, walID)

	r := &rootRotation{clientID: key.ClientID, keyUUID: key.UUID, rotatedAt: now, warnings: warnings}
	switch {
	case existing.KeyUUID == "":
		r.warnings = append(r.warnings, fmt.Sprintf("the previous API key (client_id %s) was not deleted: the config had no "+
			"key_uuid to delete it by; delete it in %s", existing.ClientID, keysUIHint))
	default:
		if err := next.(provider.KeyRotator).DeleteKey(ctx, existing.KeyUUID); err != nil {
			r.warnings = append(r.warnings, fmt.Sprintf("the new API key is in use, but the previous one, %s, could not be "+
				"deleted (%s); delete it in %s", existing.KeyUUID, err, keysUIHint))
			break
		}
		r.warnings = append(r.warnings, e.reissueStatics(ctx, s, name)...)
	}
	return r, nil
}

// logRotation logs a rotation and its warnings; by says what asked for it.
func (e *Env) logRotation(name string, r *rootRotation, by string) {
	e.Logger.Info("rotated the config's API key", "config", name, "by", by, "key_uuid", r.keyUUID)
	for _, w := range r.warnings {
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

// abandonKey deletes a new key that will not be used, with the config's
// current credentials, and returns cause saying what became of it. If the
// delete fails, the WAL entry (when there is one) stays for the rollback
// to try again.
func (e *Env) abandonKey(ctx context.Context, s logical.Storage, kr provider.KeyRotator, uuid, walID string, cause error) error {
	if err := kr.DeleteKey(ctx, uuid); err != nil {
		e.Logger.Error("could not delete a new API key that is not used", "key_uuid", uuid, "error", err)
		return fmt.Errorf("%w; the config is unchanged, but deleting the new API key %s failed too (%v): "+
			"delete it in %s", cause, uuid, err, keysUIHint)
	}
	if walID != "" {
		_ = framework.DeleteWAL(ctx, s, walID)
	}
	return fmt.Errorf("%w; the new API key was deleted and the config is unchanged", cause)
}

// reissueStatics gives the static roles of a config new tokens after its
// previous key was deleted: whether a deleted key's tokens keep working
// upstream is not documented, and static-creds must not serve a dead one.
func (e *Env) reissueStatics(ctx context.Context, s logical.Storage, name string) []string {
	statics, err := e.staticRolesUsing(ctx, s, name)
	if err != nil {
		return []string{fmt.Sprintf("the static roles of config %s could not be listed to give them tokens of the new key (%s)", name, err)}
	}
	var warnings []string
	for _, st := range statics {
		if err := e.replaceDeadStatic(ctx, s, st); err != nil {
			warnings = append(warnings, fmt.Sprintf("static role %s could not take a token of the new key yet (%s); Vault retries", st, err))
		}
	}
	return warnings
}

// rollbackKey deletes a new API key that a rotation made but did not
// store, unless the config holds it after all.
func (e *Env) rollbackKey(ctx context.Context, s logical.Storage, data any) error {
	var w walKey
	raw, err := json.Marshal(data)
	if err == nil {
		err = json.Unmarshal(raw, &w)
	}
	if err != nil {
		return fmt.Errorf("decoding WAL entry: %v", err)
	}
	lock := locksFor(e.configLocks, w.Config)
	lock.Lock()
	defer lock.Unlock()
	cfg, err := e.loadConfig(ctx, s, w.Config)
	if err != nil {
		return err
	}
	if cfg == nil {
		e.Logger.Warn("a rotation left an API key behind and its config is gone; delete the key by hand in "+keysUIHint,
			"config", w.Config, "key_uuid", w.KeyUUID)
		return nil
	}
	if cfg.KeyUUID == w.KeyUUID {
		return nil
	}
	client, err := e.client(w.Config, cfg)
	if err != nil {
		return err
	}
	kr, ok := client.(provider.KeyRotator)
	if !ok {
		return nil
	}
	if err := kr.DeleteKey(ctx, w.KeyUUID); err != nil {
		return err // kept; the rollback manager tries again
	}
	e.Logger.Info("deleted an API key a rotation made but did not store", "config", w.Config, "key_uuid", w.KeyUUID)
	return nil
}
