package userauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// The device authorization grant (RFC 8628): authorize/<role> flow=device
// asks the provider for a device code and stores it, seal-wrapped, as a
// pending authorization (pending.go: the cap of 20 per role, pruning). The
// node that can write polls the token endpoint for each one at the
// provider's interval (slow_down adds 5 s) until the user approves, denies
// or the code expires; an approval ends in the callback's storing step
// (lifecycle.CompleteAuthorization). Pending device authorizations are in
// storage, so a restarted or newly active node resumes polling them
// (PruneStates schedules them, from the periodic function).

// maxDeviceLifetime bounds how long a device authorization stays pending,
// whatever expires_in the provider names.
const MaxDeviceLifetime = time.Hour

// slowDownStep is what RFC 8628 §3.5 adds to the interval on slow_down.
const slowDownStep = 5 * time.Second

// devicePollTick is how often the poller looks for a due poll. Polls
// follow the mount's clock; the tick only bounds how late one runs.
const devicePollTick = 200 * time.Millisecond

// storePending stores p under a fresh random state of its own (never handed
// out for a device authorization) and keeps the holder's pending
// authorizations within MaxPendingStates. It returns the storage key.
func (e *Authorizations) StorePending(ctx context.Context, s logical.Storage, holder string, p *PendingAuth) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	key := StateKey(base64.RawURLEncoding.EncodeToString(raw))
	entry, err := logical.StorageEntryJSON(key, p)
	if err != nil {
		return "", err
	}
	pendingLock := e.StateLock("role/" + holder)
	pendingLock.Lock()
	defer pendingLock.Unlock()
	if err := s.Put(ctx, entry); err != nil {
		return "", fmt.Errorf("storing the pending authorization: %w", err)
	}
	return key, e.CapPendingStates(ctx, s, holder, key)
}

// devicePoller runs one goroutine while device authorizations are pending
// on this node: each tick it polls those that are due.
type DevicePoller struct {
	mu      sync.Mutex
	due     map[string]time.Time // storage key → next poll, on the mount's clock
	storage logical.Storage
	running bool
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func NewDevicePoller() *DevicePoller {
	ctx, cancel := context.WithCancel(context.Background())
	return &DevicePoller{due: map[string]time.Time{}, ctx: ctx, cancel: cancel}
}

// scheduleDevice polls the device authorization at key at (or at once if
// that is past), starting the poller where it is not running.
func (e *Authorizations) ScheduleDevice(s logical.Storage, key string, at time.Time) {
	d := e.device
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	if _, known := d.due[key]; known {
		return
	}
	d.due[key] = at
	d.storage = s
	if !d.running {
		d.running = true
		d.wg.Add(1)
		go e.runDevicePoller()
	}
}

func (e *Authorizations) reschedule(key string, at time.Time) {
	d := e.device
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, known := d.due[key]; known {
		d.due[key] = at
	}
}

func (e *Authorizations) unschedule(key string) {
	d := e.device
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.due, key)
}

// StopDevicePolling ends the poller for good (Cleanup: unmount, reload,
// seal, step-down): the poll in flight gives up its upstream call, and the
// pending authorizations stay in storage for the next active node.
func (e *Authorizations) StopDevicePolling() {
	d := e.device
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}

func (e *Authorizations) runDevicePoller() {
	d := e.device
	defer d.wg.Done()
	t := time.NewTicker(devicePollTick)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		keys, s, more := e.dueDevices()
		if !more {
			return
		}
		for _, k := range keys {
			if d.ctx.Err() != nil {
				return
			}
			e.pollDeviceGuarded(d.ctx, s, k)
		}
	}
}

// dueDevices lists the polls due now; more is false (and the poller marked
// stopped) once nothing is pending.
func (e *Authorizations) dueDevices() (keys []string, s logical.Storage, more bool) {
	d := e.device
	now := e.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.due) == 0 || d.closed {
		d.running = false
		return nil, nil, false
	}
	for k, at := range d.due {
		if !now.Before(at) {
			keys = append(keys, k)
		}
	}
	return keys, d.storage, true
}

// pollDeviceGuarded is pollDevice; a panic is logged and the poller goes on
// (the plugin serves every mount from one process).
func (e *Authorizations) pollDeviceGuarded(ctx context.Context, s logical.Storage, key string) {
	defer func() {
		if v := recover(); v != nil {
			_ = e.Panicked("the device authorization poller", v)
			e.reschedule(key, e.Now().Add(time.Minute))
		}
	}()
	e.pollDevice(ctx, s, key)
}

