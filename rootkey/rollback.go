// The rollback of a rotation: the WAL entry that covers it, and the one
// settle step that finishes or undoes it from the stored config, shared by
// the rollback, a failed rotation, the next rotation and a config delete.

package rootkey

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

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
		w, err := lifecycle.DecodeWAL[walKey](entry.Data)
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
		return e.rollForward(ctx, s, kr, cfg, w)
	}
	return e.rollBack(ctx, kr, cfg, w)
}

// rollForward finishes a rotation whose config holds the new key: the old
// key goes, and the static roles mint with the new one.
func (e *Rotator) rollForward(ctx context.Context, s logical.Storage, kr provider.KeyRotator, cfg *lifecycle.ConfigEntry,
	w *walKey) (string, error) {
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

// rollBack undoes a rotation whose config does not hold the new key: every
// key with the label goes (a create retried after a 5xx may have made
// two), never the config's.
func (e *Rotator) rollBack(ctx context.Context, kr provider.KeyRotator, cfg *lifecycle.ConfigEntry, w *walKey) (string, error) {
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

// rollbackKey finishes a rotation a WAL entry says stopped half way.
// Vault's rollback read the entry before it took the config's lock, and a
// rotation may have rewritten or settled it since: the entry with the same
// label is read again under the lock, and one gone is done.
func (e *Rotator) rollbackKey(ctx context.Context, s logical.Storage, data any) error {
	w, err := lifecycle.DecodeWAL[walKey](data)
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
		if w, err := lifecycle.DecodeWAL[walKey](entry.Data); err == nil && w.Label == label {
			return w, nil
		}
	}
	return nil, nil
}
