package paths

import (
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/automatedrotationutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// Every config field is described once, in configTable: its schema (and so
// the OpenAPI document), where its value is stored, how a written value is
// checked, what a read returns, and the roles it plays (write-only,
// destination, issuer). Which providers take a field is each provider's
// own Spec.Fields, so that a new provider stays one file in provider/.
//
// A written config is checked here, in the face, and only here: each value
// by its row's check, then the effective (defaulted) config by
// validateEffective, which applies the URL rules and the provider's Spec
// (Required, and the provider's own rules, Validate and ValidateScopes,
// whose FieldErrors become 400s naming the field). The lifecycle takes a
// config only once it passed. TestEveryProviderFieldHasItsRow ties each
// Spec's field names to their rows, and the issuer rows to the lifecycle's
// issuer.

// Config field names.
const (
	fProvider       = "provider"
	fClientID       = "client_id"
	fClientSecret   = "client_secret"
	fUsername       = "username"
	fPassword       = "password"
	fBaseURL        = "base_url"
	fAPIURL         = "api_url"
	fTokenURL       = "token_url"
	fAuthorizeURL   = "authorize_url"
	fRevocationURL  = "revocation_url"
	fDeviceAuthURL  = "device_authorization_url"
	fAuthStyle      = "auth_style"
	fPrivateKey     = "private_key"
	fGenerateKey    = "generate_key"
	fPrivateKeyID   = "private_key_id"
	fAssertionAud   = "assertion_audience"
	fIssuer         = "issuer"
	fScopes         = "scopes"
	fMaxTokens      = "max_tokens"
	fTokenLimitMode = "token_limit_mode"
	fRevokeUser     = "revoke_user_access_tokens"
	fKeyUUID        = "key_uuid"
	fRequestTimeout = "request_timeout"
	fCACert         = "ca_cert"
	fVerify         = "verify"

	// Vault's automated rotation fields (automatedrotationutil), taken by
	// providers whose config can rotate its own credential (cloud).
	fRootRotationPeriod   = "rotation_period"
	fRootRotationSchedule = "rotation_schedule"
	fRootRotationWindow   = "rotation_window"
	fRootRotationDisable  = "disable_automated_rotation"
	fRootRotationPolicy   = "rotation_policy"
)

// rotationFields are the automated rotation fields. They are not rows of
// configTable: their schema, parsing and read shape are Vault's own
// (automatedrotationutil), and they live on configEntry, not on
// provider.Config.
var rotationFields = []string{fRootRotationPeriod, fRootRotationSchedule, fRootRotationWindow, fRootRotationDisable, fRootRotationPolicy}

// rotationFieldDocs are what those fields mean here, in place of the
// helper's generic text.
var rotationFieldDocs = map[string][2]string{
	fRootRotationPeriod: {"Rotation period", "cloud: rotate the API key (config/<name>/rotate) this often, e.g. 720h; at least 1m. " +
		"Vault's rotation manager runs it where Vault has one (Enterprise), the plugin's periodic function otherwise. " +
		"Replaces rotation_schedule."},
	fRootRotationSchedule: {"Rotation schedule", "cloud: cron schedule on which to rotate the API key. Needs Vault's rotation " +
		"manager (Enterprise); Vault Community takes rotation_period only. Replaces rotation_period."},
	fRootRotationWindow: {"Rotation window", "cloud: how long after each rotation_schedule time the rotation may still run " +
		"(with rotation_schedule only)."},
	fRootRotationDisable: {"Disable automated rotation", "cloud: pause automated rotation of the API key, keeping its settings."},
	fRootRotationPolicy:  {"Rotation policy", "cloud: the rotation manager's policy for a failed rotation (Enterprise)."},
}

// minRootRotationPeriod is the shortest rotation_period: the periodic
// function that runs it on Vault Community looks once a minute.
const minRootRotationPeriod = time.Minute

type configField struct {
	name, display, description string
	typ                        framework.FieldType
	def                        any
	// str is the stored value of a string field; nil for other types.
	str func(c *provider.Config) *string
	// apply sets a non-string field from its written value.
	apply func(c *provider.Config, v any) error
	// read is what a read returns for a non-string field.
	read func(c provider.Config) any
	// check validates a written string value (trimmed unless secret).
	check func(field, v string) error

	secret bool // write-only, never trimmed, never logged
	url    bool // checked by the URL rules once defaults are applied
	// writeOnly fields are never returned by a read.
	writeOnly bool
	// destination: where requests, and so the stored secret, go. An update
	// changing one must carry the secret again.
	destination bool
	// issuer: where and as whom tokens are minted and revoked. Frozen while
	// revocable tokens the config issued live.
	issuer bool
}

var configTable = []configField{
	{name: fProvider, display: "Provider", typ: framework.TypeString,
		description: "Upstream: " + strings.Join(provider.Names(), ", ") + ". Required on create; cannot change.",
		str:         func(c *provider.Config) *string { return &c.Provider }},
	{name: fClientID, display: "Client ID", typ: framework.TypeString, issuer: true, check: notEmpty,
		description: "OAuth 2.0 client id (Cloud: the API key). cloud, source, acronis, oauth2.",
		str:         func(c *provider.Config) *string { return &c.ClientID }},
	{name: fClientSecret, display: "Client secret", typ: framework.TypeString, secret: true, writeOnly: true, check: notEmpty,
		description: "OAuth 2.0 client secret (Cloud: the API secret). Write-only: never returned.",
		str:         func(c *provider.Config) *string { return &c.ClientSecret }},
	{name: fUsername, display: "Username", typ: framework.TypeString, issuer: true, check: notEmpty,
		description: "CDP integration user name.",
		str:         func(c *provider.Config) *string { return &c.Username }},
	{name: fPassword, display: "Password", typ: framework.TypeString, secret: true, writeOnly: true, check: notEmpty,
		description: "CDP integration user password. Write-only: never returned.",
		str:         func(c *provider.Config) *string { return &c.Password }},
	{name: fBaseURL, display: "Base URL", typ: framework.TypeString, url: true, destination: true, issuer: true,
		description: "source: the site URL (required); cdp: Authentication Host URL (default " + provider.CDPAuthURL +
			"); acronis: data center URL (required).",
		str: func(c *provider.Config) *string { return &c.BaseURL }},
	{name: fAPIURL, display: "API URL", typ: framework.TypeString, url: true, destination: true,
		description: "cloud: API base URL (default " + provider.CloudAPIURL + "); cdp: API Host URL (informational).",
		str:         func(c *provider.Config) *string { return &c.APIURL }},
	{name: fTokenURL, display: "Token URL", typ: framework.TypeString, url: true, destination: true, issuer: true,
		description: "Token endpoint. Defaults: cloud " + provider.CloudTokenURL +
			"; source {base_url}/oauth/token; acronis {base_url}/bc/idp/token; required for oauth2.",
		str: func(c *provider.Config) *string { return &c.TokenURL }},
	{name: fAuthorizeURL, display: "Authorize URL", typ: framework.TypeString, url: true, destination: true,
		description: "Authorization endpoint for authorization_code roles. source default {base_url}/oauth/authorize.",
		str:         func(c *provider.Config) *string { return &c.AuthorizeURL }},
	{name: fRevocationURL, display: "Revocation URL", typ: framework.TypeString, url: true, destination: true, issuer: true,
		description: "RFC 7009 revocation endpoint. acronis default {base_url}/api/2/idp/revoke_token; optional for source and oauth2.",
		str:         func(c *provider.Config) *string { return &c.RevocationURL }},
	{name: fDeviceAuthURL, display: "Device authorization URL", typ: framework.TypeString, url: true, destination: true,
		description: "oauth2: the RFC 8628 device authorization endpoint, for authorize/<role> with flow=device " +
			"(a user's authorization where the browser cannot reach Vault's callback).",
		str: func(c *provider.Config) *string { return &c.DeviceAuthorizationURL }},
	{name: fAuthStyle, display: "Auth style", typ: framework.TypeString, check: checkAuthStyle,
		description: "How the client authenticates on token requests: body or basic (client_secret in the form body or HTTP " +
			"Basic), or, for oauth2, private_key_jwt (a signed JWT, RFC 7523; needs private_key or generate_key=true). " +
			"Defaults: cloud, source, oauth2 body; acronis basic.",
		str: func(c *provider.Config) *string { return &c.AuthStyle }},
	{name: fPrivateKey, display: "Private key", typ: framework.TypeString, secret: true, writeOnly: true, check: notEmpty,
		description: "oauth2 with auth_style=private_key_jwt: the client's PEM private key, RSA (2048 bits or more; signs RS256) " +
			"or EC P-256/P-384/P-521 (ES256/384/512). Write-only and seal-wrapped: never returned; config/<name>/jwks serves " +
			"its public key. Changing token_url or another destination needs it (or generate_key=true) again.",
		str: func(c *provider.Config) *string { return &c.PrivateKey }},
	{name: fGenerateKey, display: "Generate key", typ: framework.TypeBool, def: false, writeOnly: true,
		description: "oauth2 with auth_style=private_key_jwt: Vault makes a new EC P-256 key in place of private_key, so the " +
			"private key never leaves Vault; register config/<name>/jwks at the server. Without an explicit verify, such a " +
			"write is not verified (the server cannot know the new key yet). Write-only.",
		apply: func(*provider.Config, any) error { return nil }},
	{name: fPrivateKeyID, display: "Private key ID", typ: framework.TypeString,
		description: "oauth2 with auth_style=private_key_jwt: the key's JWK kid, sent in each assertion's header. Default: " +
			"the RFC 7638 thumbprint of the public key (a read shows the kid in use). A new key resets it unless written with it.",
		apply: func(c *provider.Config, v any) error {
			s := strings.TrimSpace(v.(string))
			if err := checkKeyID(fPrivateKeyID, s); err != nil {
				return err
			}
			c.PrivateKeyID = s
			return nil
		},
		read: func(c provider.Config) any { return c.KeyID() }},
	{name: fAssertionAud, display: "Assertion audience", typ: framework.TypeString, check: checkAssertionAudience,
		description: "oauth2 with auth_style=private_key_jwt: the aud of each client assertion: token_url (the default; " +
			"Okta and most servers) or issuer (the issuer field; OpenID Connect's errata and RFC 7523's update).",
		str: func(c *provider.Config) *string { return &c.AssertionAudience }},
	{name: fIssuer, display: "Issuer", typ: framework.TypeString, url: true,
		description: "oauth2 with assertion_audience=issuer: the authorization server's issuer identifier (the issuer of " +
			"its discovery document), used as the aud of client assertions; nothing is sent to it.",
		str: func(c *provider.Config) *string { return &c.Issuer }},
	{name: fScopes, display: "Scopes", typ: framework.TypeCommaStringSlice,
		description: "Default scopes for roles that name none. Cloud: organization:<uuid>.",
		apply:       func(c *provider.Config, v any) error { c.Scopes = cleanScopes(v.([]string)); return nil },
		read:        func(c provider.Config) any { return listOrEmpty(c.Scopes) }},
	{name: fMaxTokens, display: "Max tokens", typ: framework.TypeInt,
		description: "cdp: upstream tokens the plugin may hold for the integration user (default 2: CDP allows 3 per user " +
			"on PROD and UAT and made one when it created the user).",
		apply: func(c *provider.Config, v any) error {
			if v.(int) < 1 {
				return lifecycle.BadField(fMaxTokens, "must be at least 1 (got %d)", v)
			}
			c.MaxTokens = v.(int)
			return nil
		},
		read: func(c provider.Config) any { return c.MaxTokens }},
	{name: fTokenLimitMode, display: "Token limit mode", typ: framework.TypeString,
		description: "cdp: what the tenant does past a user's token limit: keep (default) disables only the oldest tokens " +
			"past it; disable_all disables every earlier token on each create (max_tokens must then be 1, and the config " +
			"serves either one static role or leases).",
		str: func(c *provider.Config) *string { return &c.TokenLimitMode }},
	{name: fRevokeUser, display: "Revoke user access tokens", typ: framework.TypeBool, def: false,
		description: "source, oauth2: revoke upstream the access tokens of authorization_code roles (on lease revoke, and the " +
			"one the code exchange returns). Off by default: RFC 7009 lets a server revoke the refresh token with its access " +
			"token, which would cost the role its authorization; the tokens then expire by themselves. Turn on only where " +
			"revocation_url is set and the server is known not to do that.",
		apply: func(c *provider.Config, v any) error { c.RevokeUserAccessTokens = v.(bool); return nil },
		read:  func(c provider.Config) any { return c.RevokeUserAccessTokens }},
	{name: fKeyUUID, display: "Key UUID", typ: framework.TypeString, check: checkUUID,
		description: "cloud: uuid of the current API key (Cloud UI > API Tokens), so rotate can delete it; changing it needs " +
			"client_secret in the same write. Rotate sets it itself.",
		str: func(c *provider.Config) *string { return &c.KeyUUID }},
	{name: fRequestTimeout, display: "Request timeout", typ: framework.TypeDurationSecond,
		description: "Bound on a whole upstream call, retries included. Default 25s.",
		apply: func(c *provider.Config, v any) error {
			// Clamped first: billions of seconds overflow a Duration and
			// could wrap into the allowed range.
			t := time.Duration(min(max(v.(int), 0), 301)) * time.Second
			if t <= 0 {
				return lifecycle.BadField(fRequestTimeout, "must be positive, e.g. 25s")
			}
			if t > 5*time.Minute {
				return lifecycle.BadField(fRequestTimeout, "must be at most 5m; Vault requests would time out first")
			}
			c.RequestTimeout = t
			return nil
		},
		read: func(c provider.Config) any { return durationSeconds(c.RequestTimeout) }},
	{name: fCACert, display: "CA certificate", typ: framework.TypeString, destination: true, check: checkPEM,
		description: "PEM CA certificates to trust besides the system roots.",
		str:         func(c *provider.Config) *string { return &c.CACert }},
	{name: fVerify, display: "Verify", typ: framework.TypeBool, def: true, writeOnly: true,
		description: "On write, fetch one token to prove the credentials; on failure nothing is stored. Default true, but " +
			"false for a write with generate_key=true unless given (the server cannot know the new key yet). Write-only.",
		apply: func(*provider.Config, any) error { return nil }},
}

// fieldsWhere lists, in table order, the fields for which keep is true.
func fieldsWhere(keep func(f *configField) bool) []string {
	var out []string
	for i := range configTable {
		if keep(&configTable[i]) {
			out = append(out, configTable[i].name)
		}
	}
	return out
}

// stringValues are the string fields of c the rows flagged by keep name.
func stringValues(c provider.Config, keep func(f *configField) bool) map[string]string {
	out := map[string]string{}
	for i := range configTable {
		f := &configTable[i]
		if f.str != nil && keep(f) {
			out[f.name] = *f.str(&c)
		}
	}
	return out
}

func configSchema() map[string]*framework.FieldSchema {
	s := map[string]*framework.FieldSchema{
		"name": {Type: framework.TypeString, Required: true, Description: "Name of the config (one upstream account)."},
	}
	for i := range configTable {
		f := &configTable[i]
		s[f.name] = &framework.FieldSchema{Type: f.typ, Description: f.description, Default: f.def,
			DisplayAttrs: &framework.DisplayAttributes{Name: f.display, Sensitive: f.secret}}
	}
	automatedrotationutil.AddAutomatedRotationFieldsWithGroup(s, "Automated rotation")
	for name, doc := range rotationFieldDocs {
		s[name].DisplayAttrs.Name, s[name].Description = doc[0], doc[1]
	}
	return s
}

// applyRotationFields sets the automated rotation fields written onto
// cfg.Rotation and reports whether any was written. The caller has
// refused them for providers that do not take them.
func applyRotationFields(cfg *lifecycle.ConfigEntry, req *logical.Request, d *framework.FieldData) (bool, error) {
	given := func(f string) bool { _, ok := req.Data[f]; return ok }
	if !slices.ContainsFunc(rotationFields, given) {
		return false, nil
	}
	p := &cfg.Rotation
	if err := p.ParseAutomatedRotationFields(d); err != nil {
		return false, lifecycle.UserErr("%s", err)
	}
	// A period written replaces a stored schedule, and the other way round.
	if given(fRootRotationPeriod) && p.RotationPeriod != 0 && !given(fRootRotationSchedule) {
		p.RotationSchedule, p.RotationWindow = "", 0
	}
	if given(fRootRotationSchedule) && p.RotationSchedule != "" && !given(fRootRotationPeriod) {
		p.RotationPeriod = 0
	}
	switch {
	case p.RotationPeriod < 0:
		return false, lifecycle.BadField(fRootRotationPeriod, "must not be negative")
	case p.RotationPeriod > 0 && p.RotationPeriod < minRootRotationPeriod:
		return false, lifecycle.BadField(fRootRotationPeriod, "must be at least %s (or 0 for none)", minRootRotationPeriod)
	case p.RotationWindow < 0:
		return false, lifecycle.BadField(fRootRotationWindow, "must not be negative")
	}
	return true, nil
}

// readRotation adds the automated rotation settings to a config read,
// durations in whole seconds like every other read, and when the current
// key was written or created.
func readRotation(cfg *lifecycle.ConfigEntry, data map[string]any) {
	cfg.Rotation.PopulateAutomatedRotationData(data)
	data[fRootRotationPeriod] = durationSeconds(cfg.Rotation.RotationPeriod)
	data[fRootRotationWindow] = durationSeconds(cfg.Rotation.RotationWindow)
	if !cfg.LastRotated.IsZero() {
		data["last_rotated"] = cfg.LastRotated.UTC().Format(time.RFC3339)
	}
}

// applyValue sets one written field on c; the value is already of the
// schema's type.
func (f *configField) applyValue(c *provider.Config, v any) error {
	if f.str == nil {
		return f.apply(c, v)
	}
	s := v.(string)
	if !f.secret && f.name != fCACert {
		s = strings.TrimSpace(s)
	}
	if f.check != nil {
		if err := f.check(f.name, s); err != nil {
			return err
		}
	}
	*f.str(c) = s
	return nil
}

// readValue is what a read returns for f.
func (f *configField) readValue(c provider.Config) any {
	if f.str != nil {
		return *f.str(&c)
	}
	return f.read(c)
}

func notEmpty(field, v string) error {
	if v == "" {
		return lifecycle.BadField(field, "must not be empty")
	}
	return nil
}

func checkAuthStyle(field, v string) error {
	if v != "" && v != provider.AuthStyleBody && v != provider.AuthStyleBasic && v != provider.AuthStylePrivateKeyJWT {
		return lifecycle.BadField(field, "must be %q, %q or (oauth2) %q", provider.AuthStyleBody, provider.AuthStyleBasic,
			provider.AuthStylePrivateKeyJWT)
	}
	return nil
}

func checkAssertionAudience(field, v string) error {
	if v != "" && v != provider.AudienceTokenURL && v != provider.AudienceIssuer {
		return lifecycle.BadField(field, "must be %q (the default) or %q", provider.AudienceTokenURL, provider.AudienceIssuer)
	}
	return nil
}

// checkKeyID keeps a kid to printable ASCII without spaces: it goes into
// every assertion's header and the server's key lookup.
func checkKeyID(field, v string) error {
	if len(v) > 256 || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return lifecycle.BadField(field, "must be at most 256 printable ASCII characters without spaces (or empty for the "+
			"key's thumbprint)")
	}
	return nil
}

func checkUUID(field, v string) error {
	if v != "" && !provider.IsUUID(v) {
		return lifecycle.BadField(field, "must be a uuid such as 123e4567-e89b-12d3-a456-426614174000")
	}
	return nil
}

func checkPEM(field, v string) error {
	if v == "" {
		return nil
	}
	if _, err := provider.CertPool(v); err != nil {
		return lifecycle.BadField(field, "must hold PEM certificates (-----BEGIN CERTIFICATE-----)")
	}
	return nil
}
