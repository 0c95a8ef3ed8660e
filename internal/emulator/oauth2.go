package emulator

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Demo credentials for the generic OAuth 2.0 server, seeded by AddDemo.
// The secret holds + / = : on purpose: this server decodes Basic
// credentials exactly as RFC 6749 §2.3.1 says, so a client that does not
// form-encode them fails.
const (
	DemoOAuth2ClientID     = "demo-oauth2-client"
	DemoOAuth2ClientSecret = "demo+OAuth2/Secret=:y"
	// DemoOAuth2Scopes are the demo client's allowed scopes, space-delimited
	// as a scope parameter carries them.
	DemoOAuth2Scopes = "read write"
)

// OAuth2Client is a client of the generic OAuth 2.0 server.
type OAuth2Client struct {
	ID, Secret string
	Scopes     []string      // allowed scopes; empty allows any
	Lifetime   time.Duration // token lifetime, default 1h
	// RedirectURIs are the redirect_uri values allowed at
	// /oauth2/authorize, compared exactly. Empty allows any http loopback
	// URI and any https URI.
	RedirectURIs []string
	// JWKS, when set, lets the client authenticate with private_key_jwt
	// (oauth2_assertion.go); Secret may then be empty.
	JWKS *jose.JSONWebKeySet
}

const (
	serviceOAuth2      = "oauth2"
	oauth2TokenTTL     = time.Hour
	oauth2ClientFailed = "Client authentication failed."
)

// oauth2Service is what an operator's own RFC 6749 server looks like when
// it follows the RFCs to the letter: RFC 6749 client credentials, RFC 7009
// revocation and an RFC 6750 protected resource to prove a token works.
type oauth2Service struct {
	e *Emulator
	// Guarded by e.mu.
	clients       map[string]OAuth2Client
	flow          *codeFlow     // codes and refresh tokens (codeflow.go)
	devices       oauth2Devices // the device grant (oauth2_device.go)
	refreshOnly   bool
	omitTokenType bool
	revokeMissing bool // unknown or dead tokens get a JSON 404
	// assertionAud is how a client assertion's aud is read
	// (AssertionAudTokenURL or AssertionAudIssuer); jtis are the
	// assertion ids seen, by client, until their expiry.
	assertionAud string
	jtis         map[string]time.Time
}

func init() {
	serviceFactories = append(serviceFactories, func(e *Emulator) service {
		return &oauth2Service{e: e, clients: map[string]OAuth2Client{}, assertionAud: AssertionAudTokenURL, jtis: map[string]time.Time{},
			devices: newOAuth2Devices(),
			flow:    newCodeFlow(e, serviceOAuth2, OAuth2User, oauth2Words, false, oauth2CodeTTL, oauth2RefreshTTL)}
	})
}

func (e *Emulator) oauth2() *oauth2Service { return e.services[serviceOAuth2].(*oauth2Service) }

func (o *oauth2Service) name() string { return serviceOAuth2 }

func (o *oauth2Service) seedDemo() {
	o.e.AddOAuth2Client(OAuth2Client{ID: DemoOAuth2ClientID, Secret: DemoOAuth2ClientSecret, Scopes: strings.Fields(DemoOAuth2Scopes)})
}

func (o *oauth2Service) register(mux *http.ServeMux) {
	mux.HandleFunc("/oauth2/authorize", o.authorize)
	mux.HandleFunc("/oauth2/token", o.token)
	mux.HandleFunc("/oauth2/revoke", o.revokeToken)
	mux.HandleFunc("/oauth2/resource", o.resource)
	o.registerDevice(mux)

	mux.HandleFunc("POST "+adminPrefix+"oauth2/clients", adminJSON(o.adminAddClient))
	mux.HandleFunc("POST "+adminPrefix+"oauth2/revocation-refresh-only", adminSwitch(o.e.SetOAuth2RevocationRefreshOnly))
	mux.HandleFunc("POST "+adminPrefix+"oauth2/omit-token-type", adminSwitch(o.e.SetOAuth2OmitTokenType))
	mux.HandleFunc("POST "+adminPrefix+"oauth2/revoke-not-found", adminSwitch(o.e.SetOAuth2RevokeNotFound))
	mux.HandleFunc("POST "+adminPrefix+"oauth2/assertion-audience", adminJSON(o.adminAssertionAudience))
}

// SetOAuth2RevokeNotFound makes the revocation endpoint answer a token it
// does not revoke (unknown, expired, revoked already or another client's)
// with 404 and a JSON error body (invalid_token), as some servers do,
// instead of RFC 7009's 200. Off by default.
func (e *Emulator) SetOAuth2RevokeNotFound(on bool) { e.setSwitch(&e.oauth2().revokeMissing, on) }

