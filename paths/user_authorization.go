package paths

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// roleToken is the user authorization an authorization_code role holds.
type roleToken struct {
	Config string `json:"config"`
	// Issuer is the config's issuer (issuerOf) that granted it: the
	// refresh token is never sent anywhere else.
	Issuer       string    `json:"issuer,omitempty"`
	RefreshToken string    `json:"refresh_token"`
	AuthorizedAt time.Time `json:"authorized_at"`
	RefreshedAt  time.Time `json:"refreshed_at,omitempty"`
}

func (e *Env) loadRoleToken(ctx context.Context, s logical.Storage, role string) (*roleToken, error) {
	return getJSON[roleToken](ctx, s, roleTokenPrefix+role, fmt.Sprintf("authorization of role %q", role))
}

func (e *Env) storeRoleToken(ctx context.Context, s logical.Storage, role string, t *roleToken) error {
	entry, err := logical.StorageEntryJSON(roleTokenPrefix+role, t)
	if err != nil {
		return err
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("storing the authorization of role %q: %w", role, err)
	}
	return nil
}

// refreshRoleToken obtains an access token with the role's refresh token
// and stores the rotated refresh token before anything is returned, under
// the role's lock: parallel reads never present one refresh token twice.
//
// refreshedBefore reports whether the role had been refreshed before this
// call, i.e. an earlier read's access token may now be retired upstream.
// A user authorization is held by a role, or by a static role under the
// key "static:<name>" (a name cannot hold a colon, so the two never meet).
const staticHolderPrefix = "static:"

func staticHolder(name string) string { return staticHolderPrefix + name }

// holder names the holder of key for messages: ("role", "x") or
// ("static role", "x"); authorize/<name> serves both.
func holder(key string) (what, name string) {
	if n, ok := strings.CutPrefix(key, staticHolderPrefix); ok {
		return "static role", n
	}
	return "role", key
}

// codeHolder is what authorize and callback need of a holder: a role, or
// a static role seen as one.
func (e *Env) codeHolder(ctx context.Context, s logical.Storage, key string) (*roleEntry, error) {
	name, static := strings.CutPrefix(key, staticHolderPrefix)
	if !static {
		return e.loadRole(ctx, s, key)
	}
	sr, err := e.loadStaticRole(ctx, s, name)
	if err != nil || sr == nil {
		return nil, err
	}
	return &roleEntry{Config: sr.Config, Scopes: sr.Scopes, GrantType: sr.grantType(), RedirectURL: sr.RedirectURL}, nil
}

func (e *Env) refreshRoleToken(ctx context.Context, s logical.Storage, roleName string, cfgName string, cfg *configEntry, cg provider.CodeGranter) (tok *provider.Token, refreshedBefore bool, err error) {
	// A caller that hangs up must not stop Vault between the upstream's
	// rotation and storing the new refresh token: the old one is dead.
	ctx = context.WithoutCancel(ctx)
	lock := locksFor(e.roleLocks, roleName)
	lock.Lock()
	defer lock.Unlock()
	rt, err := e.loadRoleToken(ctx, s, roleName)
	if err != nil {
		return nil, false, err
	}
	what, name := holder(roleName)
	if rt == nil || rt.Config != cfgName {
		return nil, false, &notAuthorized{userErr("%s %q holds no user authorization yet; run vault write -f <mount>/authorize/%s "+
			"and open the url it returns", what, name, name)}
	}
	eff, err := provider.Effective(cfg.Config)
	if err != nil {
		return nil, false, err
	}
	if !e.grantedBy(rt, cfg, eff) {
		return nil, false, userErr("%s %q was authorized at another issuer than config %q points at now; run authorize/%s again",
			what, name, cfgName, name)
	}
	refreshedBefore = !rt.RefreshedAt.IsZero()
	tok, err = cg.Refresh(ctx, rt.RefreshToken)
	if err != nil && tok != nil && tok.RefreshToken != "" && tok.RefreshToken != rt.RefreshToken {
		// The answer was unusable but rotated the refresh token.
		rt.RefreshToken, rt.RefreshedAt = tok.RefreshToken, e.Now().UTC()
		if serr := e.storeRoleToken(ctx, s, roleName, rt); serr != nil {
			e.Logger.Error("could not store the rotated refresh token; the role must be authorized again", "role", roleName, "error", serr)
		}
	}
	if err != nil {
		e.Logger.Warn("token refresh failed", "role", roleName, "config", cfgName, "error", err)
		if provider.HasCode(err, "invalid_grant") {
			return nil, false, userErr("the provider refused the role's refresh token (expired, revoked, or the user's "+
				"access was withdrawn): %s; run authorize/%s again", err, name)
		}
		return nil, false, err
	}
	if tok.RefreshToken != "" && tok.RefreshToken != rt.RefreshToken {
		rt.RefreshToken = tok.RefreshToken
		rt.RefreshedAt = e.Now().UTC()
		if err := e.storeRoleToken(ctx, s, roleName, rt); err != nil {
			// The new refresh token is lost with this error and the old one
			// is dead upstream: the role needs a new authorization.
			e.Logger.Error("could not store the rotated refresh token; the role must be authorized again", "role", roleName, "error", err)
			e.revokeQuietly(ctx, cg, roleName, tok.AccessToken, tok.RefreshToken)
			return nil, false, err
		}
	}
	return tok, refreshedBefore, nil
}

