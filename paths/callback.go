package paths

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// callback is unauthenticated: everything it does hangs on a state that
// an authenticated authorize call stored.
func (e *Env) callback(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	state := d.Get("state").(string)
	if state == "" {
		return nil, lifecycle.UserErr("state is missing; open the url from authorize/<role> to start again")
	}
	// Before the state is used up: a node that cannot write hands the
	// request, state intact, to one that can.
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	key := StateKey(state)
	// One use: the state is taken under its lock before anything else, so
	// a replay racing the first use finds nothing.
	lock := e.StateLock(key)
	lock.Lock()
	p, err := lifecycle.GetJSON[PendingAuth](ctx, req.Storage, key, "authorization state")
	if err == nil && p != nil {
		err = req.Storage.Delete(ctx, key)
	}
	lock.Unlock()
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, lifecycle.UserErr("state is unknown or was used already; run authorize/<role> again for a new url")
	}
	what, name := lifecycle.Holder(p.Role)
	if !e.Now().Before(p.ExpiresAt) {
		return nil, lifecycle.UserErr("state expired at %s (it lives %s); run authorize/%s again",
			p.ExpiresAt.Format(time.RFC3339), StateLifetime, name)
	}
	if pe := d.Get("error").(string); pe != "" {
		if pe == "access_denied" {
			return nil, lifecycle.UserErr("error=access_denied: the user did not authorize %s %q at the provider; "+
				"run authorize/%s again to retry", what, name, name)
		}
		return nil, lifecycle.UserErr("error=%s: the provider refused the authorization of %s %q (%s)", safeCode(pe), what, name,
			safeCode(d.Get("error_description").(string)))
	}
	code := d.Get("code").(string)
	if code == "" {
		return nil, lifecycle.UserErr("code is missing from the provider's redirect; run authorize/%s again", name)
	}

	// From here the upstream acts: a browser that goes away must not stop
	// Vault between the exchange and storing what it yielded.
	ctx = context.WithoutCancel(ctx)
	authorized := false
	if strings.HasPrefix(p.Role, lifecycle.StaticHolderPrefix) {
		// After the role lock goes: the first token comes from the new
		// authorization.
		defer func() {
			if authorized {
				e.RotateAuthorized(ctx, req.Storage, name)
			}
		}()
	}
	roleLock := e.RoleLock(p.Role)
	roleLock.Lock()
	defer roleLock.Unlock()
	role, err := e.CodeHolder(ctx, req.Storage, p.Role)
	if err != nil {
		return nil, err
	}
	if role == nil || role.Config != p.Config || role.GrantType != provider.GrantAuthorizationCode {
		return nil, lifecycle.UserErr("%s %q was deleted or changed since authorize; run authorize/%s again", what, name, name)
	}
	cfg, err := e.LoadConfig(ctx, req.Storage, p.Config)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("role %q: %w: %q", p.Role, lifecycle.ErrNoConfig, p.Config)
	}
	cg, err := e.CodeGranter(p.Config, cfg)
	if err != nil {
		return nil, err
	}
	previous, err := e.LoadRoleToken(ctx, req.Storage, p.Role)
	if err != nil {
		return nil, err
	}
	tok, err := cg.Exchange(ctx, code, p.Verifier, p.RedirectURL)
	if err != nil {
		e.Logger.Warn("code exchange failed", "role", p.Role, "config", p.Config, "error", err)
		if tok != nil {
			e.RevokeQuietly(ctx, cg, p.Role, "", tok.RefreshToken)
		}
		if provider.IsRefusal(err) {
			return nil, lifecycle.UserErr("the provider refused the code: %s; run authorize/%s again", err, name)
		}
		return nil, err
	}
	lifecycle.UpstreamOf(cg).Minted()
	if tok.RefreshToken == "" {
		// No grant to keep: the unleased access token goes.
		e.RevokeQuietly(ctx, cg, p.Role, tok.AccessToken, "")
		return nil, lifecycle.UserErr("the provider issued no refresh token, so Vault cannot mint tokens for role %q later; "+
			"enable the refresh_token grant for the client upstream", name)
	}
	// The access token from the exchange is leased to no one: revoked
	// where that cannot cost the role the refresh token stored below.
	if !lifecycle.SpareUserGrant(provider.GrantAuthorizationCode, cfg) {
		defer e.RevokeQuietly(ctx, cg, p.Role, tok.AccessToken, "")
	}
	now := e.Now().UTC()
	eff, err := provider.Effective(cfg.Config)
	if err != nil {
		return nil, err
	}
	if err := e.StoreRoleToken(ctx, req.Storage, p.Role, &lifecycle.RoleToken{Config: p.Config, Issuer: lifecycle.IssuerOf(eff),
		RefreshToken: tok.RefreshToken, AuthorizedAt: now}); err != nil {
		e.RevokeQuietly(ctx, cg, p.Role, "", tok.RefreshToken)
		return nil, err
	}
	// A new authorization replaces the old one, which must not linger.
	if previous != nil && previous.RefreshToken != tok.RefreshToken && e.GrantedBy(previous, cfg, eff) {
		e.RevokeQuietly(ctx, cg, p.Role, "", previous.RefreshToken)
	}
	e.Logger.Info("role authorized", "role", p.Role, "config", p.Config, "replaced", previous != nil)
	authorized = true
	read := "creds/" + name
	if what != "role" {
		read = "static-creds/" + name
	}
	return &logical.Response{Data: map[string]any{
		"role":          name,
		"authorized_at": now.Format(time.RFC3339),
		"message":       fmt.Sprintf("Vault holds the authorization of %s %q; read %s for tokens. You may close this window.", what, name, read),
	}}, nil
}

// safeCode keeps a provider-sent string short and printable before it goes
// into an error.
func safeCode(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}
