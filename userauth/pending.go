package userauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/hashicorp/vault/sdk/logical"
)

// StateLifetime is how long an authorize URL may be used.
const StateLifetime = 10 * time.Minute

// PendingAuth is one authorize/:role call waiting for its callback.
type PendingAuth struct {
	Role        string    `json:"role"`
	Config      string    `json:"config"`
	Verifier    string    `json:"verifier"`
	RedirectURL string    `json:"redirect_url"`
	ExpiresAt   time.Time `json:"expires_at"`
	// The device grant (flow=device, device.go): the device code, a
	// secret (this prefix is seal-wrapped) sent to the token endpoint
	// only; the interval between polls, grown by slow_down; and when to
	// poll next, so a restarted or new active node resumes on time.
	DeviceCode string        `json:"device_code,omitempty"`
	Interval   time.Duration `json:"interval,omitempty"`
	NextPoll   time.Time     `json:"next_poll,omitempty"`
	// Created orders a holder's pending states for the cap; Scopes are
	// the scopes authorize asked for (ScopesSet: recorded), which the
	// holder must still have when the user answers.
	Created   time.Time `json:"created,omitempty"`
	Scopes    []string  `json:"scopes,omitempty"`
	ScopesSet bool      `json:"scopes_set,omitempty"`
}

// age orders pending states oldest first; a state stored before Created
// was recorded counts as created a StateLifetime before its expiry.
func (p *PendingAuth) age() time.Time {
	if !p.Created.IsZero() {
		return p.Created
	}
	return p.ExpiresAt.Add(-StateLifetime)
}

func StateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return lifecycle.StatePrefix + hex.EncodeToString(sum[:])
}

// MaxPendingStates bounds the authorization states one role may have
// waiting; the oldest go first.
const MaxPendingStates = 20

// CapPendingStates drops a role's oldest pending states beyond
// MaxPendingStates, so repeated authorize calls cannot fill storage; keep,
// the state just stored, is never one of them. The caller holds the
// holder's lock, StateLock("role/"+role).
func (e *Authorizations) CapPendingStates(ctx context.Context, s logical.Storage, role, keep string) error {
	keys, err := s.List(ctx, lifecycle.StatePrefix)
	if err != nil {
		return err
	}
	type pending struct {
		key     string
		created time.Time
	}
	var mine []pending
	for _, k := range keys {
		p, err := lifecycle.GetJSON[PendingAuth](ctx, s, lifecycle.StatePrefix+k, "authorization state")
		if lifecycle.Unreadable(err) {
			e.Logger.Warn("skipping an authorization state that cannot be read (an interrupted storage write leaves one)",
				"error", err)
			continue
		}
		if err != nil {
			return err
		}
		if p != nil && p.Role == role && lifecycle.StatePrefix+k != keep {
			mine = append(mine, pending{lifecycle.StatePrefix + k, p.age()})
		}
	}
	if len(mine) < MaxPendingStates {
		return nil
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].created.Before(mine[j].created) })
	for _, p := range mine[:len(mine)-(MaxPendingStates-1)] {
		if err := s.Delete(ctx, p.key); err != nil {
			return fmt.Errorf("dropping an old authorization state: %w", err)
		}
	}
	return nil
}

// PruneStates deletes authorization states past their expiry, so abandoned
// authorize calls do not pile up, and polls for the device authorizations
// still pending. Vault runs periodic functions on
// performance standbys and secondaries too, which cannot write: those skip.
func (e *Authorizations) PruneStates(ctx context.Context, req *logical.Request) error {
	if e.EnsureWritable() != nil {
		return nil
	}
	keys, err := req.Storage.List(ctx, lifecycle.StatePrefix)
	if err != nil {
		return err
	}
	now := e.Now()
	for _, k := range keys {
		p, err := lifecycle.GetJSON[PendingAuth](ctx, req.Storage, lifecycle.StatePrefix+k, "authorization state")
		if lifecycle.Unreadable(err) {
			// Nothing can use it; it would stay forever.
			e.Logger.Warn("deleting an authorization state that cannot be read", "error", err)
			if err := req.Storage.Delete(ctx, lifecycle.StatePrefix+k); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			e.Logger.Warn("skipping an unreadable authorization state", "error", err)
			continue
		}
		if p != nil && !now.Before(p.ExpiresAt) {
			if err := req.Storage.Delete(ctx, lifecycle.StatePrefix+k); err != nil {
				return err
			}
			continue
		}
		if p != nil && p.DeviceCode != "" {
			// A device authorization left by a restart or a fail-over:
			// this node, which can write, polls for it from now on.
			e.ScheduleDevice(req.Storage, lifecycle.StatePrefix+k, p.PollAt())
		}
	}
	return nil
}
