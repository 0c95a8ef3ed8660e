package emulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Demo credentials for the Acronis Cyber Platform, seeded by AddDemo. The
// secret holds + / = : on purpose: Acronis' examples send Basic credentials
// raw (not form-encoded), and a client that encodes them fails.
const (
	DemoAcronisClientID     = "demo-acronis-client"
	DemoAcronisClientSecret = "demo+Acr/Secret=:x"
	DemoAcronisTenant       = "0b6f3e2a-7c41-4d59-9e8a-1f2d3c4b5a69"
)

// AcronisClient is a CyberApp API client of one data center.
type AcronisClient struct {
	ID, Secret string
	TenantID   string
	Lifetime   time.Duration // token lifetime, default 2h
}

const (
	serviceAcronis      = "acronis"
	acronisTokenTTL     = 2 * time.Hour
	acronisClientFailed = "Client authentication failed."
	acronisDomain       = "PlatformAccountServer"
	acronisTokenPath    = "/bc/idp/token"
	acronisRevokePath   = "/api/2/idp/revoke_token"
)

type acronisService struct {
	e *Emulator
	// Guarded by e.mu.
	clients        map[string]AcronisClient
	disabled       map[string]bool
	expiresIn      bool
	revokeBearer   bool
	revokeNotFound bool
	clientsAtBase  bool // the client API at /clients/{id}, not /api/2/clients/{id}
	formBasic      bool // Basic credentials form-url-decoded (RFC 6749 §2.3.1)
	unknownRevokes int
}

func init() {
	serviceFactories = append(serviceFactories, func(e *Emulator) service {
		return &acronisService{e: e, clients: map[string]AcronisClient{}, disabled: map[string]bool{}}
	})
}

func (e *Emulator) acronis() *acronisService { return e.services[serviceAcronis].(*acronisService) }

func (a *acronisService) name() string { return serviceAcronis }

func (a *acronisService) seedDemo() {
	a.e.AddAcronisClient(AcronisClient{ID: DemoAcronisClientID, Secret: DemoAcronisClientSecret, TenantID: DemoAcronisTenant})
}

func (a *acronisService) register(mux *http.ServeMux) {
	// The CyberApp docs name the first, the account-management API the
	// second; both answer upstream.
	mux.HandleFunc(acronisTokenPath, a.token)
	mux.HandleFunc("/api/2/idp/token", a.token)
	mux.HandleFunc(acronisRevokePath, a.revokeToken)
	mux.HandleFunc("/api/2/clients/{client_id}", a.client)
	mux.HandleFunc("/clients/{client_id}", a.client)
	mux.HandleFunc("/.well-known/openid-configuration", a.discovery)

	mux.HandleFunc("POST "+adminPrefix+"acronis/clients", adminJSON(a.adminAddClient))
	mux.HandleFunc("POST "+adminPrefix+"acronis/clients/{id}/disable", a.adminDisableClient)
	mux.HandleFunc("POST "+adminPrefix+"acronis/expires-in", adminSwitch(a.e.SetAcronisExpiresIn))
	mux.HandleFunc("POST "+adminPrefix+"acronis/revoke-with-bearer", adminSwitch(a.e.SetAcronisRevokeWithBearer))
	mux.HandleFunc("POST "+adminPrefix+"acronis/revoke-not-found", adminSwitch(a.e.SetAcronisRevokeNotFound))
	mux.HandleFunc("POST "+adminPrefix+"acronis/clients-at-base-url", adminSwitch(a.e.SetAcronisClientsAtBaseURL))
	mux.HandleFunc("POST "+adminPrefix+"acronis/form-decoded-basic", adminSwitch(a.e.SetAcronisFormDecodedBasic))
}

