package staticrole

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/queue"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// Static roles rotate from a priority queue of their next due time: the
// next rotation, or the end of the previous token's grace period, whichever
// comes first. A ticker (StartRotation) and Vault's periodic function both
// run RotateDue, only where storage is writable, so a cluster rotates once
// per period, on its active node. The queue is rebuilt from storage when the
// mount starts (a restart, a fail-over), so an overdue rotation runs at once.

// staticToken is the state of a static role's token (seal-wrapped).
type staticToken struct {
	AccessToken string            `json:"access_token,omitempty"`
	ExpiresAt   time.Time         `json:"expires_at"`
	IssuedAt    time.Time         `json:"issued_at"`
	Scopes      []string          `json:"scopes,omitempty"`
	Data        map[string]string `json:"data,omitempty"`
	// Config and Issuer minted the token: its revoke goes there, even
	// after the role moved to another config.
	Config string `json:"config,omitempty"`
	Issuer string `json:"issuer,omitempty"`

	LastRotated  time.Time `json:"last_rotated"`
	NextRotation time.Time `json:"next_rotation"`
	// LastError is the last failed rotation's error; cleared by a success.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitempty"`
	Failures    int       `json:"failures,omitempty"`

	// Retired are rotated-out tokens in their grace period, or whose
	// revoke failed and is retried.
	Retired []graceToken `json:"retired,omitempty"`
}

type graceToken struct {
	AccessToken string    `json:"access_token"`
	ExpiresAt   time.Time `json:"expires_at"`
	RevokeAt    time.Time `json:"revoke_at"`
	Config      string    `json:"config"`
	Issuer      string    `json:"issuer,omitempty"`
	// Failures counts the failed revokes since the grace period ended:
	// each waits longer for the next try (retryWait).
	Failures int `json:"failures,omitempty"`
}

func (st *staticToken) Lifetime() time.Duration { return st.ExpiresAt.Sub(st.IssuedAt) }

// retired is st's rotated-out tokens; none when st is nil.
func (st *staticToken) retired() []graceToken {
	if st == nil {
		return nil
	}
	return st.Retired
}

// due is when the role needs the rotation loop next.
func (st *staticToken) due() time.Time {
	d := st.NextRotation
	for _, g := range st.Retired {
		if g.RevokeAt.Before(d) {
			d = g.RevokeAt
		}
	}
	return d
}

// rotation is the schedule of one mount, and the cache static-creds reads.
type rotation struct {
	mu    sync.Mutex
	queue *queue.PriorityQueue
	cache map[string]*staticToken
	// gen bumps on every change of a name's token, so that a read which
	// loaded it before never puts its stale copy in cache (as cache.go).
	gen    map[string]uint64
	stop   chan struct{}
	cancel context.CancelFunc
	ticker sync.WaitGroup
}

func newRotation() *rotation {
	return &rotation{queue: queue.New(), cache: map[string]*staticToken{}, gen: map[string]uint64{}}
}

func (e *Statics) LoadStaticToken(ctx context.Context, s logical.Storage, name string) (*staticToken, error) {
	return lifecycle.GetJSON[staticToken](ctx, s, lifecycle.StaticTokenPrefix+name, fmt.Sprintf("token of static role %q", name))
}

// CachedStaticToken serves static-creds: from memory, else from storage.
func (e *Statics) CachedStaticToken(ctx context.Context, s logical.Storage, name string) (*staticToken, error) {
	e.rot.mu.Lock()
	st, ok := e.rot.cache[name]
	g := e.rot.gen[name]
	e.rot.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := e.LoadStaticToken(ctx, s, name)
	if err != nil || st == nil {
		return st, err
	}
	e.rot.mu.Lock()
	if e.rot.gen[name] == g {
		e.rot.cache[name] = st
	}
	e.rot.mu.Unlock()
	return st, nil
}

// StoreStaticToken writes a static role's token state, refreshes the cache
// and reschedules the role.
func (e *Statics) StoreStaticToken(ctx context.Context, s logical.Storage, name string, st *staticToken) error {
	if err := lifecycle.PutJSON(ctx, s, lifecycle.StaticTokenPrefix+name, fmt.Sprintf("the token of static role %q", name), st); err != nil {
		return err
	}
	e.rot.mu.Lock()
	defer e.rot.mu.Unlock()
	cp := *st
	e.rot.gen[name]++
	e.rot.cache[name] = &cp
	e.scheduleLocked(name, st.due())
	return nil
}