// pollDevice polls the token endpoint once for the device authorization at
// key, and acts on the answer.
func (e *Authorizations) pollDevice(ctx context.Context, s logical.Storage, key string) {
	if e.EnsureWritable() != nil {
		// Not this node's to poll (any more): the active node resumes.
		e.unschedule(key)
		return
	}
	p, err := lifecycle.GetJSON[PendingAuth](ctx, s, key, "authorization state")
	if err != nil {
		e.Logger.Warn("could not read a pending device authorization; trying again", "error", err)
		e.reschedule(key, e.Now().Add(time.Minute))
		return
	}
	if p == nil || p.DeviceCode == "" {
		e.unschedule(key) // used, pruned, or dropped by the cap
		return
	}
	_, name := lifecycle.Holder(p.Role)
	now := e.Now()
	if !now.Before(p.ExpiresAt) {
		e.Logger.Info("device authorization expired before the user answered", "role", name, "config", p.Config)
		e.endDevice(ctx, s, key)
		return
	}
	if now.Before(p.NextPoll) {
		e.reschedule(key, p.PollAt())
		return
	}
	authorizedAt, err := e.CompleteAuthorization(ctx, s, lifecycle.Authorization{Holder: p.Role, Config: p.Config, DeviceCode: p.DeviceCode,
		Scopes: p.Scopes, ScopesSet: p.ScopesSet})
	e.deviceAnswer(ctx, s, key, p, authorizedAt, err)
}

// deviceAnswer acts on a poll's outcome (RFC 8628 §3.5).
func (e *Authorizations) deviceAnswer(ctx context.Context, s logical.Storage, key string, p *PendingAuth, at time.Time, err error) {
	_, name := lifecycle.Holder(p.Role)
	switch {
	case err == nil:
		e.endDevice(ctx, s, key)
		if n, static := cutStatic(p.Role); static {
			// The first token comes from the new authorization.
			e.statics.RotateAuthorized(ctx, s, n)
		}
		e.Logger.Info("device authorization approved", "role", name, "config", p.Config, "authorized_at", at.Format(time.RFC3339))
	case provider.HasCode(err, "authorization_pending"):
		e.nextDevicePoll(ctx, s, key, p)
	case provider.HasCode(err, "slow_down"):
		p.Interval += slowDownStep
		e.Logger.Debug("the provider asked for slower polling", "role", name, "interval", p.Interval.String())
		e.nextDevicePoll(ctx, s, key, p)
	case provider.HasCode(err, "access_denied"):
		e.Logger.Warn("the user denied the device authorization; nothing was stored", "role", name, "config", p.Config)
		e.endDevice(ctx, s, key)
	case provider.HasCode(err, "expired_token"):
		e.Logger.Info("device authorization expired before the user answered", "role", name, "config", p.Config)
		e.endDevice(ctx, s, key)
	case transient(err) && ctx.Err() == nil:
		e.Logger.Warn("polling for a device authorization failed; trying again", "role", name, "config", p.Config, "error", err)
		e.nextDevicePoll(ctx, s, key, p)
	case ctx.Err() != nil:
		// Stopping: the state stays for the next active node.
	default:
		e.Logger.Warn("device authorization failed; nothing was stored", "role", name, "config", p.Config, "error", err)
		e.endDevice(ctx, s, key)
	}
}

// transient reports whether a poll failed for now (no answer, 429, 5xx,
// storage), so the next poll may succeed.
func transient(err error) bool {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe.Retryable || pe.Status == 0 || pe.Status == 429 || pe.Status >= 500
	}
	var ue *lifecycle.UserError
	return !errors.As(err, &ue)
}

// nextDevicePoll stores when p is polled next, one interval from now.
func (e *Authorizations) nextDevicePoll(ctx context.Context, s logical.Storage, key string, p *PendingAuth) {
	ctx = context.WithoutCancel(ctx)
	if p.Interval <= 0 {
		p.Interval = provider.DefaultDeviceInterval
	}
	p.NextPoll = e.Now().Add(p.Interval).UTC()
	// The holder's lock, which the cap holds while it drops states: a
	// state dropped meanwhile is not written back.
	lock := e.StateLock("role/" + p.Role)
	lock.Lock()
	existing, err := lifecycle.GetJSON[PendingAuth](ctx, s, key, "authorization state")
	if err == nil && existing != nil {
		err = lifecycle.PutJSON(ctx, s, key, "the pending device authorization", p)
	}
	lock.Unlock()
	if err != nil {
		e.Logger.Warn("could not store the next poll of a device authorization", "error", err)
	}
	if existing == nil && err == nil {
		e.unschedule(key) // dropped by the cap meanwhile
		return
	}
	e.reschedule(key, p.PollAt())
}

// pollAt is when p is looked at next: its next poll, or its expiry if
// that is sooner (expiry is checked when a poll is due).
func (p *PendingAuth) PollAt() time.Time {
	if p.ExpiresAt.Before(p.NextPoll) {
		return p.ExpiresAt
	}
	return p.NextPoll
}

// endDevice forgets a device authorization: its code yields nothing more.
func (e *Authorizations) endDevice(ctx context.Context, s logical.Storage, key string) {
	ctx = context.WithoutCancel(ctx)
	e.unschedule(key)
	lock := e.StateLock(key)
	lock.Lock()
	defer lock.Unlock()
	if err := s.Delete(ctx, key); err != nil {
		e.Logger.Warn("could not delete a finished device authorization; pruning removes it at expiry", "error", err)
	}
}

func cutStatic(holder string) (string, bool) {
	_, name := lifecycle.Holder(holder)
	return name, name != holder
}