// SetOAuth2OmitTokenType leaves token_type out of token answers, as many
// servers do although RFC 6749 §5.1 requires it.
func (e *Emulator) SetOAuth2OmitTokenType(on bool) { e.setSwitch(&e.oauth2().omitTokenType, on) }

// SetOAuth2RevocationRefreshOnly makes the revocation endpoint answer
// every access token 400 unsupported_token_type (RFC 7009 §2.2.1), as a
// server that revokes only refresh tokens does; this server issues none.
func (e *Emulator) SetOAuth2RevocationRefreshOnly(on bool) { e.setSwitch(&e.oauth2().refreshOnly, on) }

// AddOAuth2Client adds a client, replacing any with the same ID.
func (e *Emulator) AddOAuth2Client(c OAuth2Client) {
	c.Scopes = slices.Clone(c.Scopes)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	if c.Lifetime <= 0 {
		c.Lifetime = oauth2TokenTTL
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.oauth2().clients[c.ID] = c
}

// oauth2OAuth is this server's error style: a 401 after a Basic attempt
// names the scheme to use, as RFC 6749 §5.2 requires.
var oauth2OAuth = oauthStyle{realm: "oauth2"}

func (o *oauth2Service) token(w http.ResponseWriter, r *http.Request) {
	oauth2OAuth.serveToken(w, r, "The token endpoint", o.grant)
}

// grant is the generic server's token endpoint: the grant handling it
// shares with the Source site (codeflow.go), with this server's client
// authentication and wording.
func (o *oauth2Service) grant(w http.ResponseWriter, r *http.Request) (map[string]any, *oauthError) {
	form, oerr := tokenForm(w, r)
	if oerr != nil {
		return nil, oerr
	}
	if form.Get("grant_type") == OAuth2DeviceGrant {
		client, oerr := o.authenticate(r, form)
		if oerr != nil {
			return nil, oerr
		}
		return o.deviceTokenGrant(client, form)
	}
	return tokenGrant(w, r, o.flow, o)
}

func (o *oauth2Service) clientCredentialsGrant(client OAuth2Client, form url.Values) (map[string]any, *oauthError) {
	scope := form.Get("scope")
	if form.Has("scope") && !client.mayRequest(scope) {
		return nil, badRequest("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
	}
	_, resp := o.accessToken(client, scope)
	return resp, nil
}

// accessToken issues an access token of client, and its token answer.
func (o *oauth2Service) accessToken(client OAuth2Client, scope string) (Token, map[string]any) {
	t := o.e.issue(serviceOAuth2, client.ID, scope, client.Lifetime)
	resp := map[string]any{
		"access_token": t.Value,
		"token_type":   "Bearer",
		"expires_in":   int64(client.Lifetime / time.Second),
	}
	if t.Scope != "" {
		resp["scope"] = t.Scope
	}
	if o.e.switchOn(&o.omitTokenType) {
		delete(resp, "token_type")
	}
	return t, resp
}

// authenticateFor is authenticate: every client may use every grant.
func (o *oauth2Service) authenticateFor(r *http.Request, form url.Values, _ string) (OAuth2Client, *oauthError) {
	return o.authenticate(r, form)
}

// authenticate takes the client from the form body or HTTP Basic, never
// both (RFC 6749 §2.3). Basic credentials are form-url-decoded as §2.3.1
// prescribes, so a raw '+' in a secret reads as a space and fails: the
// opposite of the Cloud quirk, which is the point of having both.
func (o *oauth2Service) authenticate(r *http.Request, form url.Values) (OAuth2Client, *oauthError) {
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		return o.assertionClient(r, form)
	}
	unauthorized := &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: oauth2ClientFailed}
	var id, secret string
	if r.Header.Get("Authorization") != "" {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return OAuth2Client{}, unauthorized
		}
		if form.Has("client_secret") {
			return OAuth2Client{}, badRequest("invalid_request", "The client used more than one authentication method.")
		}
		var errU, errP error
		id, errU = url.QueryUnescape(user)
		secret, errP = url.QueryUnescape(pass)
		if errU != nil || errP != nil {
			return OAuth2Client{}, unauthorized
		}
		if form.Has("client_id") && form.Get("client_id") != id {
			return OAuth2Client{}, badRequest("invalid_request", "The client_id parameter does not match the authenticated client.")
		}
	} else {
		// §5.2: a request with no client authentication is invalid_client.
		id, secret = form.Get("client_id"), form.Get("client_secret")
		if id == "" || secret == "" {
			return OAuth2Client{}, unauthorized
		}
	}

	o.e.mu.Lock()
	client, known := o.clients[id]
	o.e.mu.Unlock()
	if !known || client.Secret == "" || subtle.ConstantTimeCompare([]byte(client.Secret), []byte(secret)) != 1 {
		return OAuth2Client{}, unauthorized
	}
	return client, nil
}