// StaticChanged forgets a static role's cached token and schedule: it was
// deleted.
func (e *Statics) StaticChanged(name string) {
	e.rot.mu.Lock()
	defer e.rot.mu.Unlock()
	e.staticForgetLocked(name)
	_, _ = e.rot.queue.PopByKey(name)
}

// staticForget forgets a static role's cached token (another node changed
// it: Invalidate). Its generation moves on, so that a read which loaded the
// old token before does not cache it again.
func (e *Statics) staticForget(name string) {
	e.rot.mu.Lock()
	defer e.rot.mu.Unlock()
	e.staticForgetLocked(name)
}

func (e *Statics) staticForgetLocked(name string) {
	e.rot.gen[name]++
	delete(e.rot.cache, name)
}

func (e *Statics) scheduleLocked(name string, at time.Time) {
	_, _ = e.rot.queue.PopByKey(name)
	_ = e.rot.queue.Push(&queue.Item{Key: name, Priority: at.UnixNano()})
}

func (e *Statics) schedule(name string, at time.Time) {
	e.rot.mu.Lock()
	defer e.rot.mu.Unlock()
	e.scheduleLocked(name, at)
}

// Revocable reports whether cfg's upstream can revoke one token.
func (e *Statics) Revocable(name string, cfg *lifecycle.ConfigEntry) bool {
	c, err := e.Client(name, cfg)
	if err != nil {
		return false
	}
	_, ok := c.(provider.Revoker)
	return ok
}

// RotationCheck is what a rotation started by a static role write must
// store with the new token: the role itself, once the token shows its
// rotation_period fits.
type RotationCheck struct {
	Entry *logical.StorageEntry
}

// RotateStatic replaces a static role's token. The caller holds the static
// role's lock. The new token is minted under a WAL entry and stored before
// the WAL entry goes (mint's commit), so a rotation that stops half way
// rolls forward (token stored) or back (token deleted). The old token stays
// valid for the grace period where the upstream can revoke it, and is
// revoked then, at the config and issuer that minted it; elsewhere, and
// for a user's grant on a site that may cascade a revoke to the grant, it
// expires by itself.
func (e *Statics) RotateStatic(ctx context.Context, s logical.Storage, name string, role *lifecycle.StaticRole, check RotationCheck) error {
	issuerLock := e.IssuerLock(role.Config)
	issuerLock.RLock()
	defer issuerLock.RUnlock()
	// Reload under the lock: the issuer cannot change from here on.
	acct, err := e.Account(ctx, s, role.Config)
	if err != nil {
		return err
	}
	if acct == nil {
		return fmt.Errorf("static role %q: %w: %q", name, lifecycle.ErrNoConfig, role.Config)
	}
	r := &staticMint{name: name, role: role, check: check, acct: acct, now: e.Now().UTC()}
	if r.old, err = e.LoadStaticToken(ctx, s, name); err != nil {
		return err
	}
	obtain, err := e.staticObtain(ctx, s, r)
	if err != nil {
		return err
	}
	replaces := ""
	if r.old != nil && acct.Eff.DisablesAll() {
		replaces = r.old.AccessToken
	}
	commit := func(ctx context.Context, tok *provider.Token) error { return e.commitStatic(ctx, s, r, tok) }
	if _, err := e.Mint(ctx, s, lifecycle.MintRequest{ConfigName: role.Config, Static: name, Entry: acct.Entry, Client: acct.Client,
		Obtain: obtain, Commit: commit, Unrevocable: lifecycle.SpareUserGrant(role.Grant(), acct.Entry), Replaces: replaces}); err != nil {
		return err
	}
	if replaces != "" {
		e.Logger.Warn("static role rotated on a disable_all tenant: CDP disabled the previous token at once, with no grace "+
			"period", "static_role", name, "config", role.Config)
	}
	e.staticRotated(acct.Entry.Provider, name, role, &r.next)
	e.endGrace(ctx, s, name, &r.next)
	e.Logger.Info("static role rotated", "static_role", name, "config", role.Config, "next_rotation", r.next.NextRotation)
	return nil
}

