package lifecycle

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// A lease's revoke answers Vault as soon as the issuer confirmed the
// revocation, and the token's record is deleted just after, off the
// revoke's path. The record's delete is a storage call back into Vault;
// nothing Vault does next waits on it (it deletes the lease either way,
// and the token is dead upstream), so taking it off the path lets Vault's
// own deletes for the lease run beside it: in `make bench-ab` the spread
// shape revoked 0.84 times as long per lease, on file storage, with the
// record deleted here rather than inside the revoke.
//
// What #14 needs holds: a record goes only after the issuer confirmed,
// since a record missing while its token lives would let the next mint
// pass CDP's token limit. The in-memory index forgets the token at once,
// and a config's index read from storage skips the records waiting here,
// so no mint counts the token after the revoke answered. A record whose
// delete is lost (the plugin process killed in between, storage refusing
// it three times, the mount cleaned up first) stays and counts toward
// max_tokens until its token's expiry, as the record of a lease revoked
// with -force does: one token too many counted, never one too few. This
// node's index no longer holds it, so it is pruned only once the index is
// read from storage again (after a restart or fail-over).
//
// Bounded: at most maxPendingForgets records wait; past that a revoke
// deletes its record itself, as before, and fails if the delete does. One
// goroutine per mount deletes them, started on demand and gone when none
// waits. Cleanup waits for it a moment (none where storage cannot be
// written), then stops it.

// maxPendingForgets is how many records may wait for their delete.
const maxPendingForgets = 1024

// forgetTimeout bounds the attempts at one record's delete.
const forgetTimeout = 30 * time.Second

// pendingForget is one record waiting: its token's TokenID, so that the
// token itself is not kept.
type pendingForget struct {
	s          logical.Storage
	config, id string
}

type forgetQueue struct {
	mu      sync.Mutex
	pending []pendingForget
	// deleting is the record the worker is deleting, if any.
	deleting *pendingForget
	// idle is closed when the worker has nothing left and exits; nil
	// while none runs.
	idle chan struct{}
	// stopped: the mount is being cleaned up; nothing is queued any more.
	stopped bool
}

// forgetAfterRevoke forgets token, which its issuer confirmed revoked, in
// config's index now and deletes its record in the background; with
// maxPendingForgets waiting, or the mount being cleaned up, it deletes the
// record itself and returns that delete's error.
func (e *Mount) forgetAfterRevoke(ctx context.Context, s logical.Storage, config, token string) error {
	id := TokenID(token)
	e.indexed(config, func(idx map[string]heldToken) { delete(idx, id) })
	q := e.forgets
	q.mu.Lock()
	if q.stopped || len(q.pending) >= maxPendingForgets {
		q.mu.Unlock()
		return e.forgetID(ctx, s, config, id)
	}
	q.pending = append(q.pending, pendingForget{s, config, id})
	if q.idle == nil {
		q.idle = make(chan struct{})
		go e.forgetPending()
	}
	q.mu.Unlock()
	return nil
}

// forgetPending deletes the waiting records, one after another, until
// none waits or the mount is cleaned up.
func (e *Mount) forgetPending() {
	q := e.forgets
	for {
		q.mu.Lock()
		if len(q.pending) == 0 || q.stopped {
			close(q.idle)
			q.idle = nil
			q.mu.Unlock()
			return
		}
		f := q.pending[0]
		q.pending[0] = pendingForget{}
		q.pending = q.pending[1:]
		q.deleting = &f
		q.mu.Unlock()
		e.forgetNow(f)
		q.mu.Lock()
		q.deleting = nil
		q.mu.Unlock()
	}
}

// waitingFor is the set of config's records waiting for their delete or
// being deleted, so that an index read from storage skips them.
func (e *Mount) waitingFor(config string) map[string]bool {
	q := e.forgets
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string]bool{}
	for _, f := range q.pending {
		if f.config == config {
			out[f.id] = true
		}
	}
	if f := q.deleting; f != nil && f.config == config {
		out[f.id] = true
	}
	return out
}

// forgetNow deletes one record, three attempts at most (one where storage
// is read-only); a panic is logged and the record left, as the worker
// must go on.
func (e *Mount) forgetNow(f pendingForget) {
	defer func() {
		if v := recover(); v != nil {
			_ = e.Panicked("deleting the record of a revoked token", v)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), forgetTimeout)
	defer cancel()
	err := tryAgain(ctx, []time.Duration{100 * time.Millisecond, time.Second}, func(err error) bool {
		return !errors.Is(err, logical.ErrReadOnly) && !errors.Is(err, logical.ErrSetupReadOnly)
	}, func() error { return e.forgetID(ctx, f.s, f.config, f.id) })
	if err == nil {
		return
	}
	e.Logger.Warn("the record of a revoked token could not be deleted: it counts toward the config's max_tokens "+
		"until the token's expiry", "config", f.config, "error", err)
}

// WaitForgets waits until no revoked token's record waits for its delete,
// or ctx ends.
func (e *Mount) WaitForgets(ctx context.Context) error {
	q := e.forgets
	q.mu.Lock()
	idle := q.idle
	q.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StopForgets is for Cleanup: it waits for the waiting deletes until ctx
// ends, then drops those left (their records count until their tokens'
// expiry), logging how many, and deletes the records of later revokes in
// the revoke.
func (e *Mount) StopForgets(ctx context.Context) {
	err := e.WaitForgets(ctx)
	q := e.forgets
	q.mu.Lock()
	q.stopped = true
	dropped := len(q.pending)
	q.pending = nil
	q.mu.Unlock()
	if dropped > 0 {
		e.Logger.Warn("the mount was cleaned up before the records of some revoked tokens were deleted: they count "+
			"toward their configs' max_tokens until their tokens' expiry", "records", dropped, "error", err)
	}
}
