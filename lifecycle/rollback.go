package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// walKindToken marks a WAL entry written before an upstream token is
// created and cleared once the token is tracked for its lease. An entry
// with a token is a token Vault never leased: the rollback deletes it
// upstream. An entry without one is a create that stopped before its answer
// was read: nothing upstream identifies that token, so the rollback can only
// say so.
const walKindToken = "upstream_token"

type walToken struct {
	Config string `json:"config"`
	Role   string `json:"role,omitempty"`
	Issuer string `json:"issuer,omitempty"`
	// Static names the static role a rotation minted the token for.
	Static string `json:"static,omitempty"`
	// Token and ExpiresAt are set once the upstream answered.
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitempty"`
	// For a capped upstream (cdp): when the create was sent, and the token
	// the account's retrieve call answered just before it (BeforeKnown:
	// the call answered), to find the token of a create whose answer was
	// lost (lost_tokens.go).
	Sent        time.Time `json:"sent,omitempty"`
	Before      string    `json:"before,omitempty"`
	BeforeKnown bool      `json:"before_known,omitempty"`
}

// rewriteWAL replaces the data of WAL entry id in place, so one entry
// covers a create from before the call to its end (a tracked token, a
// stored key).
func RewriteWAL(ctx context.Context, s logical.Storage, id, kind string, data any) error {
	raw, err := json.Marshal(&framework.WALEntry{Kind: kind, Data: data, CreatedAt: time.Now().UTC().Unix()})
	if err != nil {
		return err
	}
	return s.Put(ctx, &logical.StorageEntry{Key: framework.WALPrefix + id, Value: raw})
}

// DecodeWAL decodes the data of a WAL entry, as the framework hands it
// back (a map, after its round trip through storage), into a T: the one
// decoder of every WAL kind.
func DecodeWAL[T any](data any) (*T, error) {
	var w T
	raw, err := json.Marshal(data)
	if err == nil {
		err = json.Unmarshal(raw, &w)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding WAL entry: %w", err)
	}
	return &w, nil
}

// OnStaticKeeps registers how the rollback learns whether static role
// static still holds token (a rotation's, rolled forward), so it is not
// revoked. Call it before the mount serves requests.
func (e *Mount) OnStaticKeeps(keeps func(ctx context.Context, s logical.Storage, static, token string) (bool, error)) {
	e.staticKeeps = keeps
}

// staticHolds reports whether a static role's rotation minted w's token
// and the role holds it still (OnStaticKeeps).
func (e *Mount) staticHolds(ctx context.Context, s logical.Storage, w *walToken) (bool, error) {
	if w.Static == "" || e.staticKeeps == nil {
		return false, nil
	}
	return e.staticKeeps(ctx, s, w.Static, w.Token)
}

// OnInvalidate registers a function Invalidate calls with every storage key
// another node changed, for the caches other packages keep.
func (e *Mount) OnInvalidate(f func(key string)) { e.invalidators = append(e.invalidators, f) }

// Rollback finishes or undoes the work one WAL entry of its kind covers.
type Rollback func(ctx context.Context, s logical.Storage, data any) error

// OnRollback registers the rollback of a WAL kind another package writes
// (rootkey's rotations of a config's API key). Call it before the mount
// serves requests.
func (e *Mount) OnRollback(kind string, r Rollback) { e.rollbacks[kind] = r }

// WALRollback undoes a half-done token creation, or hands an entry of
// another kind to its registered rollback. Where this node cannot write (a
// performance standby or secondary) it does nothing upstream and keeps the
// entry for the node that can.
func (e *Mount) WALRollback(ctx context.Context, req *logical.Request, kind string, data any) error {
	other, known := e.rollbacks[kind]
	if kind != walKindToken && !known {
		return fmt.Errorf("unknown WAL kind %q", kind)
	}
	if err := e.EnsureWritable(); err != nil {
		return err
	}
	if kind != walKindToken {
		return other(ctx, req.Storage, data)
	}
	w, err := DecodeWAL[walToken](data)
	if err != nil {
		return err
	}
	if w.Token == "" {
		e.Logger.Warn("a token request stopped before its answer was read; if the upstream created a token, "+
			"nothing identifies it: cdp looks for it, the others count it as lost until it expires",
			"config", w.Config, "role", w.Role)
		if done, err := e.settleLostCreateByWAL(ctx, req.Storage, w); done || err != nil {
			return err
		}
		return e.countLostByWAL(ctx, req.Storage, w)
	}
	if !w.ExpiresAt.IsZero() && !e.Now().Before(w.ExpiresAt) {
		return e.ForgetToken(ctx, req.Storage, w.Config, w.Token)
	}
	if kept, err := e.staticHolds(ctx, req.Storage, w); kept || err != nil {
		return err
	}
	if err := e.RevokeUpstream(ctx, req.Storage, w.Config, w.Token, w.Issuer, time.Time{}); err != nil {
		return err // kept; the rollback manager tries again
	}
	e.Logger.Info("rolled back an upstream token whose lease was never created", "config", w.Config)
	return nil
}