// staticMint is one rotation of a static role's token on its way.
type staticMint struct {
	name  string
	role  *lifecycle.StaticRole
	check RotationCheck
	acct  *lifecycle.Account
	old   *staticToken
	now   time.Time
	next  staticToken
}

// staticObtain is how a rotation gets its token: a client credentials
// request, or a refresh of the role's user authorization.
func (e *Statics) staticObtain(ctx context.Context, s logical.Storage, r *staticMint) (func(context.Context) (*provider.Token, error),
	error) {
	if r.role.Grant() != provider.GrantAuthorizationCode {
		scopes := r.role.Scopes
		if len(scopes) == 0 {
			scopes = r.acct.Entry.Scopes
		}
		return func(ctx context.Context) (*provider.Token, error) { return r.acct.Client.Token(ctx, scopes) }, nil
	}
	if _, err := r.acct.CodeGranter(); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (*provider.Token, error) {
		tok, _, err := e.RefreshRoleToken(ctx, s, lifecycle.StaticHolder(r.name), r.acct)
		return tok, err
	}, nil
}

// commitStatic stores the new token as the role's, the previous one
// retired for its grace period, while the mint's WAL entry still covers
// it; a role being written is stored with it (check.Entry).
func (e *Statics) commitStatic(ctx context.Context, s logical.Storage, r *staticMint, tok *provider.Token) error {
	role, eff, now := r.role, r.acct.Eff, r.now
	r.next = staticToken{AccessToken: tok.AccessToken, ExpiresAt: tok.ExpiresAt, IssuedAt: now, Scopes: tok.Scopes,
		Data: tok.Data, Config: role.Config, Issuer: lifecycle.IssuerOf(eff), LastRotated: now}
	if !tok.ExpiresAt.After(now) {
		return &provider.Error{Op: "token request", Host: lifecycle.HostOf(eff.TokenURL, eff.BaseURL),
			Detail: "issued a token that already expired", Hint: "check the Vault server's clock"}
	}
	if err := CheckRotationPeriod(role, &r.next); err != nil {
		return err
	}
	if r.check.Entry != nil {
		// A role being written; one already stored keeps rotating.
		spec, _ := provider.Lookup(r.acct.Entry.Provider)
		if err := CheckGracePeriod(role, &r.next, spec.TokenLimit); err != nil {
			return err
		}
	}
	r.next.NextRotation = now.Add(role.Period(r.next.Lifetime()))
	e.retireOld(ctx, s, r)
	if r.check.Entry != nil {
		if err := s.Put(ctx, r.check.Entry); err != nil {
			return fmt.Errorf("storing static role %q: %w", r.name, err)
		}
	}
	return e.StoreStaticToken(ctx, s, r.name, &r.next)
}

// retireOld keeps the role's earlier retired tokens on the new state and
// adds the token being replaced, where it lives and can be revoked: at the
// end of the grace period, or at once where the create disabled it.
func (e *Statics) retireOld(ctx context.Context, s logical.Storage, r *staticMint) {
	old, role := r.old, r.role
	if old == nil {
		return
	}
	r.next.Retired = old.Retired
	_, revocable := r.acct.Client.(provider.Revoker)
	spare := lifecycle.SpareUserGrant(role.Grant(), r.acct.Entry)
	if old.AccessToken == "" || !r.now.Before(old.ExpiresAt) || !e.retiredRevocable(ctx, s, old, role, revocable, spare) {
		return
	}
	revokeAt := r.now.Add(role.Grace(true))
	if r.acct.Eff.DisablesAll() {
		// The create disabled it already: no grace.
		revokeAt = r.now
	}
	r.next.Retired = append(r.next.Retired, graceToken{AccessToken: old.AccessToken, ExpiresAt: old.ExpiresAt,
		RevokeAt: revokeAt, Config: cmp.Or(old.Config, role.Config), Issuer: old.Issuer})
}

