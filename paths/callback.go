package paths

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/userauth"
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
	p, err := e.takeState(ctx, req.Storage, state)
	if err != nil {
		return nil, err
	}
	code, err := redirectCode(d, p)
	if err != nil {
		return nil, err
	}
	// From here the upstream acts: a browser that goes away must not stop
	// Vault between the exchange and storing what it yielded.
	ctx = context.WithoutCancel(ctx)
	what, name := lifecycle.Holder(p.Role)
	now, err := e.CompleteAuthorization(ctx, req.Storage, lifecycle.Authorization{Holder: p.Role, Config: p.Config,
		Code: code, Verifier: p.Verifier, RedirectURL: p.RedirectURL, Scopes: p.Scopes, ScopesSet: p.ScopesSet})
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(p.Role, lifecycle.StaticHolderPrefix) {
		// The first token comes from the new authorization.
		e.RotateAuthorized(ctx, req.Storage, name)
	}
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

// takeState uses up a pending authorization: it is taken and deleted
// under its lock before anything else, so a replay racing the first use
// finds nothing, and an expired one is refused.
func (e *Env) takeState(ctx context.Context, s logical.Storage, state string) (*userauth.PendingAuth, error) {
	key := userauth.StateKey(state)
	lock := e.StateLock(key)
	lock.Lock()
	p, err := lifecycle.GetJSON[userauth.PendingAuth](ctx, s, key, "authorization state")
	if err == nil && p != nil && p.DeviceCode == "" {
		err = s.Delete(ctx, key)
	}
	lock.Unlock()
	if err != nil {
		return nil, err
	}
	if p == nil || p.DeviceCode != "" {
		return nil, lifecycle.UserErr("state is unknown or was used already; run authorize/<role> again for a new url")
	}
	if !e.Now().Before(p.ExpiresAt) {
		_, name := lifecycle.Holder(p.Role)
		return nil, lifecycle.UserErr("state expired at %s (it lives %s); run authorize/%s again",
			p.ExpiresAt.Format(time.RFC3339), userauth.StateLifetime, name)
	}
	return p, nil
}

// redirectCode is the code the provider's redirect carries, or the error
// it reported instead.
func redirectCode(d *framework.FieldData, p *userauth.PendingAuth) (string, error) {
	what, name := lifecycle.Holder(p.Role)
	if pe := d.Get("error").(string); pe != "" {
		if pe == "access_denied" {
			return "", lifecycle.UserErr("error=access_denied: the user did not authorize %s %q at the provider; "+
				"run authorize/%s again to retry", what, name, name)
		}
		return "", lifecycle.UserErr("error=%s: the provider refused the authorization of %s %q (%s)", safeCode(pe), what, name,
			safeCode(d.Get("error_description").(string)))
	}
	code := d.Get("code").(string)
	if code == "" {
		return "", lifecycle.UserErr("code is missing from the provider's redirect; run authorize/%s again", name)
	}
	return code, nil
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
