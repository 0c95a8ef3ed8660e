package lifecycle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
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
	// Lost: a create whose answer was lost may have made a token that
	// takes a slot of a capped upstream until it expires (lost_tokens.go);
	// the record is keyed by a random id, as no token names it.
	Lost bool `json:"lost,omitempty"`
}

func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func heldKey(config, id string) string { return tokenPrefix + config + "/" + id }

// heldIndex keeps each config's records in memory once read, so that
// counting them (every cdp mint does) costs no storage call however many
// there are. It changes with every record this node writes or deletes, and
// a config's index is dropped when Invalidate reports a record written
// elsewhere; a load that raced a change does not fill it (as in cache.go).
//
// first is, per loaded config, no later than the earliest expiry among its
// records (zero when none expires): until then every record is live, and
// counting them is len (liveCount). Inserts lower it; deletes leave it
// early; a visit that finds no expired record sets it. So each expiry
// costs two visits: one that prunes, one that sets the bound again.
type heldIndex struct {
	mu       sync.Mutex
	byConfig map[string]map[string]heldToken
	first    map[string]time.Time
	gen      map[string]uint64
}

func newHeldIndex() *heldIndex {
	return &heldIndex{byConfig: map[string]map[string]heldToken{}, first: map[string]time.Time{}, gen: map[string]uint64{}}
}

// earlier is the earlier of two expiries, zero meaning never.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// loadRecords reads config's records into the index, once.
func (e *Mount) loadRecords(ctx context.Context, s logical.Storage, config string) error {
	x := e.held
	x.mu.Lock()
	_, ok := x.byConfig[config]
	g := x.gen[config]
	x.mu.Unlock()
	if ok {
		return nil
	}
	// Records whose tokens were revoked may still wait for their delete
	// (forget_after.go): none of those is read back. One queued after
	// this bumps the generation first, so this load does not fill.
	waiting := e.waitingFor(config)
	ids, err := s.List(ctx, tokenPrefix+config+"/")
	if err != nil {
		return fmt.Errorf("listing tokens of config %q: %w", config, err)
	}
	idx := make(map[string]heldToken, len(ids))
	var first time.Time
	for _, id := range ids {
		if waiting[id] {
			continue
		}
		h, err := GetJSON[heldToken](ctx, s, heldKey(config, id), "token record")
		if Unreadable(err) {
			e.Logger.Warn("skipping a token record that cannot be read (an interrupted storage write leaves one)",
				"config", config, "error", err)
			continue
		}
		if err != nil {
			return err
		}
		if h != nil {
			idx[id] = *h
			first = earlier(first, h.ExpiresAt)
		}
	}
	x.mu.Lock()
	if x.gen[config] == g {
		x.byConfig[config], x.first[config] = idx, first
	}
	x.mu.Unlock()
	return nil
}

// visitLive calls visit for each record of config whose token has not
// expired, without copying the index, and deletes expired records when
// prune is set (the caller can write). A record written elsewhere since
// Invalidate is read first.
func (e *Mount) visitLive(ctx context.Context, s logical.Storage, config string, prune bool, visit func(id string, h heldToken)) error {
	for {
		if err := e.loadRecords(ctx, s, config); err != nil {
			return err
		}
		now := e.Now()
		var expired []string
		var first time.Time
		x := e.held
		x.mu.Lock()
		idx, ok := x.byConfig[config]
		for id, h := range idx {
			if h.ExpiresAt.IsZero() || now.Before(h.ExpiresAt) {
				visit(id, h)
				first = earlier(first, h.ExpiresAt)
			} else {
				expired = append(expired, id)
			}
		}
		if ok && len(expired) == 0 { // else the next visit, after the prune, sets it
			x.first[config] = first
		}
		x.mu.Unlock()
		if !ok {
			continue // dropped between the load and the visit: load again
		}
		if prune {
			for _, id := range expired {
				err := s.Delete(ctx, heldKey(config, id))
				e.indexed(config, func(idx map[string]heldToken) { delete(idx, id) })
				if err != nil {
					return fmt.Errorf("dropping an expired token record of config %q: %w", config, err)
				}
			}
		}
		return nil
	}
}