// retiredRevocable reports whether a static role's rotated-out token is
// revoked at all: its own config's upstream can, and it is not a user's
// grant on a site that may cascade. revocable and spare answer for the
// role's current config.
func (e *Statics) retiredRevocable(ctx context.Context, s logical.Storage, old *staticToken, role *lifecycle.StaticRole, revocable, spare bool) bool {
	if old.Config == "" || old.Config == role.Config {
		return revocable && !spare
	}
	cfg, err := e.LoadConfig(ctx, s, old.Config)
	if err != nil || cfg == nil {
		return false
	}
	return e.Revocable(old.Config, cfg) && !lifecycle.SpareUserGrant(role.Grant(), cfg)
}

// endGrace revokes the retired tokens whose grace period is over, each at
// the config and issuer that minted it. A failed revoke keeps the token
// for a retry, without holding up rotations; an expired one is forgotten.
func (e *Statics) endGrace(ctx context.Context, s logical.Storage, name string, st *staticToken) {
	now := e.Now()
	changed := false
	kept := st.Retired[:0:0]
	for _, g := range st.Retired {
		switch {
		case now.Before(g.RevokeAt):
			kept = append(kept, g)
			continue
		case !now.Before(g.ExpiresAt):
			_ = e.ForgetToken(ctx, s, g.Config, g.AccessToken)
		default:
			if err := e.RevokeUpstream(ctx, s, g.Config, g.AccessToken, g.Issuer, time.Time{}); err != nil {
				g.Failures++
				g.RevokeAt = now.Add(e.retryWait(g.Failures + 1))
				status, code := lifecycle.UpstreamStatus(err)
				e.Logger.Warn("could not revoke a static role's retired token; retrying", "static_role", name,
					"config", g.Config, "status", status, "code", code, "failures", g.Failures,
					"next_try", g.RevokeAt.UTC().Format(time.RFC3339), "error", err)
				kept = append(kept, g)
			}
		}
		changed = true
	}
	if !changed {
		return
	}
	st.Retired = kept
	if err := e.StoreStaticToken(ctx, s, name, st); err != nil {
		e.Logger.Error("could not store a static role's token state", "static_role", name, "error", err)
	}
}

// retryWait is how long a failed rotation waits before the next try:
// capped exponential backoff.
func (e *Statics) retryWait(failures int) time.Duration {
	w := 5 * time.Second
	for i := 1; i < failures && w < 5*time.Minute; i++ {
		w *= 2
	}
	return min(w, 5*time.Minute)
}

// RotateDue rotates the static roles whose time has come and ends grace
// periods, until ctx ends. It does nothing where storage cannot be written.
func (e *Statics) RotateDue(ctx context.Context, s logical.Storage) {
	if e.EnsureWritable() != nil {
		return
	}
	now := e.Now()
	for ctx.Err() == nil {
		e.rot.mu.Lock()
		item, err := e.rot.queue.Pop()
		if err == nil && item.Priority > now.UnixNano() {
			_ = e.rot.queue.Push(item)
			err = queue.ErrEmpty
		}
		e.rot.mu.Unlock()
		if err != nil {
			return
		}
		e.rotateOneGuarded(ctx, s, item.Key)
	}
}

// rotateOneGuarded is rotateOne, where a panic is logged (Panicked) and
// the role tried again in panicRetry: the other due roles still rotate, and
// the ticker, whose goroutine nothing else would recover, keeps running.
func (e *Statics) rotateOneGuarded(ctx context.Context, s logical.Storage, name string) {
	defer func() {
		if v := recover(); v != nil {
			_ = e.Panicked(fmt.Sprintf("the rotation of static role %q", name), v)
			e.schedule(name, e.Now().Add(panicRetry))
		}
	}()
	e.rotateOne(ctx, s, name)
}

// panicRetry is how long a rotation that panicked waits for its next try:
// short enough to come before a cloud token's last minute ends, long enough
// that a rotation which always panics logs its stack only twice a minute.
const panicRetry = 30 * time.Second

// rotateOne does what is due for one static role and reschedules it.
func (e *Statics) rotateOne(ctx context.Context, s logical.Storage, name string) {
	lock := e.StaticLock(name)
	lock.Lock()
	defer lock.Unlock()
	role, err := e.LoadStaticRole(ctx, s, name)
	if err != nil || role == nil {
		if err != nil {
			e.Logger.Error("reading a static role to rotate", "static_role", name, "error", err)
			e.schedule(name, e.Now().Add(e.retryWait(1)))
		}
		return
	}
	st, err := e.LoadStaticToken(ctx, s, name)
	if err != nil {
		e.Logger.Error("reading a static role's token", "static_role", name, "error", err)
		e.schedule(name, e.Now().Add(e.retryWait(1)))
		return
	}
	now := e.Now()
	if st != nil {
		e.endGrace(ctx, s, name, st)
	}
	if st != nil && st.AccessToken != "" && now.Before(st.NextRotation) {
		e.schedule(name, st.due())
		return
	}
	e.RotateOrRecord(ctx, s, name, role, st)
}