// AddAcronisClient adds an API client, replacing any with the same ID (as
// regenerating the API key would). The replacement starts enabled.
func (e *Emulator) AddAcronisClient(c AcronisClient) {
	if c.Lifetime <= 0 {
		c.Lifetime = acronisTokenTTL
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.acronis()
	a.clients[c.ID] = c
	delete(a.disabled, c.ID)
}

// DisableAcronisClient disables a known API client: its token requests get
// 401 invalid_client and every token it was issued gets 401 from the data
// API, which is what the CyberApp docs promise. Unknown ids are ignored.
func (e *Emulator) DisableAcronisClient(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.acronis()
	if _, ok := a.clients[id]; ok {
		a.disabled[id] = true
	}
}

// SetAcronisExpiresIn makes token responses carry expires_in beside
// expires_on, as some deployments do; off by default, since the documented
// response has only expires_on.
func (e *Emulator) SetAcronisExpiresIn(on bool) { e.setSwitch(&e.acronis().expiresIn, on) }

// SetAcronisRevokeWithBearer switches how /api/2/idp/revoke_token
// authenticates: off (the default), the client's Basic credentials; on,
// the token being revoked as the Bearer credential, as a public API
// collection models it, and Basic gets a 401. Which one the data center
// takes is unverified.
func (e *Emulator) SetAcronisRevokeWithBearer(on bool) { e.setSwitch(&e.acronis().revokeBearer, on) }

// SetAcronisRevokeNotFound makes /api/2/idp/revoke_token answer a token it
// does not revoke (unknown, expired, already revoked or another client's)
// with 404 and a JSON error body (invalid_token), as some servers do,
// instead of RFC 7009's 200. Off by default.
func (e *Emulator) SetAcronisRevokeNotFound(on bool) { e.setSwitch(&e.acronis().revokeNotFound, on) }

// SetAcronisClientsAtBaseURL moves the client API from
// /api/2/clients/{client_id} (the default, as the platform API names it)
// to /clients/{client_id}, the path seed documents show under an undefined
// {base_url}; the path not in use answers 404 not_found.
func (e *Emulator) SetAcronisClientsAtBaseURL(on bool) { e.setSwitch(&e.acronis().clientsAtBase, on) }

// SetAcronisFormDecodedBasic makes the data center form-url-decode Basic
// credentials as RFC 6749 §2.3.1 prescribes, at the token and revocation
// endpoints: a secret holding + / = or : sent raw no longer matches, and
// only the form-encoded one does. Off by default, as Acronis' examples
// send Basic raw; which one every data center takes is unverified.
func (e *Emulator) SetAcronisFormDecodedBasic(on bool) { e.setSwitch(&e.acronis().formBasic, on) }

// AcronisUnknownRevokes counts revocation requests that revoked nothing:
// unknown, dead or another client's tokens. They still get 200 (RFC 7009
// §2.2), so this is how a test sees that a client revoked the wrong thing.
func (e *Emulator) AcronisUnknownRevokes() int { return load(e, &e.acronis().unknownRevokes) }

// writeAcronisError answers in the shape Acronis' platform APIs (all but
// the token endpoint) use.
func writeAcronisError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"domain":  acronisDomain,
		"message": message,
		"context": map[string]any{},
	}})
}

// acronisOAuth is the data center's error style: it takes Basic alone, so
// every 401 names it.
var acronisOAuth = oauthStyle{realm: "acronis", challengeAlways: true}

func (a *acronisService) token(w http.ResponseWriter, r *http.Request) {
	acronisOAuth.serveToken(w, r, "The token endpoint", a.grant)
}

func (a *acronisService) grant(w http.ResponseWriter, r *http.Request) (map[string]any, *oauthError) {
	client, form, oerr := clientCredentialsRequest(w, r, a.authenticate)
	if oerr != nil {
		return nil, oerr
	}

	scope := form.Get("scope")
	t := a.e.issue(serviceAcronis, client.ID, scope, client.Lifetime)
	expiresIn := a.e.switchOn(&a.expiresIn)

	resp := map[string]any{
		"access_token": t.Value,
		"token_type":   "bearer",
		"expires_on":   t.ExpiresAt.Unix(),
		"id_token":     acronisIDToken("http://"+r.Host, client, t),
	}
	if expiresIn {
		resp["expires_in"] = int64(client.Lifetime / time.Second)
	}
	if scope != "" {
		resp["scope"] = scope
	}
	return resp, nil
}

