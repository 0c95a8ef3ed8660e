package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// RoleToken is the user authorization an authorization_code role holds.
type RoleToken struct {
	Config string `json:"config"`
	// Issuer is the config's issuer (issuerOf) that granted it: the
	// refresh token is never sent anywhere else.
	Issuer       string    `json:"issuer,omitempty"`
	RefreshToken string    `json:"refresh_token"`
	AuthorizedAt time.Time `json:"authorized_at"`
	RefreshedAt  time.Time `json:"refreshed_at,omitempty"`
}

func (e *Mount) LoadRoleToken(ctx context.Context, s logical.Storage, role string) (*RoleToken, error) {
	return GetJSON[RoleToken](ctx, s, RoleTokenPrefix+role, fmt.Sprintf("authorization of role %q", role))
}

func (e *Mount) StoreRoleToken(ctx context.Context, s logical.Storage, role string, t *RoleToken) error {
	return PutJSON(ctx, s, RoleTokenPrefix+role, fmt.Sprintf("the authorization of role %q", role), t)
}

// RefreshRoleToken obtains an access token with the role's refresh token
// and stores the rotated refresh token before anything is returned, under
// the role's lock: parallel reads never present one refresh token twice.
//
// refreshedBefore reports whether the role had been refreshed before this
// call, i.e. an earlier read's access token may now be retired upstream.
// A user authorization is held by a role, or by a static role under the
// key "static:<name>" (a name cannot hold a colon, so the two never meet).
const StaticHolderPrefix = "static:"

func StaticHolder(name string) string { return StaticHolderPrefix + name }

// Holder names the holder of key for messages: ("role", "x") or
// ("static role", "x"); authorize/<name> serves both.
func Holder(key string) (what, name string) {
	if n, ok := strings.CutPrefix(key, StaticHolderPrefix); ok {
		return "static role", n
	}
	return "role", key
}

// CodeHolder is what authorize and callback need of a holder: a role, or
// a static role seen as one.
func (e *Mount) CodeHolder(ctx context.Context, s logical.Storage, key string) (*RoleEntry, error) {
	name, static := strings.CutPrefix(key, StaticHolderPrefix)
	if !static {
		return e.LoadRole(ctx, s, key)
	}
	sr, err := e.LoadStaticRole(ctx, s, name)
	if err != nil || sr == nil {
		return nil, err
	}
	return &RoleEntry{Config: sr.Config, Scopes: sr.Scopes, GrantType: sr.Grant(), RedirectURL: sr.RedirectURL}, nil
}

// authorizationFor is the user authorization roleName holds for acct: a
// 400 when there is none yet, or when another issuer granted it.
func (e *Mount) authorizationFor(ctx context.Context, s logical.Storage, roleName string, acct *Account) (*RoleToken, error) {
	rt, err := e.LoadRoleToken(ctx, s, roleName)
	if err != nil {
		return nil, err
	}
	what, name := Holder(roleName)
	if rt == nil || rt.Config != acct.Name {
		return nil, &NotAuthorized{UserErr("%s %q holds no user authorization yet; run vault write -f <mount>/authorize/%s "+
			"and open the url it returns", what, name, name)}
	}
	if !e.GrantedBy(rt, acct.Entry, acct.Eff) {
		return nil, UserErr("%s %q was authorized at another issuer than config %q points at now; run authorize/%s again",
			what, name, acct.Name, name)
	}
	return rt, nil
}

