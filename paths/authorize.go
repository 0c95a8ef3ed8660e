package paths

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/oauth2"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// The authorization code flow: authorize/:role hands out the provider's
// authorize URL with a fresh state and PKCE challenge; the provider sends
// the browser to callback, which exchanges the code and keeps the refresh
// token on the role. creds/:role then uses the refresh token.
const (
	// statePrefix holds pending authorizations under the sha256 of their
	// state, so the state itself is never a storage key.
	statePrefix = "oauth-state/"
	// roleTokenPrefix holds a role's refresh token, apart from the role so
	// that reading or rewriting the role never touches it.
	roleTokenPrefix = "role-tokens/"
	// StateLifetime is how long an authorize URL may be used.
	StateLifetime = 10 * time.Minute
)

// pendingAuth is one authorize/:role call waiting for its callback.
type pendingAuth struct {
	Role        string    `json:"role"`
	Config      string    `json:"config"`
	Verifier    string    `json:"verifier"`
	RedirectURL string    `json:"redirect_url"`
	ExpiresAt   time.Time `json:"expires_at"`
}

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

func (e *Env) authorizePaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "authorize/" + framework.GenericNameRegex("name") + "$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationVerb: "authorize", OperationSuffix: "role"},
			Fields: map[string]*framework.FieldSchema{
				"name": {Type: framework.TypeString, Required: true, Description: "Name of an authorization_code role."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: forwarded(&framework.PathOperation{
					Callback: strict(e.authorize),
					Summary:  "Start a user authorization: returns the provider URL to open in a browser.",
					Responses: map[int][]framework.Response{200: {{
						Description: "The URL to open.",
						Fields: map[string]*framework.FieldSchema{
							"url":        {Type: framework.TypeString, Description: "The provider's authorize URL, with client_id, redirect_uri, scope, state and a PKCE S256 challenge."},
							"state":      {Type: framework.TypeString, Description: "The state the callback must carry back; one use."},
							"expires_at": {Type: framework.TypeString, Description: "When the state expires, RFC 3339 (10 minutes)."},
						},
					}}},
				}),
			},
			HelpSynopsis: "Start the authorization code flow for a role.",
			HelpDescription: `Returns the provider's authorize URL for an authorization_code role. Open it
in a browser and log in: the provider sends the browser to the role's
redirect_url (this mount's callback path), and Vault keeps the refresh token
on the role. The URL carries a random state (256 bits, one use, valid 10
minutes) and a PKCE S256 challenge.`,
		},
		{
			Pattern:      "callback$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationSuffix: "callback"},
			Fields: map[string]*framework.FieldSchema{
				"code": {Type: framework.TypeString, Description: "The authorization code the provider issued.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Code", Sensitive: true}},
				"state": {Type: framework.TypeString, Description: "The state from authorize/:role.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "State"}},
				"error": {Type: framework.TypeString, Description: "The provider's error, e.g. access_denied.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Error"}},
				"error_description": {Type: framework.TypeString, Description: "The provider's description of the error.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Error description"}},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation:   forwarded(&framework.PathOperation{Callback: edge(e.callback), Summary: "Receive the provider's redirect (GET)."}),
				logical.UpdateOperation: forwarded(&framework.PathOperation{Callback: edge(e.callback), Summary: "Receive the provider's redirect (POST)."}),
			},
			HelpSynopsis: "The redirect target of the authorization code flow; needs no Vault token.",
			HelpDescription: `The provider sends the user's browser here with code and state. A state
that authorize/:role issued, unused and unexpired, lets Vault exchange the
code and store the refresh token on the role; anything else is a 400 and
changes nothing. Other parameters the provider adds are ignored.`,
		},
	}
}

func stateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return statePrefix + hex.EncodeToString(sum[:])
}