// RotateOrRecord rotates, or records why it could not and when it tries
// again; the still-valid token keeps being served meanwhile.
func (e *Statics) RotateOrRecord(ctx context.Context, s logical.Storage, name string, role *lifecycle.StaticRole, st *staticToken) {
	err := e.RotateStatic(ctx, s, name, role, RotationCheck{})
	if err == nil {
		return
	}
	var waiting *lifecycle.NotAuthorized
	if errors.As(err, &waiting) {
		// Nothing to rotate until a user authorizes (the callback
		// rotates then).
		return
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		// Stopped, not failed (StopRotation, or the caller went away):
		// no error to record or back off from; the role stays due.
		e.schedule(name, e.Now())
		return
	}
	if st == nil {
		st = &staticToken{}
	}
	st.Failures++
	st.LastError, st.LastErrorAt = err.Error(), e.Now().UTC()
	st.NextRotation = e.Now().Add(e.retryWait(st.Failures))
	if !st.ExpiresAt.IsZero() && st.NextRotation.After(st.ExpiresAt) && e.Now().Before(st.ExpiresAt) {
		st.NextRotation = st.ExpiresAt
	}
	status, code := lifecycle.UpstreamStatus(err)
	e.Logger.Warn("static role rotation failed; the current token is served until it expires", "static_role", name,
		"config", role.Config, "status", status, "code", code, "failures", st.Failures,
		"next_try", st.NextRotation.UTC().Format(time.RFC3339), "error", err)
	e.staticFailed(ctx, s, name, role, st.NextRotation)
	if serr := e.StoreStaticToken(ctx, s, name, st); serr != nil {
		e.Logger.Error("could not record a failed rotation", "static_role", name, "error", serr)
		e.schedule(name, st.NextRotation)
	}
}

// StartRotation loads the schedule from storage and runs RotateDue every
// second until StopRotation. Vault calls it when the mount starts on a node
// that can write (InitializeFunc); the periodic function is the backstop.
func (e *Statics) StartRotation(ctx context.Context, s logical.Storage) error {
	if err := e.loadSchedule(ctx, s); err != nil {
		return err
	}
	e.rot.mu.Lock()
	if e.rot.stop != nil {
		e.rot.mu.Unlock()
		return nil
	}
	stop := make(chan struct{})
	// Cancelled by StopRotation: the rotation in flight gives up its
	// upstream call, and RotateDue starts no other, so that Cleanup
	// (unmount, reload, seal, step-down) does not wait for each due role's
	// request_timeout. What was cut short is recorded as a failed rotation
	// (or left to its WAL entry) and runs again on the next active node.
	ctx, cancel := context.WithCancel(context.Background())
	e.rot.stop, e.rot.cancel = stop, cancel
	e.rot.mu.Unlock()
	e.rot.ticker.Add(1)
	go func() {
		defer e.rot.ticker.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				e.tick(ctx, s)
			}
		}
	}()
	return nil
}

// tick is one run of the ticker; a panic is logged and the ticker goes on.
func (e *Statics) tick(ctx context.Context, s logical.Storage) {
	defer func() {
		if v := recover(); v != nil {
			_ = e.Panicked("the static rotation ticker", v)
		}
	}()
	e.RotateDue(ctx, s)
}

// StopRotation stops the ticker (mount unload).
func (e *Statics) StopRotation() {
	e.rot.mu.Lock()
	stop, cancel := e.rot.stop, e.rot.cancel
	e.rot.stop, e.rot.cancel = nil, nil
	e.rot.mu.Unlock()
	if stop != nil {
		cancel()
		close(stop)
		e.rot.ticker.Wait()
	}
}

