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
	"github.com/acquia-vault/vault-plugin-secrets-acquia/userauth"
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
				"flow": {Type: framework.TypeString, Default: flowCode, AllowedValues: []any{flowCode, flowDevice},
					DisplayAttrs: &framework.DisplayAttributes{Name: "Flow"},
					Description: "code (default): the authorization code flow through this mount's callback. device: the device " +
						"authorization grant (RFC 8628, oauth2 with device_authorization_url), for a browser that cannot reach Vault: " +
						"the answer holds a user_code to enter at verification_uri, and the active node polls for the tokens."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: forwarded(&framework.PathOperation{
					Callback: strict(e.authorize),
					Summary:  "Start a user authorization: returns the provider URL to open in a browser, or a user code (flow=device).",
					Responses: map[int][]framework.Response{200: {{
						Description: "flow=code: the URL to open. flow=device: the user code and where to enter it.",
						Fields:      authorizeResponseFields(),
					}}},
				}),
			},
			HelpSynopsis: "Start the authorization code flow for a role.",
			HelpDescription: `Returns the provider's authorize URL for an authorization_code role. Open it
in a browser and log in: the provider sends the browser to the role's
redirect_url (this mount's callback path), and Vault keeps the refresh token
on the role. The URL carries a random state (256 bits, one use, valid 10
minutes) and a PKCE S256 challenge.

With flow=device (oauth2 configs with device_authorization_url), Vault asks
the provider for a device code instead (RFC 8628) and answers user_code,
verification_uri, verification_uri_complete (when the provider gives one),
expires_in and interval: the user enters the code at verification_uri on any
device, while the active node polls the token endpoint every interval
seconds and keeps the refresh token on the role once the user approves.
Nothing is stored when the user denies or the code expires. A role has at
most 20 authorizations pending; the oldest go first.`,
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

// The two ways authorize/<role> starts a user authorization.
const (
	flowCode   = "code"
	flowDevice = "device"
)

func authorizeResponseFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"url":        {Type: framework.TypeString, Description: "flow=code: the provider's authorize URL, with client_id, redirect_uri, scope, state and a PKCE S256 challenge."},
		"state":      {Type: framework.TypeString, Description: "flow=code: the state the callback must carry back; one use."},
		"expires_at": {Type: framework.TypeString, Description: "When the authorization expires, RFC 3339 (flow=code: 10 minutes; flow=device: the provider's expires_in)."},
		"user_code": {Type: framework.TypeString,
			Description: "flow=device: the code the user enters at verification_uri (RFC 8628 §3.2)."},
		"verification_uri": {Type: framework.TypeString,
			Description: "flow=device: where the user enters user_code, on any device."},
		"verification_uri_complete": {Type: framework.TypeString,
			Description: "flow=device: verification_uri with the user code in it, when the provider gives one (for a link or QR code)."},
		"expires_in": {Type: framework.TypeInt,
			Description: "flow=device: seconds until the user code expires."},
		"interval": {Type: framework.TypeInt,
			Description: "flow=device: seconds between Vault's polls of the token endpoint (the provider's; slow_down adds 5)."},
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
	switch flow := d.Get("flow").(string); flow {
	case flowDevice:
		return e.authorizeDevice(ctx, req, key, role, acct)
	case flowCode:
		return e.authorizeCode(ctx, req, key, role, acct)
	default:
		return nil, lifecycle.BadField("flow", "%q is not a flow; use code (the default) or device", safeCode(flow))
	}
}

