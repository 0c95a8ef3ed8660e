package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
	"github.com/hashicorp/vault/sdk/logical"
)

// SpareUserGrant reports whether the access tokens a role of grant mints
// from cfg are left to expire rather than revoked upstream: RFC 7009 §2.1
// lets a server revoke the refresh token with its access token, and an
// authorization_code role must not lose its authorization to a lease
// revoke. The config's revoke_user_access_tokens says the server does not
// do that.
func SpareUserGrant(grant string, cfg *ConfigEntry) bool {
	return grant == provider.GrantAuthorizationCode && !cfg.RevokeUserAccessTokens
}

// RevokeUpstream deletes a token at the issuer that minted it and forgets
// it. It fails, and Vault retries, when that issuer is no longer reachable
// through the config: a revoke sent elsewhere would be reported done while
// the token lives. issuer is empty for leases from before issuers were
// recorded: those go to the config unless its issuer changed since issued.
func (e *Mount) RevokeUpstream(ctx context.Context, s logical.Storage, config, token, issuer string, issued time.Time) error {
	acct, err := e.Account(ctx, s, config)
	if err != nil {
		return err
	}
	return e.revokeAt(ctx, s, config, acct, token, issuer, issued)
}

// revokeAt is RevokeUpstream with config already looked up (acct, nil when
// the config is gone).
func (e *Mount) revokeAt(ctx context.Context, s logical.Storage, config string, acct *Account, token, issuer string,
	issued time.Time) error {
	if err := e.revokeAtIssuer(ctx, s, config, acct, token, issuer, issued); err != nil {
		return err
	}
	return e.ForgetToken(ctx, s, config, token)
}

// revokeAtIssuer revokes token at its issuer, through config (acct), and
// returns nil only once the issuer confirmed it (or the token cannot be
// revoked there, as notRevocable logs); the token's record is the
// caller's to forget.
func (e *Mount) revokeAtIssuer(ctx context.Context, s logical.Storage, config string, acct *Account, token, issuer string,
	issued time.Time) error {
	if acct == nil {
		return fmt.Errorf("config %q, whose account issued this token, was deleted: the token cannot be revoked and lives "+
			"upstream until it expires; Vault retries this revoke, which succeeds at the token's expiry", config)
	}
	if !acct.Issued(issuer, issued) {
		return fmt.Errorf("config %q no longer points at the issuer of this token (its URLs or account changed): the token "+
			"cannot be revoked there and lives upstream until it expires; Vault retries this revoke", config)
	}
	if rv, ok := acct.Client.(provider.Revoker); ok {
		err := rv.Revoke(ctx, token)
		countRevoke(acct.Client, err)
		if err != nil {
			if !provider.NotRevocable(err) {
				return fmt.Errorf("revoking upstream token of config %q: %w", config, err)
			}
			e.notRevocable(ctx, s, config, token)
		}
	}
	return nil
}

// notRevocable logs a token the revocation endpoint will not revoke
// (unsupported_token_type): the revoke is done, since nothing more can be,
// and the token stays valid until it expires. Once a day per config at
// warning level, at debug level otherwise.
func (e *Mount) notRevocable(ctx context.Context, s logical.Storage, config, token string) {
	var expires any = "unknown"
	if h, err := GetJSON[heldToken](ctx, s, heldKey(config, TokenID(token)), "token record"); err == nil && h != nil {
		expires = h.ExpiresAt.UTC().Format(time.RFC3339)
	}
	log := e.Logger.Debug
	if e.firstToday(config + "\x00unrevocable") {
		log = e.Logger.Warn
	}
	log("the revocation endpoint does not revoke access tokens (unsupported_token_type): the token cannot be revoked "+
		"and stays valid until it expires", "config", config, "expires_at", expires)
}