// loadSchedule queues every static role at its due time.
func (e *Statics) loadSchedule(ctx context.Context, s logical.Storage) error {
	names, err := s.List(ctx, lifecycle.StaticRolePrefix)
	if err != nil {
		return err
	}
	for _, n := range names {
		st, err := e.LoadStaticToken(ctx, s, n)
		if err != nil {
			return err
		}
		at := e.Now()
		if st != nil && st.AccessToken != "" {
			at = st.due()
		}
		e.schedule(n, at)
	}
	return nil
}

// replaceDeadStatic forgets a static role's tokens of its config, dead
// upstream (the config's key was deleted), so static-creds never serves
// them, and rotates it now.
func (e *Statics) ReplaceDeadStatic(ctx context.Context, s logical.Storage, name string) error {
	return e.ReplaceKilledStatic(ctx, s, name, nil)
}

// ReplaceKilledStatic is replaceDeadStatic for the tokens revoke-all
// deleted upstream: killed are the IDs (tokenID) of the tokens the plugin
// held when it ran (nil: every token of the config). A rotation that ran
// after revoke-all, before this, minted a live token that is held and
// served: it is kept, and no other is minted.
func (e *Statics) ReplaceKilledStatic(ctx context.Context, s logical.Storage, name string, killed map[string]bool) error {
	lock := e.StaticLock(name)
	lock.Lock()
	defer lock.Unlock()
	role, err := e.LoadStaticRole(ctx, s, name)
	if err != nil || role == nil {
		return err
	}
	st, err := e.LoadStaticToken(ctx, s, name)
	if err != nil {
		return err
	}
	if st != nil {
		if done, err := e.dropKilled(ctx, s, name, role, st, killed); done || err != nil {
			return err
		}
	}
	e.RotateOrRecord(ctx, s, name, role, st)
	st, err = e.LoadStaticToken(ctx, s, name)
	if err == nil && (st == nil || st.AccessToken == "") {
		err = fmt.Errorf("no new token")
		if st != nil && st.LastError != "" {
			err = fmt.Errorf("%s", st.LastError)
		}
	}
	return err
}

// dropKilled forgets the tokens of a static role that revoke-all deleted
// (killed, by token id; nil for every token of the role's config). done:
// the current token lives, so the role needs no new one.
func (e *Statics) dropKilled(ctx context.Context, s logical.Storage, name string, role *lifecycle.StaticRole, st *staticToken,
	killed map[string]bool) (bool, error) {
	dead := func(config, token string) bool {
		return config == role.Config && (killed == nil || killed[lifecycle.TokenID(token)])
	}
	// Every token of the config's user that the plugin held is gone;
	// retired ones of another config (the role moved), or minted since,
	// are not.
	kept := st.Retired[:0:0]
	for _, g := range st.Retired {
		if !dead(g.Config, g.AccessToken) {
			kept = append(kept, g)
		}
	}
	if killed != nil && st.AccessToken != "" && !dead(cmp.Or(st.Config, role.Config), st.AccessToken) {
		// The current token was minted since: live, held, served.
		if len(kept) == len(st.Retired) {
			return true, nil
		}
		st.Retired = kept
		return true, e.StoreStaticToken(ctx, s, name, st)
	}
	st.AccessToken, st.Retired, st.NextRotation = "", kept, e.Now()
	return false, e.StoreStaticToken(ctx, s, name, st)
}

// RetireStatic revokes a static role's tokens upstream, where they are
// revoked at all, each at the config and issuer that minted it, and
// forgets them: the role is deleted, or waits for a user's authorization.
// A failed revoke keeps everything for a retry.
func (e *Statics) RetireStatic(ctx context.Context, s logical.Storage, name string, role *lifecycle.StaticRole) error {
	st, err := e.LoadStaticToken(ctx, s, name)
	if err != nil || st == nil {
		return err
	}
	for _, g := range st.Retired {
		if e.Now().Before(g.ExpiresAt) {
			if err := e.RevokeUpstream(ctx, s, g.Config, g.AccessToken, g.Issuer, time.Time{}); err != nil {
				return err
			}
		}
	}
	config := cmp.Or(st.Config, role.Config)
	if st.AccessToken != "" && e.Now().Before(st.ExpiresAt) {
		cfg, err := e.LoadConfig(ctx, s, config)
		if err != nil {
			return err
		}
		if cfg != nil && !lifecycle.SpareUserGrant(role.Grant(), cfg) {
			if err := e.RevokeUpstream(ctx, s, config, st.AccessToken, st.Issuer, time.Time{}); err != nil {
				return err
			}
		}
	}
	if err := s.Delete(ctx, lifecycle.StaticTokenPrefix+name); err != nil {
		return fmt.Errorf("deleting the token of static role %q: %w", name, err)
	}
	e.StaticChanged(name)
	return nil
}

