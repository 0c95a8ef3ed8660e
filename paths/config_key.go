package paths

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// The client's key for auth_style=private_key_jwt: written (private_key)
// or made here (generate_key=true), never returned; config/<name>/jwks
// serves its public half.

// keyGiven reports whether the write brings a new key.
func keyGiven(req *logical.Request) bool {
	_, written := req.Data[fPrivateKey]
	return written || generateAsked(req)
}

// generateAsked reports whether the write holds generate_key=true, in
// any of the forms Vault's bool fields take.
func generateAsked(req *logical.Request) bool {
	d := &framework.FieldData{Raw: req.Data, Schema: map[string]*framework.FieldSchema{fGenerateKey: {Type: framework.TypeBool}}}
	v, ok, err := d.GetOkErr(fGenerateKey)
	return err == nil && ok && v.(bool)
}

// applyClientKey settles the key fields of a write, after the fields were
// applied: generate_key, what a change of auth_style leaves behind, and
// the refusals no single field can make. generated says a key was made.
func applyClientKey(cfg *lifecycle.ConfigEntry, existing *lifecycle.ConfigEntry, req *logical.Request,
	d *framework.FieldData) (generated bool, err error) {
	_, pemGiven := req.Data[fPrivateKey]
	generate := d.Get(fGenerateKey).(bool)
	spec, _ := provider.Lookup(cfg.Provider)
	switch {
	case cfg.UsesAssertion() && !spec.Takes(fPrivateKey):
		return false, lifecycle.BadField(fAuthStyle, "%s is for provider oauth2; provider %s takes body or basic",
			provider.AuthStylePrivateKeyJWT, cfg.Provider)
	case generate && pemGiven:
		return false, lifecycle.BadField(fGenerateKey, "give private_key or generate_key=true, not both")
	case (generate || pemGiven) && !cfg.UsesAssertion():
		field := fPrivateKey
		if generate {
			field = fGenerateKey
		}
		return false, lifecycle.BadField(field, "applies only with auth_style=%s; write auth_style=%s with it",
			provider.AuthStylePrivateKeyJWT, provider.AuthStylePrivateKeyJWT)
	}
	leaveStyle(cfg, existing, req)
	if generate {
		if cfg.PrivateKey, err = provider.GenerateKey(); err != nil {
			return false, err
		}
	}
	if _, kidGiven := req.Data[fPrivateKeyID]; (generate || pemGiven) && !kidGiven {
		// A new key gets its own kid, unless one is written with it.
		cfg.PrivateKeyID = ""
	}
	return generate, nil
}

// leaveStyle drops what the config's previous auth_style needed and the
// new one does not take: the client_secret when it moves to
// private_key_jwt, the key and its fields when it moves away. A value
// written in the same request stays, for validation to refuse.
func leaveStyle(cfg *lifecycle.ConfigEntry, existing *lifecycle.ConfigEntry, req *logical.Request) {
	if existing == nil || existing.UsesAssertion() == cfg.UsesAssertion() {
		return
	}
	clear := func(field string, v *string) {
		if _, given := req.Data[field]; !given {
			*v = ""
		}
	}
	if cfg.UsesAssertion() {
		clear(fClientSecret, &cfg.ClientSecret)
		return
	}
	clear(fPrivateKey, &cfg.PrivateKey)
	clear(fPrivateKeyID, &cfg.PrivateKeyID)
	clear(fAssertionAud, &cfg.AssertionAudience)
	clear(fIssuer, &cfg.Issuer)
}

// generatedKeyWarning tells the operator what to do with a new key, and
// turns verification off unless the write asked for it: the server cannot
// know a key made a moment ago.
func generatedKeyWarning(name string, req *logical.Request, verify *bool) string {
	msg := "a new EC P-256 key was generated: register the public key of config/" + name + "/jwks at the authorization " +
		"server for this client_id (token_endpoint_auth_method private_key_jwt)"
	if _, asked := req.Data[fVerify]; !asked {
		*verify = false
		msg += "; the write was not verified, since the server cannot know the key yet: write verify=true afterwards, " +
			"or read a token, to prove it"
	}
	return msg
}

func (e *Env) configJWKSPath() *framework.Path {
	return &framework.Path{
		Pattern:      lifecycle.ConfigPrefix + framework.GenericNameRegex("name") + "/jwks$",
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationVerb: "read", OperationSuffix: "config-jwks"},
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString, Required: true, Description: "Name of the config."},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: edge(e.configJWKS),
				Summary:  "The public key of a private_key_jwt config, as a JWK Set to register at the authorization server.",
				Responses: map[int][]framework.Response{200: {{
					Description: "A JWK Set (RFC 7517 §5) holding the config's public key; never its private part.",
					Fields: map[string]*framework.FieldSchema{
						"keys": {Type: framework.TypeSlice, Description: "One JWK: kty, crv, x, y (EC) or n, e (RSA), kid, " +
							"use (sig) and alg (ES256, ES384, ES512 or RS256)."},
					},
				}}},
			},
		},
		HelpSynopsis: "The public key of an oauth2 config with auth_style=private_key_jwt, as a JWKS.",
		HelpDescription: `Answers {"keys": [jwk]}: the public half of the config's private_key (or of the
key generate_key=true made), with its kid (private_key_id, or the RFC 7638
thumbprint), use=sig and alg. Register it at the authorization server for
the client (token_endpoint_auth_method private_key_jwt), as the client's
jwks. The private key is never returned. A config without a key (another
auth_style) is a 400; a config that does not exist a 404.`,
	}
}

func (e *Env) configJWKS(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	cfg, err := e.LoadConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("config %q does not exist", name))
	}
	if !cfg.UsesAssertion() {
		style := cfg.AuthStyle
		if eff, err := provider.Effective(cfg.Config); err == nil {
			style = eff.AuthStyle
		}
		return nil, lifecycle.UserErr("config %q has no key: it authenticates with auth_style=%s; only oauth2 configs with "+
			"auth_style=%s have one (write it with private_key or generate_key=true)", name, style, provider.AuthStylePrivateKeyJWT)
	}
	jwks, err := provider.PublicJWKS(cfg.Config)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: jwks}, nil
}
