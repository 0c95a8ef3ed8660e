package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// MintRequest is one token for one lease, or for a static role.
type MintRequest struct {
	ConfigName string // the config's name
	RoleName   string
	// static names the static role the token is for; "" for a lease.
	Static string
	Entry  *ConfigEntry
	Client provider.Client
	Obtain func(context.Context) (*provider.Token, error)
	// commit, when set, stores what refers to the token (a static role's
	// current token) while the WAL entry still covers it; if it fails the
	// token is deleted.
	Commit func(context.Context, *provider.Token) error
	// unrevocable: the token is never revoked upstream, even where the
	// client could (SpareUserGrant), so nothing tracks it.
	Unrevocable bool
	// replaces is the token a static rotation replaces: where each create
	// disables every earlier token (token_limit_mode=disable_all) it dies
	// with the create, so it takes no slot of max_tokens.
	Replaces string
}

// Mint creates an upstream token for a lease or static role. A revocable token is covered
// by a WAL entry from before the upstream call until it is tracked, so a
// crash in between ends with the token deleted, not leaked. For capped
// upstreams a slot is reserved first (token_limit.go). The caller holds the
// config's issuer lock for reading.
func (e *Mount) Mint(ctx context.Context, s logical.Storage, m MintRequest) (*provider.Token, error) {
	m.Obtain = countMinted(m.Client, m.Obtain)
	spec, _ := provider.Lookup(m.Entry.Provider)
	eff, err := provider.Effective(m.Entry.Config)
	if err != nil {
		return nil, err
	}
	if spec.TokenLimit {
		unlock, err := e.reserveTokenSlot(ctx, s, m, eff)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	if _, revocable := m.Client.(provider.Revoker); !revocable || m.Unrevocable {
		tok, err := m.Obtain(ctx)
		if err == nil && m.Commit != nil {
			err = m.Commit(ctx, tok)
		}
		return tok, err
	}
	return e.mintCovered(ctx, s, m, spec.TokenLimit, eff)
}

// mintCovered mints a revocable token under a WAL entry written before the
// upstream call. limited: the upstream caps the tokens a user holds.
func (e *Mount) mintCovered(ctx context.Context, s logical.Storage, m MintRequest, limited bool,
	eff provider.Config) (*provider.Token, error) {
	w := &walToken{Config: m.ConfigName, Role: m.RoleName, Static: m.Static, Issuer: IssuerOf(eff)}
	if limited {
		// What the account holds before the create finds the token of a
		// create whose answer is lost (lost_tokens.go).
		e.noteBeforeCreate(ctx, m.Client, w)
		if err := e.refuseDisablingOthers(ctx, s, m, eff, w); err != nil {
			return nil, err
		}
	}
	walID, err := framework.PutWAL(ctx, s, walKindToken, w)
	if err != nil {
		return nil, fmt.Errorf("writing WAL: %w", err)
	}
	tok, err := m.Obtain(ctx)
	if err != nil {
		e.obtainFailed(ctx, s, m, limited, w, walID, err)
		return nil, err
	}
	if countsLost(m) || limited {
		e.noteLifetime(ctx, s, m.ConfigName, tok.ExpiresAt.Sub(e.Now()))
	}
	w.Token, w.ExpiresAt = tok.AccessToken, tok.ExpiresAt
	if err := e.keepMinted(ctx, s, m, w, walID, tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// obtainFailed clears the WAL entry of a create that failed. The answer
// was read (or never came): no token to roll back that anything could
// identify. One that never came may have minted a token all the same: it
// is counted (lost_tokens.go), here, or by the rollback of a WAL entry
// that stays. Counting tries three times over a storage that fails for a
// moment; if none succeeds, the entry is written again for its rollback.
func (e *Mount) obtainFailed(ctx context.Context, s logical.Storage, m MintRequest, limited bool, w *walToken, walID string,
	err error) {
	werr := framework.DeleteWAL(ctx, s, walID)
	if werr != nil || !provider.AnswerLost(err) || !limited && !countsLost(m) {
		return
	}
	count := func() error { return e.countLost(ctx, s, m.ConfigName, m.RoleName, m.Static, m.Client) }
	if limited {
		count = func() error { return e.settleLostCreate(ctx, s, m.Client, w, e.Now()) }
	}
	cerr := tryAgain(ctx, []time.Duration{50 * time.Millisecond, 250 * time.Millisecond}, nil, count)
	if cerr == nil {
		return
	}
	if _, perr := framework.PutWAL(ctx, s, walKindToken, w); perr != nil {
		e.Logger.Error("could not count a lost token, nor keep a WAL entry for its rollback: it is not counted",
			"config", m.ConfigName, "error", cerr, "wal_error", perr)
		return
	}
	e.Logger.Error("could not count a lost token; a WAL entry stays, and its rollback counts it", "config", m.ConfigName,
		"error", cerr)
}

// keepMinted records a minted token in its WAL entry, tracks it, lets the
// caller commit it, and clears the entry; a failure on the way deletes
// the token upstream (discard).
func (e *Mount) keepMinted(ctx context.Context, s logical.Storage, m MintRequest, w *walToken, walID string,
	tok *provider.Token) error {
	if err := RewriteWAL(ctx, s, walID, walKindToken, w); err != nil {
		return e.discard(ctx, s, w, walID, fmt.Errorf("writing WAL: %w", err))
	}
	if err := e.trackToken(ctx, s, m.ConfigName, tok.AccessToken,
		heldToken{Role: m.RoleName, Static: m.Static, Issuer: w.Issuer, CreatedAt: e.Now().UTC(), ExpiresAt: tok.ExpiresAt}); err != nil {
		return e.discard(ctx, s, w, walID, err)
	}
	if m.Commit != nil {
		if err := m.Commit(ctx, tok); err != nil {
			return e.discard(ctx, s, w, walID, err)
		}
	}
	if err := framework.DeleteWAL(ctx, s, walID); err != nil && m.Static != "" {
		// The static role already holds and serves the token: the entry
		// left behind rolls forward, it does not revoke it.
		e.Logger.Warn("could not clear a WAL entry; its rollback will keep the token", "static_role", m.Static, "error", err)
	} else if err != nil {
		// A WAL left behind would revoke a leased token later.
		return e.discard(ctx, s, w, walID, fmt.Errorf("clearing WAL: %w", err))
	}
	return nil
}

// discard deletes a token that will not become a lease. If that fails too,
// the WAL entry makes the rollback try again, provided it holds the token
// (it does unless rewriting it was what failed: then the token expires by
// itself, and the log says so).
func (e *Mount) discard(ctx context.Context, s logical.Storage, w *walToken, walID string, cause error) error {
	if err := e.RevokeUpstream(ctx, s, w.Config, w.Token, w.Issuer, time.Time{}); err != nil {
		e.Logger.Error("could not delete an unleased upstream token; the WAL rollback retries where the WAL entry "+
			"holds it, otherwise it expires by itself", "config", w.Config, "expires_at", w.ExpiresAt, "error", err)
		return cause
	}
	if walID != "" {
		_ = framework.DeleteWAL(ctx, s, walID)
	}
	return cause
}

// refuseDisablingOthers: on a tenant where each create disables every
// earlier token (token_limit_mode=disable_all), a create is refused while
// the retrieve call shows a live token the plugin does not hold: the one
// CDP made with the user, or another consumer's.
func (e *Mount) refuseDisablingOthers(ctx context.Context, s logical.Storage, m MintRequest, eff provider.Config, w *walToken) error {
	if !eff.DisablesAll() || !w.BeforeKnown || w.Before == "" || w.Before == m.Replaces {
		return nil
	}
	held, err := e.holds(ctx, s, m.ConfigName, w.Before)
	if err != nil || held {
		return err
	}
	return UserErr("config %q has token_limit_mode=disable_all, and CDP shows user %s holds a live token Vault does not "+
		"hold (the one CDP made with the user, or another consumer's): a create would disable it. Delete it with "+
		"config/%s/revoke-all if nothing else uses it, or give Vault its own integration user", m.ConfigName, eff.Username, m.ConfigName)
}
