package lifecycle

import (
	"context"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// max_tokens: an upstream that caps the tokens one account holds (cdp)
// disables a token someone else holds when the cap is passed, so the plugin
// refuses the read instead. It counts the live tokens it holds for the
// config (held_tokens.go) under the config's token lock, which the caller
// keeps until the new token is tracked, so concurrent reads cannot pass the
// cap together. Only the active node mints (replication.go), so one node's
// lock is enough.

// reserveTokenSlot takes the config's token lock and checks there is room
// for one more token; the caller releases the lock with unlock once the new
// token is tracked (or failed).
func (e *Mount) reserveTokenSlot(ctx context.Context, s logical.Storage, m MintRequest, eff provider.Config) (unlock func(), err error) {
	lock := e.TokenLock(m.ConfigName)
	lock.Lock()
	live, err := e.liveCount(ctx, s, m.ConfigName)
	if err == nil && m.Replaces != "" && eff.DisablesAll() {
		if held, herr := e.holds(ctx, s, m.ConfigName, m.Replaces); herr == nil && held {
			live--
		}
	}
	if err == nil && live >= eff.MaxTokens {
		err = UserErr("config %q already holds %d live %s tokens, its max_tokens; revoke a lease "+
			"(vault lease revoke -prefix <mount>/creds/%s) or raise max_tokens if the tenant allows more",
			m.ConfigName, live, m.Entry.Provider, m.RoleName)
	}
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	return lock.Unlock, nil
}
