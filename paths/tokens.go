package paths

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// Every revocable upstream token a lease holds is tracked under
// tokens/<config>/<sha256 of token>; the key is a hash, the token itself
// lives only in the lease. The records count toward a capped upstream's
// max_tokens (cdp), and they keep a config's issuer from changing while
// tokens it issued live. A record whose token expired counts for nothing
// and is dropped: a lease that ended without the backend's revoke
// (vault lease revoke -force, a lease Vault failed to store) frees its slot
// at the token's expiry.
const tokenPrefix = "tokens/"

type heldToken struct {
	Role      string    `json:"role"`
	Issuer    string    `json:"issuer,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func tokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func heldKey(config, id string) string { return tokenPrefix + config + "/" + id }

// liveHeld returns the records of config whose token has not expired, keyed
// by id. Expired records are deleted when prune is set (the caller can
// write).
func (e *Env) liveHeld(ctx context.Context, s logical.Storage, config string, prune bool) (map[string]heldToken, error) {
	ids, err := s.List(ctx, tokenPrefix+config+"/")
	if err != nil {
		return nil, fmt.Errorf("listing tokens of config %q: %w", config, err)
	}
	now := e.Now()
	live := make(map[string]heldToken, len(ids))
	for _, id := range ids {
		h, err := getJSON[heldToken](ctx, s, heldKey(config, id), "token record")
		if err != nil {
			return nil, err
		}
		if h == nil {
			continue
		}
		if h.ExpiresAt.IsZero() || now.Before(h.ExpiresAt) {
			live[id] = *h
			continue
		}
		if prune {
			if err := s.Delete(ctx, heldKey(config, id)); err != nil {
				return nil, fmt.Errorf("dropping an expired token record of config %q: %w", config, err)
			}
		}
	}
	return live, nil
}

// heldByOthers counts the live tokens of config that an issuer other than
// issuer minted. A record from before issuers were recorded counts too.
func (e *Env) heldByOthers(ctx context.Context, s logical.Storage, config, issuer string) (int, error) {
	live, err := e.liveHeld(ctx, s, config, true)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, h := range live {
		if h.Issuer != issuer {
			n++
		}
	}
	return n, nil
}

func (e *Env) trackToken(ctx context.Context, s logical.Storage, config, token string, h heldToken) error {
	entry, err := logical.StorageEntryJSON(heldKey(config, tokenID(token)), h)
	if err == nil {
		err = s.Put(ctx, entry)
	}
	if err != nil {
		return fmt.Errorf("tracking a token of config %q: %w", config, err)
	}
	return nil
}

// forgetToken drops a token's record.
func (e *Env) forgetToken(ctx context.Context, s logical.Storage, config, token string) error {
	if err := s.Delete(ctx, heldKey(config, tokenID(token))); err != nil {
		return fmt.Errorf("forgetting token of config %q: %w", config, err)
	}
	return nil
}

// revokeUpstream deletes a token at the issuer that minted it and forgets
// it. It fails, and Vault retries, when that issuer is no longer reachable
// through the config: a revoke sent elsewhere would be reported done while
// the token lives. issuer is empty for leases from before issuers were
// recorded: those go to the config unless its issuer changed since issued.
func (e *Env) revokeUpstream(ctx context.Context, s logical.Storage, config, token, issuer string, issued time.Time) error {
	cfg, err := e.loadConfig(ctx, s, config)
	if err != nil {
		return err
	}
	if cfg == nil {
		return fmt.Errorf("config %q, whose account issued this token, was deleted: the token cannot be revoked and lives "+
			"upstream until it expires; Vault retries this revoke, which succeeds at the token's expiry", config)
	}
	eff, err := provider.Effective(cfg.Config)
	if err != nil {
		return err
	}
	if !sameIssuer(cfg, eff, issuer, issued) {
		return fmt.Errorf("config %q no longer points at the issuer of this token (its URLs or account changed): the token "+
			"cannot be revoked there and lives upstream until it expires; Vault retries this revoke", config)
	}
	client, err := e.client(config, cfg)
	if err != nil {
		return err
	}
	if rv, ok := client.(provider.Revoker); ok {
		if err := rv.Revoke(ctx, token); err != nil {
			return fmt.Errorf("revoking upstream token of config %q: %w", config, err)
		}
	}
	return e.forgetToken(ctx, s, config, token)
}

// mintRequest is one token for one lease.
type mintRequest struct {
	roleName string
	role     *roleEntry
	cfg      *configEntry
	client   provider.Client
	obtain   func(context.Context) (*provider.Token, error)
}

// mint creates an upstream token for a lease. A revocable token is covered
// by a WAL entry from before the upstream call until it is tracked, so a
// crash in between ends with the token deleted, not leaked. For capped
// upstreams the live tokens are counted first, under the config's token
// lock. The caller holds the config's issuer lock for reading.
func (e *Env) mint(ctx context.Context, s logical.Storage, m mintRequest) (*provider.Token, error) {
	spec, _ := provider.Lookup(m.cfg.Provider)
	eff, err := provider.Effective(m.cfg.Config)
	if err != nil {
		return nil, err
	}
	if spec.TokenLimit {
		lock := locksFor(e.tokenLocks, m.role.Config)
		lock.Lock()
		defer lock.Unlock()
		live, err := e.liveHeld(ctx, s, m.role.Config, true)
		if err != nil {
			return nil, err
		}
		if len(live) >= eff.MaxTokens {
			return nil, userErr("config %q already holds %d live %s tokens, its max_tokens; revoke a lease "+
				"(vault lease revoke -prefix <mount>/creds/%s) or raise max_tokens if the tenant allows more",
				m.role.Config, len(live), m.cfg.Provider, m.roleName)
		}
	}
	if _, revocable := m.client.(provider.Revoker); !revocable {
		return m.obtain(ctx)
	}

	w := &walToken{Config: m.role.Config, Role: m.roleName, Issuer: issuerOf(eff)}
	walID, err := framework.PutWAL(ctx, s, walKindToken, w)
	if err != nil {
		return nil, fmt.Errorf("writing WAL: %w", err)
	}
	tok, err := m.obtain(ctx)
	if err != nil {
		// The answer was read (or never came): no token to roll back
		// that anything could identify.
		_ = framework.DeleteWAL(ctx, s, walID)
		return nil, err
	}
	w.Token, w.ExpiresAt = tok.AccessToken, tok.ExpiresAt
	if err := rewriteWAL(ctx, s, walID, w); err != nil {
		return nil, e.discard(ctx, s, w, walID, fmt.Errorf("writing WAL: %w", err))
	}
	if err := e.trackToken(ctx, s, m.role.Config, tok.AccessToken,
		heldToken{Role: m.roleName, Issuer: w.Issuer, CreatedAt: e.Now().UTC(), ExpiresAt: tok.ExpiresAt}); err != nil {
		return nil, e.discard(ctx, s, w, walID, err)
	}
	if err := framework.DeleteWAL(ctx, s, walID); err != nil {
		// A WAL left behind would revoke a leased token later.
		return nil, e.discard(ctx, s, w, walID, fmt.Errorf("clearing WAL: %w", err))
	}
	return tok, nil
}

// discard deletes a token that will not become a lease. If that fails too,
// the WAL entry makes the rollback try again, provided it holds the token
// (it does unless rewriting it was what failed: then the token expires by
// itself, and the log says so).
func (e *Env) discard(ctx context.Context, s logical.Storage, w *walToken, walID string, cause error) error {
	if err := e.revokeUpstream(ctx, s, w.Config, w.Token, w.Issuer, time.Time{}); err != nil {
		e.Logger.Error("could not delete an unleased upstream token; the WAL rollback retries where the WAL entry "+
			"holds it, otherwise it expires by itself", "config", w.Config, "expires_at", w.ExpiresAt, "error", err)
		return cause
	}
	if walID != "" {
		_ = framework.DeleteWAL(ctx, s, walID)
	}
	return cause
}
