package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// SecretTypeToken is the secret type of every lease this plugin issues.
const SecretTypeToken = "acquia_token"

// Internal data kept with a lease (stored by Vault, never returned).
const (
	IDConfig    = "config"
	IDRole      = "role"
	IDProvider  = "provider"
	IDExpiresAt = "expires_at"
	// IDAccessToken is the upstream access token, kept where revoke or renew
	// needs it.
	IDAccessToken = "access_token"
	// IDIssuer fingerprints the issuer that minted the token (issuerOf);
	// IDGeneration is the config generation it was minted with.
	IDIssuer     = "issuer"
	IDGeneration = "config_generation"
	// IDGrant is the grant type of the role the lease was read from.
	IDGrant = "grant_type"
	// IDRequestedScopes and IDRequestedOrganization are what the read
	// asked for (space-separated scopes; a Cloud organization uuid), kept
	// for audit; the response's scopes say what was granted.
	IDRequestedScopes       = "requested_scopes"
	IDRequestedOrganization = "requested_organization"
)

func (e *Mount) Renew(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	expires, err := leaseExpiry(req.Secret)
	if err != nil {
		return nil, err
	}
	now := e.Now()
	if !now.Before(expires) {
		return nil, UserErr("the upstream token expired at %s; read creds again for a new one", expires.UTC().Format(time.RFC3339))
	}
	roleName, _ := req.Secret.InternalData[IDRole].(string)
	role, err := e.LoadRole(ctx, req.Storage, roleName)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, UserErr("role %q was deleted; its leases cannot be renewed", roleName)
	}
	if role.MaxTTL > 0 && !now.Before(req.Secret.IssueTime.Add(role.MaxTTL)) {
		return nil, UserErr("the lease reached the role's max_ttl %s; read creds again", role.MaxTTL)
	}
	var warnings []string
	// CDP extends a token "about to expire": the upstream is asked only
	// when the renewed lease would outlive the token; otherwise the renew
	// is answered from what the plugin knows.
	want, _, _ := e.LeaseTTLs(role, req.Secret.IssueTime, now, now.Add(100*365*24*time.Hour))
	token, _ := req.Secret.InternalData[IDAccessToken].(string)
	if err := e.heldForRenew(ctx, req.Storage, req.Secret, token); err != nil {
		return nil, err
	}
	if token != "" && now.Add(want).After(expires) {
		if err := e.EnsureWritable(); err != nil {
			return nil, err
		}
		if expires, warnings, err = e.extendUpstream(ctx, req.Storage, req.Secret, token); err != nil {
			return nil, err
		}
	}
	ttl, maxTTL, cut := e.LeaseTTLs(role, req.Secret.IssueTime, now, expires)
	resp := &logical.Response{Secret: req.Secret, Warnings: append(warnings, cut...)}
	resp.Secret.TTL = ttl
	resp.Secret.MaxTTL = maxTTL
	e.renewed(req.Secret)
	return resp, nil
}

// heldForRenew refuses to renew a capped upstream's lease (cdp) whose
// token the plugin no longer holds: revoke-all deleted it upstream and
// forgot it, and a renew the token outlives asks the upstream nothing.
func (e *Mount) heldForRenew(ctx context.Context, s logical.Storage, secret *logical.Secret, token string) error {
	cfgName, _ := secret.InternalData[IDConfig].(string)
	if token == "" {
		return nil
	}
	spec, _ := provider.Lookup(e.ProviderOf(ctx, s, cfgName))
	if spec == nil || !spec.TokenLimit {
		return nil
	}
	held, err := e.holds(ctx, s, cfgName, token)
	if err != nil || held {
		return err
	}
	return UserErr("the upstream token no longer exists (deleted by revoke-all or past its expiry); read creds again")
}

// extendUpstream prolongs a lease's token where the upstream can, and
// returns its new expiry.
func (e *Mount) extendUpstream(ctx context.Context, s logical.Storage, secret *logical.Secret, token string) (time.Time, []string, error) {
	expires, _ := leaseExpiry(secret)
	cfgName, _ := secret.InternalData[IDConfig].(string)
	acct, err := e.Account(ctx, s, cfgName)
	if err != nil || acct == nil {
		return expires, nil, err
	}
	issuer, _ := secret.InternalData[IDIssuer].(string)
	if !acct.Issued(issuer, secret.IssueTime) {
		return expires, nil, UserErr("config %q no longer points at the issuer of this token; "+
			"the lease cannot be extended there: read creds again", cfgName)
	}
	rn, ok := acct.Client.(provider.Renewer)
	if !ok {
		return expires, nil, nil
	}
	tok, err := rn.Renew(ctx, token)
	switch {
	case err != nil && provider.IsStatus(err, 401, 404):
		return expires, nil, UserErr("the upstream token no longer exists (deleted upstream or by revoke-all); read creds again")
	case err != nil && provider.IsRefusal(err):
		// Extend refused, e.g. outside a window before expiry that CDP
		// does not document: the token lives as it was.
		return expires, []string{fmt.Sprintf("the upstream did not extend the token now (%s); the lease runs to the token's "+
			"expiry at %s, and a later renew asks again", err, expires.UTC().Format(time.RFC3339))}, nil
	case err != nil:
		return expires, nil, err
	case tok.ExpiresAt.IsZero():
		return expires, []string{"the upstream answered the extend without saying until when; the lease keeps the token's " +
			"known expiry at " + expires.UTC().Format(time.RFC3339)}, nil
	}
	held := heldToken{Role: fmt.Sprint(secret.InternalData[IDRole]), Issuer: issuer, CreatedAt: secret.IssueTime, ExpiresAt: tok.ExpiresAt}
	if tok.AccessToken != token {
		return e.adoptExtended(ctx, s, cfgName, secret, token, tok, held)
	}
	secret.InternalData[IDExpiresAt] = tok.ExpiresAt.UTC().Format(time.RFC3339Nano)
	if err := e.trackToken(ctx, s, cfgName, token, held); err != nil {
		// The lease keeps its old TTL, within what the record covers.
		return expires, nil, err
	}
	return tok.ExpiresAt, e.PasswordExpiry(ctx, s, cfgName, tok), nil
}

