package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// A token request whose answer is lost (a timeout that fires before the
// answer arrives, a connection that breaks, a success that cannot be read)
// may have minted a token that nothing names: the plugin cannot revoke it,
// and on upstreams that cannot list a user's tokens (acronis, oauth2,
// source) it cannot find it either. So it counts it, as lost, for one
// token lifetime, after which the token is dead whatever it was: the
// longest lifetime any token of the config has had (stored when it grows),
// and at least the lifetime the provider documents or assumes. Config
// reads show the count (lost_tokens). cdp, whose tokens take max_tokens
// slots, is not counted here.

// lostToken is the record of one request whose answer was lost.
type lostToken struct {
	Role   string `json:"role,omitempty"`
	Static string `json:"static,omitempty"`
	// LostAt is when the request failed; ExpiresAt is LostAt plus the
	// bound, when the token, if there is one, is dead.
	LostAt    time.Time `json:"lost_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func lostKey(config, id string) string { return lostTokenPrefix + config + "/" + id }

// countsLost reports whether a config's lost tokens are counted: tokens it
// would revoke and cannot list.
func countsLost(m MintRequest) bool {
	spec, _ := provider.Lookup(m.Entry.Provider)
	_, revocable := m.Client.(provider.Revoker)
	return revocable && !m.Unrevocable && !spec.TokenLimit
}

// unknownLifetimeBound bounds a lost token of a config that has not yet
// been answered a token with an expiry: the lifetime a client assumes for
// an answer without one errs short (a lease must not outlive its token),
// the wrong way for a bound on a token nothing can revoke.
const unknownLifetimeBound = 24 * time.Hour

// lostBound is how long a token of config may live: the longest lifetime
// its tokens have had, and at least what its client assumes; a day while
// no lifetime is known.
func (e *Mount) lostBound(ctx context.Context, s logical.Storage, config string, client provider.Client) time.Duration {
	bound := time.Duration(0)
	if c, ok := client.(interface{ AssumedLifetime() time.Duration }); ok {
		bound = c.AssumedLifetime()
	}
	l, err := e.longestLifetime(ctx, s, config)
	if err != nil || l == 0 {
		return max(bound, unknownLifetimeBound)
	}
	return max(bound, l)
}

// tokenLifetime is the stored form of lifetimePrefix+config.
type tokenLifetime struct {
	Longest time.Duration `json:"longest"`
}

// longestLifetime is the longest lifetime a token of config has had, as
// stored; the answer is kept in memory.
func (e *Mount) longestLifetime(ctx context.Context, s logical.Storage, config string) (time.Duration, error) {
	e.lifetimeMu.Lock()
	l, ok := e.lifetimes[config]
	e.lifetimeMu.Unlock()
	if ok {
		return l, nil
	}
	rec, err := GetJSON[tokenLifetime](ctx, s, lifetimePrefix+config, "token lifetime")
	if err != nil {
		return 0, err
	}
	if rec != nil {
		l = rec.Longest
	}
	e.lifetimeMu.Lock()
	e.lifetimes[config] = max(e.lifetimes[config], l)
	l = e.lifetimes[config]
	e.lifetimeMu.Unlock()
	return l, nil
}

// noteLifetime stores lifetime as config's longest where it is longer than
// any before: a write only when it grows, which is rare.
func (e *Mount) noteLifetime(ctx context.Context, s logical.Storage, config string, lifetime time.Duration) {
	lifetime = lifetime.Round(time.Second)
	known, err := e.longestLifetime(ctx, s, config)
	if err != nil || lifetime <= known {
		return
	}
	if err := PutJSON(ctx, s, lifetimePrefix+config, "token lifetime", tokenLifetime{Longest: lifetime}); err != nil {
		e.Logger.Warn("could not store the longest token lifetime of a config", "config", config, "error", err)
		return
	}
	e.lifetimeMu.Lock()
	e.lifetimes[config] = max(e.lifetimes[config], lifetime)
	e.lifetimeMu.Unlock()
}

// countLost records a token request whose answer was lost.
func (e *Mount) countLost(ctx context.Context, s logical.Storage, config, role, static string, client provider.Client) error {
	now := e.Now().UTC()
	rec := lostToken{Role: role, Static: static, LostAt: now, ExpiresAt: now.Add(e.lostBound(ctx, s, config, client))}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	if err := PutJSON(ctx, s, lostKey(config, hex.EncodeToString(b)), "lost token record", rec); err != nil {
		return fmt.Errorf("counting a token request of config %q whose answer was lost: %w", config, err)
	}
	e.Logger.Warn("a token request's answer was lost: if the upstream minted a token, nothing names it, and it lives "+
		"until its expiry at the latest; counted in the config's lost_tokens until then", "config", config,
		"role", role, "static_role", static, "until", rec.ExpiresAt)
	return nil
}

// LostCount counts config's lost tokens that may still live, and forgets
// the others.
func (e *Mount) LostCount(ctx context.Context, s logical.Storage, config string) (int, error) {
	ids, err := s.List(ctx, lostTokenPrefix+config+"/")
	if err != nil {
		return 0, fmt.Errorf("listing the lost tokens of config %q: %w", config, err)
	}
	// A lifetime learnt since a loss may be longer than the bound its
	// record was given.
	longest, _ := e.longestLifetime(ctx, s, config)
	n := 0
	for _, id := range ids {
		rec, err := GetJSON[lostToken](ctx, s, lostKey(config, id), "lost token record")
		if err != nil || rec == nil {
			continue
		}
		until := rec.ExpiresAt
		if rec.LostAt.Add(longest).After(until) {
			until = rec.LostAt.Add(longest)
		}
		if e.Now().Before(until) {
			n++
		} else if e.Writable == nil || e.Writable() {
			_ = s.Delete(ctx, lostKey(config, id))
		}
	}
	return n, nil
}

// countLostByWAL counts the token a create covered by w may have minted:
// its request stopped before the answer was read (lost_tokens.go).
func (e *Mount) countLostByWAL(ctx context.Context, s logical.Storage, w *walToken) error {
	cfg, err := e.LoadConfig(ctx, s, w.Config)
	if err != nil || cfg == nil {
		return err
	}
	client, err := e.Client(w.Config, cfg)
	if err != nil {
		return err
	}
	// A WAL entry covers only a token the plugin would revoke.
	if !countsLost(MintRequest{Entry: cfg, Client: client}) {
		return nil
	}
	return e.countLost(ctx, s, w.Config, w.Role, w.Static, client)
}

// CountLostByVerify counts the token a config write's verify may have
// minted when its answer was lost: verify revokes the token it fetches
// where the provider can, and cannot revoke one it never saw. The config
// is not stored (the write failed), but the record is the plugin's own
// account of what happened upstream, and the config's lost_tokens shows it
// once the config is written.
func (e *Mount) CountLostByVerify(ctx context.Context, s logical.Storage, name string, cfg *ConfigEntry, client provider.Client, err error) {
	if !provider.AnswerLost(err) {
		return
	}
	spec, _ := provider.Lookup(cfg.Provider)
	if _, revocable := client.(provider.Revoker); !revocable || spec == nil || spec.TokenLimit {
		return
	}
	if cerr := e.countLost(ctx, s, name, "", "", client); cerr != nil {
		e.Logger.Error("could not count a lost token", "config", name, "error", cerr)
	}
}

// A capped upstream (cdp) can be asked for the account's token: its
// retrieve call answers one of the live tokens, which one undocumented.
// So the plugin asks before a create and again after a create whose answer
// was lost, in the read or in its WAL rollback, and acts only on a token
// it can prove the lost create made: not the one answered before, held by
// no lease or static role, and issued within the lost call's window. That
// token it deletes. Anything else takes a slot of max_tokens until the
// token the create may have made is dead (held records marked Lost), and
// is never deleted: it may be another consumer's. revoke-all clears them.

// lostCreateSlack absorbs whole-second expires_in and clock skew in the
// window check.
const lostCreateSlack = 5 * time.Second

// cdpLifetimes are the lifetimes CDP documents (Customer Sandbox, UAT and
// PROD), beside the longest the config has seen.
var cdpLifetimes = []time.Duration{90 * 24 * time.Hour, 180 * 24 * time.Hour}

// noteBeforeCreate records, in w, when a create is sent and the token the
// account's retrieve call answers just before it.
func (e *Mount) noteBeforeCreate(ctx context.Context, client provider.Client, w *walToken) {
	w.Sent = e.Now().UTC()
	r, ok := client.(provider.Retriever)
	if !ok {
		return
	}
	before, err := r.Retrieve(ctx)
	if err != nil {
		e.Logger.Debug("the retrieve call before a create failed; a token the create makes without an answer cannot be found",
			"config", w.Config, "error", err)
		return
	}
	w.BeforeKnown = true
	if before != nil {
		w.Before = before.AccessToken
	}
}

// settleLostCreate deletes the token a create whose answer was lost made,
// where it can prove which token that is, and otherwise counts it against
// max_tokens until it is dead. until ends the window in which the create
// could have made its token.
func (e *Mount) settleLostCreate(ctx context.Context, s logical.Storage, client provider.Client, w *walToken, until time.Time) error {
	if tok := e.findLostCreate(ctx, s, client, w, until); tok != "" {
		err := client.(provider.Revoker).Revoke(ctx, tok)
		countRevoke(client, err)
		if err == nil {
			e.Logger.Info("found and deleted the token of a create whose answer was lost", "config", w.Config, "role", w.Role)
			return nil
		}
		e.Logger.Warn("could not delete the token of a create whose answer was lost; it is counted against max_tokens",
			"config", w.Config, "error", err)
	}
	bound := 180 * 24 * time.Hour
	if l, err := e.longestLifetime(ctx, s, w.Config); err == nil && l > 0 {
		bound = l
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	now := e.Now().UTC()
	h := heldToken{Role: w.Role, Static: w.Static, Issuer: w.Issuer, CreatedAt: now, ExpiresAt: now.Add(bound), Lost: true}
	if err := e.trackID(ctx, s, w.Config, "lost-"+hex.EncodeToString(b), h); err != nil {
		return err
	}
	e.Logger.Warn("a token create's answer was lost and its token could not be found: it takes one of max_tokens until "+
		"it is dead; config/<name>/revoke-all deletes every token of the user and frees it", "config", w.Config,
		"role", w.Role, "static_role", w.Static, "until", h.ExpiresAt)
	return nil
}

// findLostCreate is the token the retrieve call answers now, if the lost
// create provably made it; "" otherwise.
func (e *Mount) findLostCreate(ctx context.Context, s logical.Storage, client provider.Client, w *walToken, until time.Time) string {
	r, ok := client.(provider.Retriever)
	if _, revocable := client.(provider.Revoker); !ok || !revocable || !w.BeforeKnown || w.Sent.IsZero() {
		return ""
	}
	after, err := r.Retrieve(ctx)
	if err != nil || after == nil || after.AccessToken == w.Before {
		return ""
	}
	held, err := e.LiveHeld(ctx, s, w.Config, false)
	if err != nil {
		return ""
	}
	if _, ok := held[TokenID(after.AccessToken)]; ok {
		return ""
	}
	lifetimes := cdpLifetimes
	if l, err := e.longestLifetime(ctx, s, w.Config); err == nil && l > 0 {
		lifetimes = append([]time.Duration{l}, lifetimes...)
	}
	for _, l := range lifetimes {
		issued := after.ExpiresAt.Add(-l)
		if !issued.Before(w.Sent.Add(-lostCreateSlack)) && !issued.After(until.Add(lostCreateSlack)) {
			return after.AccessToken
		}
	}
	return ""
}

// settleLostCreateByWAL settles, for a capped upstream, the create a WAL
// entry without a token covers; done is false for other providers.
func (e *Mount) settleLostCreateByWAL(ctx context.Context, s logical.Storage, w *walToken) (bool, error) {
	cfg, err := e.LoadConfig(ctx, s, w.Config)
	if err != nil || cfg == nil {
		return cfg == nil && err == nil, err
	}
	spec, _ := provider.Lookup(cfg.Provider)
	if spec == nil || !spec.TokenLimit {
		return false, nil
	}
	acct, err := e.Account(ctx, s, w.Config)
	if err != nil || acct == nil {
		return true, err
	}
	// The create was bounded by request_timeout; a server may finish one
	// its client gave up on a little later.
	until := w.Sent.Add(2 * acct.Eff.RequestTimeout)
	lock := e.TokenLock(w.Config)
	lock.Lock()
	defer lock.Unlock()
	return true, e.settleLostCreate(ctx, s, acct.Client, w, until)
}

// LostHeld counts a capped config's live records of lost creates.
func (e *Mount) LostHeld(ctx context.Context, s logical.Storage, config string) (int, error) {
	n := 0
	err := e.visitLive(ctx, s, config, false, func(_ string, h heldToken) {
		if h.Lost {
			n++
		}
	})
	return n, err
}

// forgetLifetime drops the cached longest lifetime of config, or of every
// config for "": it is read from storage again.
func (e *Mount) forgetLifetime(config string) {
	e.lifetimeMu.Lock()
	defer e.lifetimeMu.Unlock()
	if config == "" {
		e.lifetimes = map[string]time.Duration{}
		return
	}
	delete(e.lifetimes, config)
}