// authorizeCode starts the authorization code flow: a state and a PKCE
// verifier kept for the callback, and the provider's authorize URL.
func (e *Env) authorizeCode(ctx context.Context, req *logical.Request, key string, role *lifecycle.RoleEntry,
	acct *lifecycle.Account) (*logical.Response, error) {
	_, name := lifecycle.Holder(key)
	if role.RedirectURL == "" {
		return nil, lifecycle.UserErr("role %q has no redirect_url, so only flow=device can authorize it; "+
			"run authorize/%s flow=device, or write redirect_url to the role", name, name)
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
	now := e.Now().UTC()
	p := userauth.PendingAuth{Role: key, Config: role.Config, Verifier: oauth2.GenerateVerifier(), RedirectURL: role.RedirectURL,
		ExpiresAt: now.Add(userauth.StateLifetime), Created: now, Scopes: lifecycle.RoleScopes(role, acct.Entry), ScopesSet: true}
	entry, err := logical.StorageEntryJSON(userauth.StateKey(state), p)
	if err != nil {
		return nil, err
	}
	pendingLock := e.StateLock("role/" + key)
	pendingLock.Lock()
	defer pendingLock.Unlock()
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing the authorization state: %w", err)
	}
	if err := e.CapPendingStates(ctx, req.Storage, key, userauth.StateKey(state)); err != nil {
		return nil, err
	}
	e.Logger.Info("authorization started", "role", name, "config", role.Config)
	return &logical.Response{Data: map[string]any{
		"url":        cg.AuthCodeURL(state, p.Verifier, role.RedirectURL, lifecycle.RoleScopes(role, acct.Entry)),
		"state":      state,
		"expires_at": p.ExpiresAt.Format(time.RFC3339),
	}}, nil
}

func (e *Env) authorizeDevice(ctx context.Context, req *logical.Request, key string, role *lifecycle.RoleEntry,
	acct *lifecycle.Account) (*logical.Response, error) {
	_, name := lifecycle.Holder(key)
	if acct.Eff.DeviceAuthorizationURL == "" {
		return nil, lifecycle.UserErr("config %q has no device_authorization_url; write one to config/%s before authorizing role %q with flow=device",
			role.Config, role.Config, name)
	}
	cg, err := acct.CodeGranter()
	if err != nil {
		return nil, err
	}
	dg, ok := cg.(provider.DeviceGranter)
	if !ok {
		return nil, lifecycle.UserErr("the provider of config %q does not offer the device grant", role.Config)
	}
	// The device code must be polled for by a node that can write; the
	// request was forwarded to one, and here it is checked.
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	da, err := dg.DeviceAuthorize(ctx, lifecycle.RoleScopes(role, acct.Entry))
	if err != nil {
		e.Logger.Warn("device authorization failed", "role", name, "config", role.Config, "error", err)
		return nil, err
	}
	now := e.Now().UTC()
	lifetime := da.ExpiresIn
	if lifetime <= 0 || lifetime > userauth.MaxDeviceLifetime {
		lifetime = min(userauth.MaxDeviceLifetime, max(lifetime, userauth.StateLifetime))
	}
	p := userauth.PendingAuth{Role: key, Config: role.Config, DeviceCode: da.DeviceCode, Interval: da.Interval,
		ExpiresAt: now.Add(lifetime), NextPoll: now.Add(da.Interval), Created: now,
		Scopes: lifecycle.RoleScopes(role, acct.Entry), ScopesSet: true}
	stateKey, err := e.StorePending(ctx, req.Storage, key, &p)
	if err != nil {
		return nil, err
	}
	e.ScheduleDevice(req.Storage, stateKey, p.PollAt())
	e.Logger.Info("device authorization started", "role", name, "config", role.Config,
		"expires_at", p.ExpiresAt.Format(time.RFC3339), "interval", da.Interval.String())
	data := map[string]any{
		"user_code":        da.UserCode,
		"verification_uri": da.VerificationURI,
		"expires_in":       int64(lifetime / time.Second),
		"interval":         int64(da.Interval / time.Second),
		"expires_at":       p.ExpiresAt.Format(time.RFC3339),
	}
	if da.VerificationURIComplete != "" {
		data["verification_uri_complete"] = da.VerificationURIComplete
	}
	return &logical.Response{Data: data}, nil
}