// adoptExtended takes over the new token an extend answered in place of
// the lease's: it is tracked before the lease holds it, and the previous
// one is deleted upstream, or left to the WAL rollback when that fails, so
// neither is ever untracked.
func (e *Mount) adoptExtended(ctx context.Context, s logical.Storage, cfgName string, secret *logical.Secret, old string,
	tok *provider.Token, held heldToken) (time.Time, []string, error) {
	expires, _ := leaseExpiry(secret)
	if err := e.trackToken(ctx, s, cfgName, tok.AccessToken, held); err != nil {
		// The new token is nowhere: revoke it, the lease keeps the old.
		_ = e.RevokeUpstream(ctx, s, cfgName, tok.AccessToken, held.Issuer, secret.IssueTime)
		return expires, nil, err
	}
	secret.InternalData[IDAccessToken] = tok.AccessToken
	secret.InternalData[IDExpiresAt] = tok.ExpiresAt.UTC().Format(time.RFC3339Nano)
	warnings := []string{"the upstream answered the extend with a new token: the lease holds it now, and the previous one is deleted"}
	if err := e.RevokeUpstream(ctx, s, cfgName, old, held.Issuer, secret.IssueTime); err != nil {
		w := &walToken{Config: cfgName, Role: held.Role, Issuer: held.Issuer, Token: old, ExpiresAt: expires}
		if _, werr := framework.PutWAL(ctx, s, walKindToken, w); werr != nil {
			e.Logger.Error("could not delete a token an extend replaced, nor leave it to the rollback; it stays counted "+
				"until it expires", "config", cfgName, "error", err)
		}
		warnings = []string{"the upstream answered the extend with a new token: the lease holds it now; the previous one " +
			"could not be deleted yet, and Vault's rollback deletes it"}
	}
	return tok.ExpiresAt, append(warnings, e.PasswordExpiry(ctx, s, cfgName, tok)...), nil
}

func leaseExpiry(s *logical.Secret) (time.Time, error) {
	v, _ := s.InternalData[IDExpiresAt].(string)
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("lease holds no upstream expiry: %w", err)
	}
	return t, nil
}

func (e *Mount) Revoke(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	token, _ := req.Secret.InternalData[IDAccessToken].(string)
	if token == "" {
		// The provider has no revocation: the token just expires.
		return nil, nil
	}
	cfgName, _ := req.Secret.InternalData[IDConfig].(string)
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	// The one lookup of the config this revoke makes; nil when it is gone.
	acct, acctErr := e.Account(ctx, req.Storage, cfgName)
	issuer, _ := req.Secret.InternalData[IDIssuer].(string)
	if expires, err := leaseExpiry(req.Secret); err == nil && !e.Now().Before(expires) &&
		!mayHaveExtended(acct, issuer, req.Secret.IssueTime) {
		// The upstream token is dead already; calling the upstream could
		// only fail and keep Vault retrying a revoke that has nothing left
		// to do.
		return nil, e.ForgetToken(ctx, req.Storage, cfgName, token)
	}
	if acctErr != nil {
		return nil, acctErr
	}
	if spare, err := e.leaseSparesGrant(ctx, req, acct); err != nil || spare {
		if spare {
			e.Logger.Info("not revoking the access token of an authorization_code role's lease upstream, so the role keeps "+
				"its refresh token (config revoke_user_access_tokens is off); it expires by itself", "config", cfgName,
				"expires_at", req.Secret.InternalData[IDExpiresAt])
			err = e.ForgetToken(ctx, req.Storage, cfgName, token)
		}
		return nil, err
	}
	// An error makes Vault retry the revoke with backoff; a token the
	// upstream no longer knows counts as revoked.
	if err := e.revokeAtIssuer(ctx, req.Storage, cfgName, acct, token, issuer, req.Secret.IssueTime); err != nil {
		return nil, err
	}
	// Revoked: Vault hears so now, and the record goes just after
	// (forget_after.go).
	return nil, e.forgetAfterRevoke(ctx, req.Storage, cfgName, token)
}

// mayHaveExtended reports whether a lease's token may live past the expiry
// the lease recorded: its upstream extends tokens (cdp), and a renew whose
// extend succeeded may have failed after it (storing the record), leaving
// the lease on its old expiry. Such a token is revoked upstream, where a
// dead one counts as revoked; a config that is gone or points at another
// issuer could not revoke it anyway.
func mayHaveExtended(acct *Account, issuer string, issued time.Time) bool {
	if acct == nil || !acct.Issued(issuer, issued) {
		return false
	}
	_, renews := acct.Client.(provider.Renewer)
	return renews
}

// leaseSparesGrant is spareUserGrant for a lease that holds its token: one
// issued while the config allowed revoking it, or before the choice
// existed (then the role's grant decides).
func (e *Mount) leaseSparesGrant(ctx context.Context, req *logical.Request, acct *Account) (bool, error) {
	grant, recorded := req.Secret.InternalData[IDGrant].(string)
	if !recorded {
		roleName, _ := req.Secret.InternalData[IDRole].(string)
		role, err := e.LoadRole(ctx, req.Storage, roleName)
		if err != nil || role == nil {
			return false, err
		}
		grant = role.GrantType
	}
	if acct == nil {
		return false, nil
	}
	return SpareUserGrant(grant, acct.Entry), nil
}
