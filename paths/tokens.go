package paths

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// Upstream tokens the plugin holds for configs whose upstream caps them
// (CDP max_tokens) are tracked under tokens/<config>/<sha256 of token>. The
// key is a hash: the token itself lives only in the lease.
const tokenPrefix = "tokens/"

type heldToken struct {
	Kind      string    `json:"kind"` // "lease"
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func tokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func heldKey(config, id string) string { return tokenPrefix + config + "/" + id }

func (e *Env) heldTokens(ctx context.Context, s logical.Storage, config string) ([]string, error) {
	ids, err := s.List(ctx, tokenPrefix+config+"/")
	if err != nil {
		return nil, fmt.Errorf("listing tokens of config %q: %w", config, err)
	}
	return ids, nil
}

// walKindToken marks a WAL entry for an upstream token created but not yet
// handed to Vault as a lease. If the request dies in between, the rollback
// deletes the token upstream.
const walKindToken = "upstream_token"

type walToken struct {
	Config string `json:"config"`
	Token  string `json:"token"`
}

// WALRollback undoes a half-done token creation.
func (e *Env) WALRollback(ctx context.Context, req *logical.Request, kind string, data any) error {
	if kind != walKindToken {
		return fmt.Errorf("unknown WAL kind %q", kind)
	}
	var w walToken
	raw, err := json.Marshal(data)
	if err == nil {
		err = json.Unmarshal(raw, &w)
	}
	if err != nil || w.Token == "" {
		return fmt.Errorf("decoding WAL entry: %v", err)
	}
	if err := e.revokeUpstream(ctx, req.Storage, w.Config, w.Token); err != nil {
		return err // kept; the rollback manager tries again
	}
	e.Logger.Info("rolled back an upstream token whose lease was never created", "config", w.Config)
	return nil
}

// revokeUpstream deletes a token upstream and forgets it. A config that is
// gone leaves nothing to call.
func (e *Env) revokeUpstream(ctx context.Context, s logical.Storage, config, token string) error {
	cfg, err := e.loadConfig(ctx, s, config)
	if err != nil {
		return err
	}
	if cfg != nil {
		client, err := e.client(config, cfg)
		if err != nil {
			return err
		}
		if rv, ok := client.(provider.Revoker); ok {
			if err := rv.Revoke(ctx, token); err != nil {
				return fmt.Errorf("revoking upstream token of config %q: %w", config, err)
			}
		}
	}
	return e.forgetToken(ctx, s, config, token)
}

// forgetToken drops a token from the count of those the plugin holds.
func (e *Env) forgetToken(ctx context.Context, s logical.Storage, config, token string) error {
	if err := s.Delete(ctx, heldKey(config, tokenID(token))); err != nil {
		return fmt.Errorf("forgetting token of config %q: %w", config, err)
	}
	return nil
}

// mint creates an upstream token for a lease. For revocable upstreams the
// token is covered by a WAL entry until it is tracked, so a crash in between
// ends with the token deleted, not leaked. For capped upstreams the count
// of held tokens is checked first, under the config's token lock.
func (e *Env) mint(ctx context.Context, s logical.Storage, roleName string, role *roleEntry, cfg *configEntry, client provider.Client,
	obtain func(context.Context) (*provider.Token, *logical.Response, error)) (*provider.Token, *logical.Response, error) {
	spec, _ := provider.Lookup(cfg.Provider)
	if spec.TokenLimit {
		lock := locksFor(e.tokenLocks, role.Config)
		lock.Lock()
		defer lock.Unlock()
		held, err := e.heldTokens(ctx, s, role.Config)
		if err != nil {
			return nil, nil, err
		}
		eff, _ := provider.Effective(cfg.Config)
		if len(held) >= eff.MaxTokens {
			return nil, logical.ErrorResponse("config %q already holds %d %s tokens, its max_tokens; revoke a lease "+
				"(vault lease revoke -prefix <mount>/creds/%s) or raise max_tokens if the tenant allows more",
				role.Config, len(held), cfg.Provider, roleName), nil
		}
	}

	tok, refusal, err := obtain(ctx)
	if err != nil || refusal != nil {
		return nil, refusal, err
	}
	if _, revocable := client.(provider.Revoker); !revocable {
		return tok, nil, nil
	}
	walID, err := framework.PutWAL(ctx, s, walKindToken, &walToken{Config: role.Config, Token: tok.AccessToken})
	if err != nil {
		return nil, nil, e.discard(ctx, s, role.Config, tok, "", fmt.Errorf("writing WAL: %w", err))
	}
	if spec.TokenLimit {
		entry, err := logical.StorageEntryJSON(heldKey(role.Config, tokenID(tok.AccessToken)),
			heldToken{Kind: "lease", Role: roleName, CreatedAt: e.Now().UTC(), ExpiresAt: tok.ExpiresAt})
		if err == nil {
			err = s.Put(ctx, entry)
		}
		if err != nil {
			return nil, nil, e.discard(ctx, s, role.Config, tok, walID, fmt.Errorf("tracking the new token: %w", err))
		}
	}
	if err := framework.DeleteWAL(ctx, s, walID); err != nil {
		// A WAL left behind would revoke a leased token later.
		return nil, nil, e.discard(ctx, s, role.Config, tok, walID, fmt.Errorf("clearing WAL: %w", err))
	}
	return tok, nil, nil
}

// discard deletes a token that will not become a lease. If that fails too,
// the WAL entry (when there is one) makes the rollback delete it later.
func (e *Env) discard(ctx context.Context, s logical.Storage, config string, tok *provider.Token, walID string, cause error) error {
	if err := e.revokeUpstream(ctx, s, config, tok.AccessToken); err != nil {
		e.Logger.Error("could not delete an unleased upstream token; the WAL rollback will retry", "config", config, "error", err)
		return cause
	}
	if walID != "" {
		_ = framework.DeleteWAL(ctx, s, walID)
	}
	return cause
}