// indexed applies one change to config's index, if it is loaded.
func (e *Mount) indexed(config string, change func(idx map[string]heldToken)) {
	x := e.held
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen[config]++
	if idx, ok := x.byConfig[config]; ok {
		change(idx)
	}
}

// dropHeldIndex forgets config's index (a record changed elsewhere).
func (e *Mount) dropHeldIndex(config string) { e.held.drop(config) }

// drop forgets the index of config: it is read from storage again.
func (h *heldIndex) drop(config string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen[config]++
	delete(h.byConfig, config)
	delete(h.first, config)
}

// reset forgets every config's index.
func (h *heldIndex) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for config := range h.byConfig {
		h.gen[config]++
	}
	h.byConfig = map[string]map[string]heldToken{}
	h.first = map[string]time.Time{}
}

// LiveHeld returns the records of config whose token has not expired, keyed
// by id. Expired records are deleted when prune is set.
func (e *Mount) LiveHeld(ctx context.Context, s logical.Storage, config string, prune bool) (map[string]heldToken, error) {
	live := map[string]heldToken{}
	err := e.visitLive(ctx, s, config, prune, func(id string, h heldToken) { live[id] = h })
	return live, err
}

// liveCount counts the records of config whose token has not expired:
// without a visit while none can have expired yet, so a cdp mint costs the
// same with 2 or 20,000 tokens held.
func (e *Mount) liveCount(ctx context.Context, s logical.Storage, config string) (int, error) {
	if err := e.loadRecords(ctx, s, config); err != nil {
		return 0, err
	}
	x := e.held
	x.mu.Lock()
	idx, ok := x.byConfig[config]
	first := x.first[config]
	if ok && (first.IsZero() || e.Now().Before(first)) {
		n := len(idx)
		x.mu.Unlock()
		return n, nil
	}
	x.mu.Unlock()
	n := 0
	err := e.visitLive(ctx, s, config, true, func(string, heldToken) { n++ })
	return n, err
}

// heldByOthers counts the live tokens of config that an issuer other than
// issuer minted. A record from before issuers were recorded counts too.
func (e *Mount) heldByOthers(ctx context.Context, s logical.Storage, config, issuer string) (int, error) {
	n := 0
	err := e.visitLive(ctx, s, config, true, func(_ string, h heldToken) {
		if h.Issuer != issuer {
			n++
		}
	})
	return n, err
}

func (e *Mount) trackToken(ctx context.Context, s logical.Storage, config, token string, h heldToken) error {
	return e.trackID(ctx, s, config, TokenID(token), h)
}

// trackID writes the record id of config.
func (e *Mount) trackID(ctx context.Context, s logical.Storage, config, id string, h heldToken) error {
	err := PutJSON(ctx, s, heldKey(config, id), "token record", h)
	if err == nil {
		e.indexed(config, func(idx map[string]heldToken) {
			idx[id] = h
			e.held.first[config] = earlier(e.held.first[config], h.ExpiresAt)
		})
	} else {
		e.dropHeldIndex(config)
	}
	if err != nil {
		return fmt.Errorf("tracking a token of config %q: %w", config, err)
	}
	return nil
}

// forgetToken drops a token's record.
func (e *Mount) ForgetToken(ctx context.Context, s logical.Storage, config, token string) error {
	return e.forgetID(ctx, s, config, TokenID(token))
}

// forgetID is ForgetToken for the token whose TokenID is id.
func (e *Mount) forgetID(ctx context.Context, s logical.Storage, config, id string) error {
	err := s.Delete(ctx, heldKey(config, id))
	e.indexed(config, func(idx map[string]heldToken) { delete(idx, id) })
	if err != nil {
		return fmt.Errorf("forgetting token of config %q: %w", config, err)
	}
	return nil
}

// holds reports whether config has a live record of token. A config whose
// records are not indexed yet counts as holding it: the answer only ever
// serves to say a token is gone.
func (e *Mount) holds(ctx context.Context, s logical.Storage, config, token string) (bool, error) {
	if err := e.loadRecords(ctx, s, config); err != nil {
		return false, err
	}
	x := e.held
	x.mu.Lock()
	defer x.mu.Unlock()
	idx, ok := x.byConfig[config]
	if !ok {
		return true, nil
	}
	h, ok := idx[TokenID(token)]
	return ok && e.Now().Before(h.ExpiresAt), nil
}