func (e *Mount) RefreshRoleToken(ctx context.Context, s logical.Storage, roleName string, acct *Account) (tok *provider.Token,
	refreshedBefore bool, err error) {
	cfgName := acct.Name
	cg, err := acct.CodeGranter()
	if err != nil {
		return nil, false, err
	}
	// A caller that hangs up must not stop Vault between the upstream's
	// rotation and storing the new refresh token: the old one is dead.
	ctx = context.WithoutCancel(ctx)
	lock := e.RoleLock(roleName)
	lock.Lock()
	defer lock.Unlock()
	rt, err := e.authorizationFor(ctx, s, roleName, acct)
	if err != nil {
		return nil, false, err
	}
	_, name := Holder(roleName)
	refreshedBefore = !rt.RefreshedAt.IsZero()
	tok, err = cg.Refresh(ctx, rt.RefreshToken)
	if err != nil && tok != nil && tok.RefreshToken != "" && tok.RefreshToken != rt.RefreshToken {
		// The answer was unusable but rotated the refresh token.
		rt.RefreshToken, rt.RefreshedAt = tok.RefreshToken, e.Now().UTC()
		if serr := e.StoreRoleToken(ctx, s, roleName, rt); serr != nil {
			e.Logger.Error("could not store the rotated refresh token; the role must be authorized again", "role", roleName, "error", serr)
		}
	}
	if err != nil {
		e.Logger.Warn("token refresh failed", "role", roleName, "config", cfgName, "error", err)
		if provider.HasCode(err, "invalid_grant") {
			return nil, false, UserErr("the provider refused the role's refresh token (expired, revoked, or the user's "+
				"access was withdrawn): %s; run authorize/%s again", err, name)
		}
		return nil, false, err
	}
	if tok.RefreshToken != "" && tok.RefreshToken != rt.RefreshToken {
		rt.RefreshToken = tok.RefreshToken
		rt.RefreshedAt = e.Now().UTC()
		if err := e.StoreRoleToken(ctx, s, roleName, rt); err != nil {
			// The new refresh token is lost with this error and the old one
			// is dead upstream: the role needs a new authorization.
			e.Logger.Error("could not store the rotated refresh token; the role must be authorized again", "role", roleName, "error", err)
			e.RevokeQuietly(ctx, cg, roleName, tok.AccessToken, tok.RefreshToken)
			return nil, false, err
		}
	}
	return tok, refreshedBefore, nil
}

// GrantedBy reports whether the issuer of cfg granted rt, so its refresh
// token may be sent there.
func (e *Mount) GrantedBy(rt *RoleToken, cfg *ConfigEntry, eff provider.Config) bool {
	return sameIssuer(cfg, eff, rt.Issuer, rt.AuthorizedAt)
}