// mayRequest checks a scope parameter against RFC 6749 §3.3: scope tokens
// of NQCHARs separated by single spaces, each allowed for the client.
func (c OAuth2Client) mayRequest(scope string) bool {
	if scope == "" {
		return false
	}
	for _, s := range strings.Split(scope, " ") {
		if s == "" || strings.ContainsFunc(s, func(ch rune) bool {
			return ch < 0x21 || ch == '"' || ch == '\\' || ch > 0x7e
		}) {
			return false
		}
		if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// revokeToken follows RFC 7009: authenticate the client, then revoke the
// token if it is this client's; anything else is still a 200 (§2.2), so a
// client cannot use revocation to probe for tokens.
func (o *oauth2Service) revokeToken(w http.ResponseWriter, r *http.Request) {
	client, form, ok := revocationRequest(w, r, oauth2OAuth, "The revocation endpoint", o.authenticate,
		badRequest("invalid_request", "The request is missing the token parameter."))
	if !ok {
		return
	}
	value := form.Get("token")
	switch form.Get("token_type_hint") {
	case "", "access_token", "refresh_token":
	default:
		oauth2OAuth.fail(w, r, badRequest("unsupported_token_type", "The token type hint is not supported."))
		return
	}
	if o.e.switchOn(&o.refreshOnly) {
		o.e.mu.Lock()
		_, access := o.e.tokenLocked(serviceOAuth2, value)
		o.e.mu.Unlock()
		if access {
			oauth2OAuth.fail(w, r, badRequest("unsupported_token_type", "Only refresh tokens can be revoked."))
			return
		}
	}

	now := o.e.now()
	o.e.mu.Lock()
	revoked := false
	if rt, found := o.flow.refresh[value]; found {
		// A refresh token takes the access token issued with it along
		// (RFC 7009 §2.1); the authorization ends.
		if rt.clientID == client.ID {
			revoked = rt.live(now)
			rt.revoked = true
			o.e.revokeLocked(serviceOAuth2, rt.access)
		}
	} else if t, found := o.e.tokenLocked(serviceOAuth2, value); found && t.ClientID == client.ID {
		revoked = t.live(now)
		o.e.revokeLocked(serviceOAuth2, value)
	}
	notFound := o.revokeMissing
	o.e.mu.Unlock()
	oauth2OAuth.revocationAnswer(w, r, revoked, notFound)
}

func (o *oauth2Service) resource(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	value, ok := bearerToken(r)
	if !ok {
		// RFC 6750 §3.1: a request without credentials gets no error code
		// in the challenge.
		w.Header().Set("WWW-Authenticate", `Bearer realm="oauth2"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	t, ok := o.e.liveToken(serviceOAuth2, value)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "client_id": t.ClientID})
}

type oauth2ClientJSON struct {
	adminClientJSON
	Scopes       []string        `json:"scopes"`
	RedirectURIs []string        `json:"redirect_uris"`
	JWKS         json.RawMessage `json:"jwks"`
}

func (o *oauth2Service) adminAddClient(in oauth2ClientJSON) (refusal string) {
	for _, u := range in.RedirectURIs {
		if _, ok := sourceRedirectURI(u); !ok {
			return "redirect_uris must be absolute http(s) URIs without a fragment."
		}
	}
	jwks, refusal := parseJWKS(in.JWKS)
	if refusal != "" {
		return refusal
	}
	shared := in.adminClientJSON
	if jwks != nil && shared.Secret == "" {
		shared.Secret = "none" // a private_key_jwt client needs no secret
	}
	lifetime, refusal := shared.lifetime()
	if refusal == "" {
		o.e.AddOAuth2Client(OAuth2Client{ID: in.ID, Secret: in.Secret, Scopes: in.Scopes, RedirectURIs: in.RedirectURIs,
			Lifetime: lifetime, JWKS: jwks})
	}
	return refusal
}

// operation names a request to a generic OAuth 2.0 route (see Operations).
func (o *oauth2Service) operation(r *http.Request, form url.Values) string {
	switch r.URL.Path {
	case "/oauth2/token":
		return grantOperation(form)
	case "/oauth2/revoke":
		return opRevoke
	case "/oauth2/authorize", "/oauth2/device":
		return opAuthorize
	case "/oauth2/device_authorization":
		return opDeviceAuth
	case "/oauth2/resource":
		return "resource"
	}
	return ""
}
