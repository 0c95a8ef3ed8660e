package paths

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/oauth2"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// The authorization code flow: authorize/:role hands out the provider's
// authorize URL with a fresh state and PKCE challenge; the provider sends
// the browser to callback (callback.go), which exchanges the code and keeps
// the refresh token on the role (user_authorization.go). creds/:role then
// uses the refresh token.

// StateLifetime is how long an authorize URL may be used.
const StateLifetime = 10 * time.Minute

// pendingAuth is one authorize/:role call waiting for its callback.
type pendingAuth struct {
	Role        string    `json:"role"`
	Config      string    `json:"config"`
	Verifier    string    `json:"verifier"`
	RedirectURL string    `json:"redirect_url"`
	ExpiresAt   time.Time `json:"expires_at"`
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
	// A role of that name, or else a static role.
	key := name
	role, err := e.loadRole(ctx, req.Storage, name)
	if err == nil && role == nil {
		key = staticHolder(name)
		role, err = e.codeHolder(ctx, req.Storage, key)
	}
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, userErr("neither a role nor a static role %q exists", name)
	}
	what, _ := holder(key)
	if role.GrantType != provider.GrantAuthorizationCode {
		return nil, userErr("%s %q uses grant_type %s, which needs no user authorization; authorize is for authorization_code roles",
			what, name, role.GrantType)
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
	p := pendingAuth{Role: key, Config: role.Config, Verifier: oauth2.GenerateVerifier(), RedirectURL: role.RedirectURL,
		ExpiresAt: e.Now().Add(StateLifetime).UTC()}
	entry, err := logical.StorageEntryJSON(stateKey(state), p)
	if err != nil {
		return nil, err
	}
	pendingLock := locksFor(e.stateLocks, "role/"+key)
	pendingLock.Lock()
	defer pendingLock.Unlock()
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing the authorization state: %w", err)
	}
	if err := e.capPendingStates(ctx, req.Storage, key); err != nil {
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
		if unreadable(err) {
			e.Logger.Warn("skipping an authorization state that cannot be read (an interrupted storage write leaves one)",
				"error", err)
			continue
		}
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

// PruneStates deletes authorization states past their expiry, so abandoned
// authorize calls do not pile up. Vault runs periodic functions on
// performance standbys and secondaries too, which cannot write: those skip.
func (e *Env) PruneStates(ctx context.Context, req *logical.Request) error {
	if e.ensureWritable() != nil {
		return nil
	}
	keys, err := req.Storage.List(ctx, statePrefix)
	if err != nil {
		return err
	}
	now := e.Now()
	for _, k := range keys {
		p, err := getJSON[pendingAuth](ctx, req.Storage, statePrefix+k, "authorization state")
		if err != nil {
			e.Logger.Warn("skipping an unreadable authorization state", "error", err)
			continue
		}
		if p != nil && !now.Before(p.ExpiresAt) {
			if err := req.Storage.Delete(ctx, statePrefix+k); err != nil {
				return err
			}
		}
	}
	return nil
}
