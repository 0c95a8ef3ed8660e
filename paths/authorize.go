package paths

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/oauth2"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// The authorization code flow: authorize/:role hands out the provider's
// authorize URL with a fresh state and PKCE challenge; the provider sends
// the browser to callback (callback.go), which exchanges the code and keeps
// the refresh token on the role (lifecycle/user_authorization.go). creds/:role then
// uses the refresh token.

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

func (e *Env) authorize(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	// A role of that name, or else a static role.
	key := name
	role, err := e.LoadRole(ctx, req.Storage, name)
	if err == nil && role == nil {
		key = lifecycle.StaticHolder(name)
		role, err = e.CodeHolder(ctx, req.Storage, key)
	}
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, lifecycle.UserErr("neither a role nor a static role %q exists", name)
	}
	what, _ := lifecycle.Holder(key)
	if role.GrantType != provider.GrantAuthorizationCode {
		return nil, lifecycle.UserErr("%s %q uses grant_type %s, which needs no user authorization; authorize is for authorization_code roles",
			what, name, role.GrantType)
	}
	acct, err := e.Account(ctx, req.Storage, role.Config)
	if err != nil {
		return nil, err
	}
	if acct == nil {
		return nil, fmt.Errorf("role %q: %w: %q", name, lifecycle.ErrNoConfig, role.Config)
	}
	if acct.Eff.AuthorizeURL == "" {
		return nil, lifecycle.UserErr("config %q has no authorize_url; write one to config/%s before authorizing role %q",
			role.Config, role.Config, name)
	}
	cg, err := acct.CodeGranter()
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	state := base64.RawURLEncoding.EncodeToString(raw)
	p := PendingAuth{Role: key, Config: role.Config, Verifier: oauth2.GenerateVerifier(), RedirectURL: role.RedirectURL,
		ExpiresAt: e.Now().Add(StateLifetime).UTC()}
	entry, err := logical.StorageEntryJSON(StateKey(state), p)
	if err != nil {
		return nil, err
	}
	pendingLock := e.StateLock("role/" + key)
	pendingLock.Lock()
	defer pendingLock.Unlock()
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing the authorization state: %w", err)
	}
	if err := e.CapPendingStates(ctx, req.Storage, key); err != nil {
		return nil, err
	}
	e.Logger.Info("authorization started", "role", name, "config", role.Config)
	return &logical.Response{Data: map[string]any{
		"url":        cg.AuthCodeURL(state, p.Verifier, role.RedirectURL, lifecycle.RoleScopes(role, acct.Entry)),
		"state":      state,
		"expires_at": p.ExpiresAt.Format(time.RFC3339),
	}}, nil
}