func (e *Env) authorize(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	role, err := e.loadRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, userErr("role %q does not exist", name)
	}
	if role.GrantType != provider.GrantAuthorizationCode {
		return nil, userErr("role %q uses grant_type %s, which needs no user authorization; authorize is for authorization_code roles",
			name, role.GrantType)
	}
	cfg, err := e.loadConfig(ctx, req.Storage, role.Config)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("role %q: %w: %q", name, errNoConfig, role.Config)
	}
	if eff, _ := provider.Effective(cfg.Config); eff.AuthorizeURL == "" {
		return nil, userErr("config %q has no authorize_url; write one to config/%s before authorizing role %q",
			role.Config, role.Config, name)
	}
	cg, err := e.codeGranter(role.Config, cfg)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	state := base64.RawURLEncoding.EncodeToString(raw)
	p := pendingAuth{Role: name, Config: role.Config, Verifier: oauth2.GenerateVerifier(), RedirectURL: role.RedirectURL,
		ExpiresAt: e.Now().Add(StateLifetime).UTC()}
	entry, err := logical.StorageEntryJSON(stateKey(state), p)
	if err != nil {
		return nil, err
	}
	pendingLock := locksFor(e.stateLocks, "role/"+name)
	pendingLock.Lock()
	defer pendingLock.Unlock()
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing the authorization state: %w", err)
	}
	if err := e.capPendingStates(ctx, req.Storage, name); err != nil {
		return nil, err
	}
	e.Logger.Info("authorization started", "role", name, "config", role.Config)
	return &logical.Response{Data: map[string]any{
		"url":        cg.AuthCodeURL(state, p.Verifier, role.RedirectURL, roleScopes(role, cfg)),
		"state":      state,
		"expires_at": p.ExpiresAt.Format(time.RFC3339),
	}}, nil
}

// MaxPendingStates bounds the authorization states one role may have
// waiting; the oldest go first.
const MaxPendingStates = 20

// capPendingStates drops a role's oldest pending states beyond
// MaxPendingStates, so repeated authorize calls cannot fill storage.
func (e *Env) capPendingStates(ctx context.Context, s logical.Storage, role string) error {
	keys, err := s.List(ctx, statePrefix)
	if err != nil {
		return err
	}
	type pending struct {
		key     string
		expires time.Time
	}
	var mine []pending
	for _, k := range keys {
		p, err := getJSON[pendingAuth](ctx, s, statePrefix+k, "authorization state")
		if err != nil {
			return err
		}
		if p != nil && p.Role == role {
			mine = append(mine, pending{statePrefix + k, p.ExpiresAt})
		}
	}
	if len(mine) <= MaxPendingStates {
		return nil
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].expires.Before(mine[j].expires) })
	for _, p := range mine[:len(mine)-MaxPendingStates] {
		if err := s.Delete(ctx, p.key); err != nil {
			return fmt.Errorf("dropping an old authorization state: %w", err)
		}
	}
	return nil
}

