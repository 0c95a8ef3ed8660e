package paths

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// Every revocable upstream token a lease holds is tracked under tokenPrefix.
// The records count toward a capped upstream's max_tokens (cdp,
// token_limit.go), and they keep a config's issuer from changing while
// tokens it issued live (issuer.go). A record whose token expired counts
// for nothing and is dropped: a lease that ended without the backend's
// revoke (vault lease revoke -force, a lease Vault failed to store) frees
// its slot at the token's expiry.

type heldToken struct {
	Role string `json:"role,omitempty"`
	// Static names the static role holding the token; "" for a lease.
	Static    string    `json:"static,omitempty"`
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