// dropAuthorizations revokes, at the previous issuer (old), and forgets the
// user authorizations of the roles of config, whose issuer just changed.
// It returns the roles whose authorization went.
func (e *Mount) dropAuthorizations(ctx context.Context, s logical.Storage, config string, old *ConfigEntry) ([]string, error) {
	names, err := s.List(ctx, RoleTokenPrefix)
	if err != nil {
		return nil, err
	}
	oldClient, clientErr := provider.New(old.Config, e.ClientOptions(old.Provider, config))
	var dropped []string
	for _, name := range names {
		lock := e.RoleLock(name)
		lock.Lock()
		rt, err := e.LoadRoleToken(ctx, s, name)
		if err == nil && rt != nil && rt.Config == config {
			if clientErr == nil {
				e.RevokeQuietly(ctx, oldClient, name, "", rt.RefreshToken)
			}
			if err = s.Delete(ctx, RoleTokenPrefix+name); err == nil {
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

// RevokeQuietly revokes, best effort, tokens that Vault will not hand out
// or keep, where the upstream can; failures are logged (never the token)
// and left to expiry.
func (e *Mount) RevokeQuietly(ctx context.Context, client any, role, accessToken, refreshToken string) {
	if rv, ok := client.(provider.Revoker); ok && accessToken != "" {
		err := rv.Revoke(ctx, accessToken)
		countRevoke(client, err)
		if err != nil {
			e.Logger.Warn("could not revoke an unused access token; it expires by itself", "role", role, "error", err)
		}
	}
	if rv, ok := client.(provider.RefreshRevoker); ok && refreshToken != "" {
		err := rv.RevokeRefresh(ctx, refreshToken)
		countRevoke(client, err)
		if err != nil {
			e.Logger.Warn("could not revoke an unused refresh token upstream", "role", role, "error", err)
		}
	}
}

// notAuthorized is a holder without a user authorization yet: a 400, and
// for a static role, nothing to rotate until authorize/<name> runs.
type NotAuthorized struct{ error }

func (n *NotAuthorized) Unwrap() error { return n.error }

// Authorization is a user's answer to authorize/<holder>: the code the
// provider's redirect carried, with what authorize stored for it; or, for
// the device grant (RFC 8628), the device code to poll the token endpoint
// with.
type Authorization struct {
	Holder, Config string
	Code           string
	Verifier       string
	RedirectURL    string
	DeviceCode     string
	// Scopes are the scopes authorize asked for (ScopesSet: recorded);
	// the holder must still ask for the same when the user answers.
	Scopes    []string
	ScopesSet bool
}

// CompleteAuthorization exchanges a's code (or polls once with its device
// code) and keeps the refresh token on its holder (a role or a static
// role), replacing and revoking an earlier one. It returns when the
// authorization was stored. A device poll the user has not answered yet
// returns the server's error (authorization_pending, slow_down, ...) and
// stores nothing.
func (e *Mount) CompleteAuthorization(ctx context.Context, s logical.Storage, a Authorization) (time.Time, error) {
	acct, err := e.authorizationTarget(ctx, s, a)
	if err != nil {
		return time.Time{}, err
	}
	cg, err := acct.CodeGranter()
	if err != nil {
		return time.Time{}, err
	}
	// No lock is held while the upstream answers: a slow token endpoint
	// holds up no creds read or rotation of the holder.
	tok, err := e.obtainTokens(ctx, cg, a)
	if err != nil {
		return time.Time{}, err
	}
	// The upstream issued them: whoever stops waiting now, they are kept
	// (or revoked), never dropped half-way.
	ctx = context.WithoutCancel(ctx)
	roleLock := e.RoleLock(a.Holder)
	roleLock.Lock()
	defer roleLock.Unlock()
	// The holder may have changed while the upstream answered.
	if acct, err = e.authorizationTarget(ctx, s, a); err != nil {
		e.RevokeQuietly(ctx, cg, a.Holder, tok.AccessToken, tok.RefreshToken)
		return time.Time{}, err
	}
	return e.keepAuthorization(ctx, s, a, acct, cg, tok)
}

// authorizationTarget is the account a's holder authorizes against: the
// holder must still be an authorization_code role of a's config asking
// for the scopes authorize asked for.
func (e *Mount) authorizationTarget(ctx context.Context, s logical.Storage, a Authorization) (*Account, error) {
	what, name := Holder(a.Holder)
	role, err := e.CodeHolder(ctx, s, a.Holder)
	if err != nil {
		return nil, err
	}
	if role == nil || role.Config != a.Config || role.GrantType != provider.GrantAuthorizationCode {
		return nil, UserErr("%s %q was deleted or changed since authorize; run authorize/%s again", what, name, name)
	}
	acct, err := e.Account(ctx, s, a.Config)
	if err != nil {
		return nil, err
	}
	if acct == nil {
		return nil, fmt.Errorf("role %q: %w: %q", a.Holder, ErrNoConfig, a.Config)
	}
	if a.ScopesSet && strings.Join(RoleScopes(role, acct.Entry), " ") != strings.Join(a.Scopes, " ") {
		return nil, UserErr("the scopes of %s %q changed since authorize; run authorize/%s again", what, name, name)
	}
	return acct, nil
}

// keepAuthorization stores tok's refresh token on a's holder, replacing
// and revoking an earlier one. The caller holds the holder's role lock.
func (e *Mount) keepAuthorization(ctx context.Context, s logical.Storage, a Authorization, acct *Account, cg provider.CodeGranter,
	tok *provider.Token) (time.Time, error) {
	previous, err := e.LoadRoleToken(ctx, s, a.Holder)
	if err != nil {
		e.RevokeQuietly(ctx, cg, a.Holder, tok.AccessToken, tok.RefreshToken)
		return time.Time{}, err
	}
	// The access token from the exchange is leased to no one: revoked
	// where that cannot cost the role the refresh token stored below.
	if !SpareUserGrant(provider.GrantAuthorizationCode, acct.Entry) {
		defer e.RevokeQuietly(ctx, cg, a.Holder, tok.AccessToken, "")
	}
	now := e.Now().UTC()
	if err := e.StoreRoleToken(ctx, s, a.Holder, &RoleToken{Config: a.Config, Issuer: acct.Issuer(),
		RefreshToken: tok.RefreshToken, AuthorizedAt: now}); err != nil {
		e.RevokeQuietly(ctx, cg, a.Holder, "", tok.RefreshToken)
		return time.Time{}, err
	}
	// A new authorization replaces the old one, which must not linger.
	if previous != nil && previous.RefreshToken != tok.RefreshToken && e.GrantedBy(previous, acct.Entry, acct.Eff) {
		e.RevokeQuietly(ctx, cg, a.Holder, "", previous.RefreshToken)
	}
	e.Logger.Info("role authorized", "role", a.Holder, "config", a.Config, "replaced", previous != nil)
	return now, nil
}

// obtainTokens gets a's tokens: by the device code where it has one, else
// by exchanging the code.
func (e *Mount) obtainTokens(ctx context.Context, cg provider.CodeGranter, a Authorization) (*provider.Token, error) {
	if a.DeviceCode != "" {
		return e.deviceTokens(ctx, cg, a)
	}
	return e.exchange(ctx, cg, a)
}

// exchange trades a's code for tokens; what a failed or refresh-less
// exchange yielded is revoked.
func (e *Mount) exchange(ctx context.Context, cg provider.CodeGranter, a Authorization) (*provider.Token, error) {
	_, name := Holder(a.Holder)
	tok, err := cg.Exchange(ctx, a.Code, a.Verifier, a.RedirectURL)
	if err != nil {
		e.Logger.Warn("code exchange failed", "role", a.Holder, "config", a.Config, "error", err)
		if provider.IsRefusal(err) {
			err = UserErr("the provider refused the code: %s; run authorize/%s again", err, name)
		}
	}
	return e.grantAnswered(ctx, cg, a, tok, err, "")
}

// grantAnswered takes what a code exchange or a device poll answered:
// what a failed answer carried is revoked; a token without a refresh
// token is revoked and refused, since nothing could mint the role's later
// tokens. hint ends the refusal's advice.
func (e *Mount) grantAnswered(ctx context.Context, cg provider.CodeGranter, a Authorization, tok *provider.Token, err error,
	hint string) (*provider.Token, error) {
	if err != nil {
		if tok != nil {
			e.RevokeQuietly(ctx, cg, a.Holder, "", tok.RefreshToken)
		}
		return nil, err
	}
	UpstreamOf(cg).Minted()
	if tok.RefreshToken == "" {
		// No grant to keep: the unleased access token goes.
		_, name := Holder(a.Holder)
		e.RevokeQuietly(ctx, cg, a.Holder, tok.AccessToken, "")
		return nil, UserErr("the provider issued no refresh token, so Vault cannot mint tokens for role %q later; "+
			"enable the refresh_token grant for the client upstream%s", name, hint)
	}
	return tok, nil
}

// deviceTokens polls the token endpoint once with a's device code (RFC
// 8628 §3.4). Refusals come back unchanged, for the poller to read their
// code; what a refresh-less answer yielded is revoked.
func (e *Mount) deviceTokens(ctx context.Context, cg provider.CodeGranter, a Authorization) (*provider.Token, error) {
	dg, ok := cg.(provider.DeviceGranter)
	if !ok {
		return nil, UserErr("the provider of config %q does not offer the device grant", a.Config)
	}
	tok, err := dg.DevicePoll(ctx, a.DeviceCode)
	return e.grantAnswered(ctx, cg, a, tok, err, " (OpenID providers may want the offline_access scope)")
}

// DropRoleToken forgets a holder's user authorization and, best effort,
// revokes its refresh token upstream so it does not outlive the holder.
func (e *Mount) DropRoleToken(ctx context.Context, s logical.Storage, name string) error {
	lock := e.RoleLock(name)
	lock.Lock()
	defer lock.Unlock()
	rt, err := e.LoadRoleToken(ctx, s, name)
	if err != nil || rt == nil {
		return err
	}
	if acct, err := e.Account(ctx, s, rt.Config); err == nil && acct != nil && e.GrantedBy(rt, acct.Entry, acct.Eff) {
		e.RevokeQuietly(ctx, acct.Client, name, "", rt.RefreshToken)
	}
	if err := s.Delete(ctx, RoleTokenPrefix+name); err != nil {
		return fmt.Errorf("deleting the authorization of role %q: %w", name, err)
	}
	e.Logger.Info("role authorization dropped", "role", name)
	return nil
}