// grantedBy reports whether the issuer of cfg granted rt, so its refresh
// token may be sent there.
func (e *Env) grantedBy(rt *roleToken, cfg *configEntry, eff provider.Config) bool {
	return sameIssuer(cfg, eff, rt.Issuer, rt.AuthorizedAt)
}

// dropAuthorizations revokes, at the previous issuer (old), and forgets the
// user authorizations of the roles of config, whose issuer just changed.
// It returns the roles whose authorization went.
func (e *Env) dropAuthorizations(ctx context.Context, s logical.Storage, config string, old *configEntry) ([]string, error) {
	names, err := s.List(ctx, roleTokenPrefix)
	if err != nil {
		return nil, err
	}
	oldClient, clientErr := provider.New(old.Config, e.providerOptions())
	var dropped []string
	for _, name := range names {
		lock := locksFor(e.roleLocks, name)
		lock.Lock()
		rt, err := e.loadRoleToken(ctx, s, name)
		if err == nil && rt != nil && rt.Config == config {
			if clientErr == nil {
				e.revokeQuietly(ctx, oldClient, name, "", rt.RefreshToken)
			}
			if err = s.Delete(ctx, roleTokenPrefix+name); err == nil {
				dropped = append(dropped, "role "+name)
			}
		}
		lock.Unlock()
		if err != nil {
			return dropped, err
		}
	}
	return dropped, nil
}

// revokeQuietly revokes, best effort, tokens that Vault will not hand out
// or keep, where the upstream can; failures are logged (never the token)
// and left to expiry.
func (e *Env) revokeQuietly(ctx context.Context, client any, role, accessToken, refreshToken string) {
	if rv, ok := client.(provider.Revoker); ok && accessToken != "" {
		if err := rv.Revoke(ctx, accessToken); err != nil {
			e.Logger.Warn("could not revoke an unused access token; it expires by itself", "role", role, "error", err)
		}
	}
	if rv, ok := client.(provider.RefreshRevoker); ok && refreshToken != "" {
		if err := rv.RevokeRefresh(ctx, refreshToken); err != nil {
			e.Logger.Warn("could not revoke an unused refresh token upstream", "role", role, "error", err)
		}
	}
}

func (e *Env) codeGranter(name string, cfg *configEntry) (provider.CodeGranter, error) {
	client, err := e.client(name, cfg)
	if err != nil {
		return nil, err
	}
	cg, ok := client.(provider.CodeGranter)
	if !ok {
		return nil, fmt.Errorf("config %q: provider %s has no authorization code grant", name, cfg.Provider)
	}
	return cg, nil
}

// notAuthorized is a holder without a user authorization yet: a 400, and
// for a static role, nothing to rotate until authorize/<name> runs.
type notAuthorized struct{ error }

func (n *notAuthorized) Unwrap() error { return n.error }