// RotateAuthorized mints a static role's first token once a user has
// authorized it (callback), outside the callback's locks.
func (e *Statics) RotateAuthorized(ctx context.Context, s logical.Storage, name string) {
	lock := e.StaticLock(name)
	lock.Lock()
	defer lock.Unlock()
	role, err := e.LoadStaticRole(ctx, s, name)
	if err != nil || role == nil {
		return
	}
	st, _ := e.LoadStaticToken(ctx, s, name)
	e.RotateOrRecord(ctx, s, name, role, st)
}

// staticRotated counts a static role's rotation (its first token too).
func (e *Statics) staticRotated(providerName, name string, role *lifecycle.StaticRole, st *staticToken) {
	e.Metrics.StaticRole(providerName, role.Config, name, role.Period(st.Lifetime()), st.LastRotated, st.NextRotation)
	e.Metrics.Rotated(providerName, role.Config, name, st.LastRotated, st.NextRotation)
}

// staticFailed counts a static role's failed rotation, retried at next.
func (e *Statics) staticFailed(ctx context.Context, s logical.Storage, name string, role *lifecycle.StaticRole, next time.Time) {
	e.Metrics.RotationFailed(e.ProviderOf(ctx, s, role.Config), role.Config, name, next)
}

// checkRotationPeriod: at least 10s and at most 80% of the token's
// lifetime, so that a reader never gets an expired token.
func CheckRotationPeriod(role *lifecycle.StaticRole, st *staticToken) error {
	if st == nil || role.RotationPeriod == 0 {
		return nil
	}
	if limit := (st.Lifetime() * 8 / 10).Truncate(time.Second); role.RotationPeriod > limit {
		return lifecycle.BadField("rotation_period", "%s is more than 80%% of the upstream token's lifetime %s; use at most %s",
			role.RotationPeriod, st.Lifetime().Truncate(time.Second), limit)
	}
	return nil
}

// checkGracePeriod: where the upstream caps the tokens held (cdp), a
// token in its grace period must be revoked before the next rotation, or
// rotations pile up tokens until max_tokens refuses them all. So the grace
// period, its default included, is shorter than the rotation period, its
// default (80% of the token's lifetime) included.
func CheckGracePeriod(role *lifecycle.StaticRole, st *staticToken, limited bool) error {
	if !limited || st == nil || st.AccessToken == "" {
		return nil
	}
	period := role.Period(st.Lifetime())
	if g := role.Grace(true); g >= period {
		return lifecycle.BadField("grace_period", "%s must be shorter than the rotation period %s (rotation_period, or 80%% of the "+
			"upstream token's lifetime): a token still in its grace period at the next rotation takes a max_tokens slot, "+
			"and rotations would stop", g, period)
	}
	return nil
}

// holdsToken reports whether static role static holds token still (the
// rollback's question about a token a rotation minted for it). A rotation that stored its token before it stopped
// rolls forward: the token is the role's, and stays until the role
// revokes it. A later rotation that retired it revokes it at its grace
// period's end (endGrace), not this.
func (e *Statics) holdsToken(ctx context.Context, s logical.Storage, static, token string) (bool, error) {
	st, err := e.LoadStaticToken(ctx, s, static)
	if err != nil {
		return false, err
	}
	if st != nil && st.AccessToken == token {
		return true, nil
	}
	for _, g := range st.retired() {
		if g.AccessToken == token {
			return true, nil
		}
	}
	return false, nil
}

// invalidateStatic forgets the cached token and schedule of a static role
// whose entry another node changed.
func (e *Statics) invalidateStatic(key string) {
	for _, prefix := range []string{lifecycle.StaticTokenPrefix, lifecycle.StaticRolePrefix} {
		if name, ok := strings.CutPrefix(key, prefix); ok {
			e.staticForget(name)
		}
	}
}