// callback is unauthenticated: everything it does hangs on a state that
// an authenticated authorize call stored.
func (e *Env) callback(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	state := d.Get("state").(string)
	if state == "" {
		return nil, userErr("state is missing; open the url from authorize/<role> to start again")
	}
	// Before the state is used up: a node that cannot write hands the
	// request, state intact, to one that can.
	if err := e.ensureWritable(); err != nil {
		return nil, err
	}
	key := stateKey(state)
	// One use: the state is taken under its lock before anything else, so
	// a replay racing the first use finds nothing.
	lock := locksFor(e.stateLocks, key)
	lock.Lock()
	p, err := getJSON[pendingAuth](ctx, req.Storage, key, "authorization state")
	if err == nil && p != nil {
		err = req.Storage.Delete(ctx, key)
	}
	lock.Unlock()
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, userErr("state is unknown or was used already; run authorize/<role> again for a new url")
	}
	if !e.Now().Before(p.ExpiresAt) {
		return nil, userErr("state expired at %s (it lives %s); run authorize/%s again",
			p.ExpiresAt.Format(time.RFC3339), StateLifetime, p.Role)
	}
	if pe := d.Get("error").(string); pe != "" {
		if pe == "access_denied" {
			return nil, userErr("error=access_denied: the user did not authorize role %q at the provider; "+
				"run authorize/%s again to retry", p.Role, p.Role)
		}
		return nil, userErr("error=%s: the provider refused the authorization of role %q (%s)", safeCode(pe), p.Role,
			safeCode(d.Get("error_description").(string)))
	}
	code := d.Get("code").(string)
	if code == "" {
		return nil, userErr("code is missing from the provider's redirect; run authorize/%s again", p.Role)
	}

	// From here the upstream acts: a browser that goes away must not stop
	// Vault between the exchange and storing what it yielded.
	ctx = context.WithoutCancel(ctx)
	roleLock := locksFor(e.roleLocks, p.Role)
	roleLock.Lock()
	defer roleLock.Unlock()
	role, err := e.loadRole(ctx, req.Storage, p.Role)
	if err != nil {
		return nil, err
	}
	if role == nil || role.Config != p.Config || role.GrantType != provider.GrantAuthorizationCode {
		return nil, userErr("role %q was deleted or changed since authorize; run authorize/%s again", p.Role, p.Role)
	}
	cfg, err := e.loadConfig(ctx, req.Storage, p.Config)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("role %q: %w: %q", p.Role, errNoConfig, p.Config)
	}
	cg, err := e.codeGranter(p.Config, cfg)
	if err != nil {
		return nil, err
	}
	previous, err := e.loadRoleToken(ctx, req.Storage, p.Role)
	if err != nil {
		return nil, err
	}
	tok, err := cg.Exchange(ctx, code, p.Verifier, p.RedirectURL)
	if err != nil {
		e.Logger.Warn("code exchange failed", "role", p.Role, "config", p.Config, "error", err)
		if tok != nil {
			e.revokeQuietly(ctx, cg, p.Role, "", tok.RefreshToken)
		}
		if provider.IsRefusal(err) {
			return nil, userErr("the provider refused the code: %s; run authorize/%s again", err, p.Role)
		}
		return nil, err
	}
	// The access token from the exchange is leased to no one.
	defer e.revokeQuietly(ctx, cg, p.Role, tok.AccessToken, "")
	if tok.RefreshToken == "" {
		return nil, userErr("the provider issued no refresh token, so Vault cannot mint tokens for role %q later; "+
			"enable the refresh_token grant for the client upstream", p.Role)
	}
	now := e.Now().UTC()
	eff, err := provider.Effective(cfg.Config)
	if err != nil {
		return nil, err
	}
	if err := e.storeRoleToken(ctx, req.Storage, p.Role, &roleToken{Config: p.Config, Issuer: issuerOf(eff),
		RefreshToken: tok.RefreshToken, AuthorizedAt: now}); err != nil {
		e.revokeQuietly(ctx, cg, p.Role, "", tok.RefreshToken)
		return nil, err
	}
	// A new authorization replaces the old one, which must not linger.
	if previous != nil && previous.RefreshToken != tok.RefreshToken && e.grantedBy(previous, cfg, eff) {
		e.revokeQuietly(ctx, cg, p.Role, "", previous.RefreshToken)
	}
	e.Logger.Info("role authorized", "role", p.Role, "config", p.Config, "replaced", previous != nil)
	return &logical.Response{Data: map[string]any{
		"role":          p.Role,
		"authorized_at": now.Format(time.RFC3339),
		"message":       fmt.Sprintf("Vault holds the authorization of role %q; read creds/%s for tokens. You may close this window.", p.Role, p.Role),
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
	if rt == nil || rt.Config != cfgName {
		return nil, false, userErr("role %q holds no user authorization yet; run vault write -f <mount>/authorize/%s "+
			"and open the url it returns", roleName, roleName)
	}
	eff, err := provider.Effective(cfg.Config)
	if err != nil {
		return nil, false, err
	}
	if !e.grantedBy(rt, cfg, eff) {
		return nil, false, userErr("role %q was authorized at another issuer than config %q points at now; run authorize/%s again",
			roleName, cfgName, roleName)
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
				"access was withdrawn): %s; run authorize/%s again", err, roleName)
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