// authenticate accepts HTTP Basic only, as the CyberApp docs show it, with
// the credentials compared as sent: the docs' example encodes
// "client_id:client_secret" raw, so a client that form-encodes them first
// (RFC 6749 §2.3.1) fails when the secret holds + / = or :. With
// SetAcronisFormDecodedBasic it is the other way round.
func (a *acronisService) authenticate(r *http.Request, form url.Values) (AcronisClient, *oauthError) {
	unauthorized := &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: acronisClientFailed}
	if r.Header.Get("Authorization") == "" {
		return AcronisClient{}, &oauthError{status: http.StatusUnauthorized, code: "invalid_client",
			desc: "Client authentication with HTTP Basic is required."}
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return AcronisClient{}, unauthorized
	}
	if form.Has("client_secret") {
		return AcronisClient{}, badRequest("invalid_request", "The client used more than one authentication method.")
	}
	if a.e.switchOn(&a.formBasic) {
		var errU, errP error
		user, errU = url.QueryUnescape(user)
		pass, errP = url.QueryUnescape(pass)
		if errU != nil || errP != nil {
			return AcronisClient{}, unauthorized
		}
	}

	a.e.mu.Lock()
	client, known := a.clients[user]
	matched := known && subtle.ConstantTimeCompare([]byte(client.Secret), []byte(pass)) == 1
	disabled := matched && a.disabled[client.ID]
	a.e.mu.Unlock()

	if !matched {
		return AcronisClient{}, unauthorized
	}
	if disabled {
		return AcronisClient{}, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "The client is disabled."}
	}
	if form.Has("client_id") && form.Get("client_id") != client.ID {
		return AcronisClient{}, badRequest("invalid_request", "The client_id parameter does not match the authenticated client.")
	}
	return client, nil
}

// acronisIDToken builds a JWT-shaped id token. Its signature is random
// bytes: nothing publishes a key for it, so a client that tries to verify
// it fails here as it would without the real data center's JWKS.
func acronisIDToken(issuer string, c AcronisClient, t Token) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "emulator"})
	payload, _ := json.Marshal(map[string]any{
		"iss":       issuer,
		"sub":       c.ID,
		"tenant_id": c.TenantID,
		"iat":       t.IssuedAt.Unix(),
		"exp":       t.ExpiresAt.Unix(),
		"jti":       randomUUID(),
	})
	sig := make([]byte, 64)
	_, _ = rand.Read(sig)
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig)
}

func (a *acronisService) revokeToken(w http.ResponseWriter, r *http.Request) {
	if a.e.switchOn(&a.revokeBearer) {
		a.revokeWithBearer(w, r)
		return
	}
	client, form, ok := revocationRequest(w, r, acronisOAuth, "The revocation endpoint", a.authenticate,
		badRequest("invalid_request", "The request is missing the token parameter."))
	if !ok {
		return
	}
	a.revoke(w, r, client.ID, form.Get("token"))
}

// revokeWithBearer is revocation authenticated by a live token of the
// client, the one being revoked as a public API collection sends it; a
// request without one gets 401, and one whose token is dead 401
// invalid_token.
func (a *acronisService) revokeWithBearer(w http.ResponseWriter, r *http.Request) {
	if !acronisOAuth.postOnly(w, r, "The revocation endpoint") {
		return
	}
	form, oerr := tokenForm(w, r)
	if oerr != nil {
		acronisOAuth.fail(w, r, oerr)
		return
	}
	presented, hasBearer := bearerToken(r)
	t, live := a.e.bearerLive(r, serviceAcronis)
	a.e.mu.Lock()
	live = live && !a.disabled[t.ClientID]
	a.e.mu.Unlock()
	if !live {
		challenge := `Bearer realm="acronis"`
		if hasBearer && presented != "" {
			challenge = `Bearer realm="acronis", error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeAcronisError(w, http.StatusUnauthorized, "unauthorized", "Access token is invalid or expired")
		return
	}
	if form.Get("token") == "" {
		acronisOAuth.fail(w, r, badRequest("invalid_request", "The request is missing the token parameter."))
		return
	}
	a.revoke(w, r, t.ClientID, form.Get("token"))
}

// revoke revokes value if it is a live token of clientID, and answers 200
// either way (RFC 7009 §2.2), or, with SetAcronisRevokeNotFound, 404
// invalid_token for a token it did not revoke.
func (a *acronisService) revoke(w http.ResponseWriter, r *http.Request, clientID, value string) {
	now := a.e.now()
	a.e.mu.Lock()
	revoked := false
	if t, live := a.e.liveTokenLocked(serviceAcronis, value, now); live && t.ClientID == clientID {
		a.e.revokeLocked(serviceAcronis, value)
		revoked = true
	} else {
		// Another client's token is left alone and answered like an
		// unknown one, so revocation cannot probe for tokens.
		a.unknownRevokes++
	}
	notFound := a.revokeNotFound
	a.e.mu.Unlock()
	acronisOAuth.revocationAnswer(w, r, revoked, notFound)
}

func (a *acronisService) client(w http.ResponseWriter, r *http.Request) {
	if atBase := strings.HasPrefix(r.URL.Path, "/clients/"); atBase != a.e.switchOn(&a.clientsAtBase) {
		writeAPIError(w, http.StatusNotFound, "not_found", "The requested resource was not found.")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeAcronisError(w, http.StatusMethodNotAllowed, "method_not_allowed", "This resource only accepts GET.")
		return
	}
	t, ok := a.e.bearerLive(r, serviceAcronis)
	var c AcronisClient
	if ok {
		a.e.mu.Lock()
		var known bool
		c, known = a.clients[t.ClientID]
		ok = known && !a.disabled[t.ClientID]
		a.e.mu.Unlock()
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeAcronisError(w, http.StatusUnauthorized, "unauthorized", "Access token is invalid or expired")
		return
	}
	if r.PathValue("client_id") != c.ID {
		writeAcronisError(w, http.StatusForbidden, "forbidden", "Access to the requested client is forbidden")
		return
	}
	// "client_id" is what third-party schemas of this API show; "id" is
	// kept beside it so a client reading either works.
	writeJSON(w, http.StatusOK, map[string]any{
		"id":        c.ID,
		"client_id": c.ID,
		"tenant_id": c.TenantID,
		"type":      "api_client",
		"status":    "enabled",
	})
}

func (a *acronisService) discovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeAcronisError(w, http.StatusMethodNotAllowed, "method_not_allowed", "This resource only accepts GET.")
		return
	}
	base := "http://" + r.Host
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                     base,
		"token_endpoint":                             base + acronisTokenPath,
		"revocation_endpoint":                        base + acronisRevokePath,
		"grant_types_supported":                      []string{"client_credentials"},
		"token_endpoint_auth_methods_supported":      []string{"client_secret_basic"},
		"revocation_endpoint_auth_methods_supported": []string{"client_secret_basic"},
	})
}

type acronisClientJSON struct {
	adminClientJSON
	TenantID string `json:"tenant_id"`
}

func (a *acronisService) adminAddClient(in acronisClientJSON) (refusal string) {
	lifetime, refusal := in.lifetime()
	if refusal == "" {
		a.e.AddAcronisClient(AcronisClient{ID: in.ID, Secret: in.Secret, TenantID: in.TenantID, Lifetime: lifetime})
	}
	return refusal
}

func (a *acronisService) adminDisableClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, known := lookup(a.e, a.clients, id); !known {
		writeAPIError(w, http.StatusNotFound, "not_found", "No such Acronis client.")
		return
	}
	a.e.DisableAcronisClient(id)
	w.WriteHeader(http.StatusNoContent)
}

// operation names a request to an Acronis route (see Operations).
func (a *acronisService) operation(r *http.Request, _ url.Values) string {
	p := r.URL.Path
	switch {
	case p == acronisTokenPath || p == "/api/2/idp/token":
		return opToken
	case p == acronisRevokePath:
		return opRevoke
	case strings.HasPrefix(p, "/api/2/clients/") || strings.HasPrefix(p, "/clients/"):
		return "client_check"
	case p == "/.well-known/openid-configuration":
		return opDiscovery
	}
	return ""
}
