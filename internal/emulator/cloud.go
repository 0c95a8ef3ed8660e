package emulator

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Demo credentials for Acquia Cloud, seeded by AddDemo and used by
// `make dev`, the e2e tests and the docs.
const (
	DemoCloudClientID = "demo-cloud-client"
	// DemoCloudClientSecret holds + / = on purpose, like real Cloud
	// secrets (base64), to catch clients that encode it wrongly.
	DemoCloudClientSecret = "demo+Secret/With=Chars=="
	DemoOrgUUID           = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	// DemoCloudKeyUUID is the demo key's uuid, the one DELETE
	// /api/account/tokens/{uuid} takes; it differs from its client id.
	DemoCloudKeyUUID = "5c1d7e2a-9b3f-4a6e-8d0c-1f2e3a4b5c6d"
)

// CloudClient is an Acquia Cloud API key (API token in the Cloud UI).
type CloudClient struct {
	ID, Secret string
	// Orgs are the organization uuids this key may request as scope
	// "organization:<uuid>".
	Orgs []string
	// FederatedOrgs use federated authentication (SSO): the Cloud API
	// refuses a token of this key with 403 additional_authentication_required
	// unless its scope names one of them. They may be requested as scope
	// even if missing from Orgs.
	FederatedOrgs []string
	// Lifetime of its tokens; Cloud's 300 s when zero. Tests that watch
	// tokens being replaced set a shorter one.
	Lifetime time.Duration
	// KeyUUID identifies the key in /api/account/tokens/{uuid}. It is
	// never the client id; AddCloudClient derives one from the ID when
	// empty.
	KeyUUID string
	// Label is the name the key was given (API tokens have one in Cloud).
	Label string
}

const (
	serviceCloud      = "cloud"
	cloudTokenTTL     = 300 * time.Second
	cloudScopePrefix  = "organization:"
	cloudClientFailed = "Client authentication failed"
)

type cloudService struct {
	e *Emulator
	// Guarded by e.mu.
	clients    map[string]CloudClient // live keys, by client id
	keys       map[string]*cloudKey   // every key, deleted ones too, by uuid
	oktaErrors bool
	// revokeOnKeyDelete: deleting a key kills the tokens issued to it.
	revokeOnKeyDelete bool
	// propagation is how many token requests a key created through the
	// API refuses before it works.
	propagation int
	keyVariants CloudKeyVariants
	// The unverified: whether token answers repeat the scope (zero: they
	// do), and the status of the federated-organization refusal (zero:
	// 403).
	noScopeEcho     bool
	federatedStatus int
}

// cloudKey is what the key API knows of a key besides its credentials.
type cloudKey struct {
	clientID, label string
	// user owns the key: a key created through the API belongs to the
	// user of the token that created it, an added one to itself.
	user      string
	createdAt time.Time
	deleted   bool
	deletedAt time.Time
	// refusals left before a new key works at the token endpoint.
	refusals int
}

func init() {
	serviceFactories = append(serviceFactories, func(e *Emulator) service {
		return &cloudService{e: e, clients: map[string]CloudClient{}, keys: map[string]*cloudKey{}}
	})
}

// cloud is the Cloud service of e; it always exists, since init registered it.
func (e *Emulator) cloud() *cloudService { return e.services[serviceCloud].(*cloudService) }

func (c *cloudService) name() string { return serviceCloud }

func (c *cloudService) seedDemo() {
	c.e.AddCloudClient(CloudClient{ID: DemoCloudClientID, Secret: DemoCloudClientSecret, Orgs: []string{DemoOrgUUID},
		KeyUUID: DemoCloudKeyUUID, Label: "demo"})
}

func (c *cloudService) register(mux *http.ServeMux) {
	// accounts.acquia.com documents the first; the Cloud API's OpenAPI
	// spec names the second. Both work upstream.
	mux.HandleFunc("/api/auth/oauth/token", c.token)
	mux.HandleFunc("/api/token", c.token)
	mux.HandleFunc("/api/account", c.account)
	mux.HandleFunc("/api/account/tokens", c.apiKeys)
	mux.HandleFunc("/api/account/tokens/{uuid}", c.apiKey)

	mux.HandleFunc("POST "+adminPrefix+"cloud/clients", adminJSON(c.adminAddClient))
	mux.HandleFunc("DELETE "+adminPrefix+"cloud/clients/{id}", c.adminRemoveClient)
	mux.HandleFunc("POST "+adminPrefix+"cloud/okta-errors", adminSwitch(c.e.SetOktaErrors))
	mux.HandleFunc("POST "+adminPrefix+"cloud/revoke-on-key-delete", adminSwitch(c.e.SetCloudRevokeOnKeyDelete))
	mux.HandleFunc("POST "+adminPrefix+"cloud/key-propagation", adminJSON(c.adminKeyPropagation))
	mux.HandleFunc("GET "+adminPrefix+"cloud/keys", c.adminKeys)
	mux.HandleFunc("POST "+adminPrefix+"cloud/key-variants", adminJSON(c.adminKeyVariants))
	mux.HandleFunc("POST "+adminPrefix+"cloud/scope-echo", adminSwitch(c.e.SetCloudScopeEcho))
	mux.HandleFunc("POST "+adminPrefix+"cloud/federated-status", adminJSON(c.adminFederatedStatus))
}

// SetCloudScopeEcho makes token answers repeat the granted scope (the
// default) or not: whether the real one does is unverified.
func (e *Emulator) SetCloudScopeEcho(on bool) { e.setSwitch(&e.cloud().noScopeEcho, !on) }

// SetCloudFederatedStatus sets the status of /api/account's
// additional_authentication_required answer: 403 by default, which the
// vendor's page does not state. A status outside 400-499 is ignored.
func (e *Emulator) SetCloudFederatedStatus(status int) {
	if status < 400 || status > 499 {
		return
	}
	store(e, &e.cloud().federatedStatus, status)
}

func (c *cloudService) adminFederatedStatus(in statusJSON) (refusal string) {
	if in.Status < 400 || in.Status > 499 {
		return "status must be 400-499."
	}
	c.e.SetCloudFederatedStatus(in.Status)
	return ""
}

// AddCloudClient adds an API key, replacing any key with the same ID (as a
// secret rotation would). A key without a KeyUUID gets one derived from
// its ID, so re-adding it keeps its uuid.
func (e *Emulator) AddCloudClient(c CloudClient) {
	c.Orgs = slices.Clone(c.Orgs)
	c.FederatedOrgs = slices.Clone(c.FederatedOrgs)
	if c.KeyUUID == "" {
		c.KeyUUID = uuidFrom("cloud-key:" + c.ID)
	}
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := e.cloud()
	if old, ok := cs.clients[c.ID]; ok && old.KeyUUID != c.KeyUUID {
		delete(cs.keys, old.KeyUUID)
	}
	cs.clients[c.ID] = c
	cs.keys[c.KeyUUID] = &cloudKey{clientID: c.ID, label: c.Label, user: c.ID, createdAt: now}
}

// RemoveCloudClient deletes an API key as DELETE /api/account/tokens/{uuid}
// does: later token requests with it get 401 invalid_client. Tokens
// already issued keep working until they expire, unless
// SetCloudRevokeOnKeyDelete is on.
func (e *Emulator) RemoveCloudClient(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := e.cloud()
	if c, ok := cs.clients[id]; ok {
		cs.deleteKeyLocked(c.KeyUUID)
	}
}

// SetCloudRevokeOnKeyDelete decides what deleting a key does to the
// tokens issued to it, which Acquia does not document: off (the default),
// they live until they expire; on, they die with the key.
func (e *Emulator) SetCloudRevokeOnKeyDelete(on bool) { e.setSwitch(&e.cloud().revokeOnKeyDelete, on) }

// SetCloudKeyPropagation makes each key created through POST
// /api/account/tokens from now on refuse its first n token requests with
// invalid_client, as a key still propagating upstream might; 0 (the
// default) makes new keys work at once.
func (e *Emulator) SetCloudKeyPropagation(n int) { store(e, &e.cloud().propagation, max(n, 0)) }

// CloudKeys returns a copy of every live Cloud API key, secrets included,
// oldest first.
func (e *Emulator) CloudKeys() []CloudClient {
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := e.cloud()
	out := make([]CloudClient, 0, len(cs.clients))
	for _, c := range cs.clients {
		c.Orgs, c.FederatedOrgs = slices.Clone(c.Orgs), slices.Clone(c.FederatedOrgs)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b CloudClient) int {
		return cmp.Or(cs.keys[a.KeyUUID].createdAt.Compare(cs.keys[b.KeyUUID].createdAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// deleteKeyLocked deletes the key uuid: its credentials stop working at
// once; its record stays, so a second delete is told it was revoked.
func (c *cloudService) deleteKeyLocked(uuid string) {
	k, ok := c.keys[uuid]
	if !ok || k.deleted {
		return
	}
	k.deleted = true
	k.deletedAt = c.e.clock().Add(c.e.offset)
	delete(c.clients, k.clientID)
	if c.revokeOnKeyDelete {
		c.e.revokeAllOfLocked(serviceCloud, k.clientID)
	}
}

// SetOktaErrors switches token-endpoint errors to Okta's
// {"errorCode","errorSummary"} shape.
func (e *Emulator) SetOktaErrors(on bool) { e.setSwitch(&e.cloud().oktaErrors, on) }

func (c *cloudService) okta() bool { return c.e.switchOn(&c.oktaErrors) }

// oauth is Cloud's error style: Basic realm "accounts" after a failed
// Basic attempt, and Okta's shape while SetOktaErrors is on.
func (c *cloudService) oauth() oauthStyle { return oauthStyle{realm: "accounts", okta: c.okta} }

func (c *cloudService) token(w http.ResponseWriter, r *http.Request) {
	c.oauth().serveToken(w, r, "The token endpoint", c.grant)
}

// grant checks grant type, then client, then scope.
func (c *cloudService) grant(w http.ResponseWriter, r *http.Request) (map[string]any, *oauthError) {
	client, form, oerr := clientCredentialsRequest(w, r, c.authenticate)
	if oerr != nil {
		return nil, oerr
	}

	scope := form.Get("scope")
	if scope != "" && !client.mayRequest(scope) {
		return nil, badRequest("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
	}

	lifetime := cmp.Or(client.Lifetime, cloudTokenTTL)
	t := c.e.issue(serviceCloud, client.ID, scope, lifetime)
	resp := map[string]any{
		"access_token": t.Value,
		"token_type":   "Bearer",
		"expires_in":   int(lifetime / time.Second),
	}
	if scope != "" && !c.e.switchOn(&c.noScopeEcho) {
		resp["scope"] = scope
	}
	return resp, nil
}

// authenticate checks the client credentials of a token request, sent in
// the body or as raw (not url-decoded) Basic.
func (c *cloudService) authenticate(r *http.Request, form url.Values) (CloudClient, *oauthError) {
	id, secret, oerr := clientCredentials(r, form)
	if oerr != nil {
		return CloudClient{}, oerr
	}
	refused := &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: cloudClientFailed}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	client, ok := c.clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(client.Secret), []byte(secret)) != 1 {
		return CloudClient{}, refused
	}
	if k := c.keys[client.KeyUUID]; k != nil && k.refusals > 0 {
		k.refusals--
		return CloudClient{}, refused
	}
	return client, nil
}

// mayRequest accepts exactly one "organization:<uuid>" scope naming one of
// the key's organizations.
func (cl CloudClient) mayRequest(scope string) bool {
	org, ok := strings.CutPrefix(scope, cloudScopePrefix)
	if !ok || org == "" || strings.ContainsAny(org, " \t") {
		return false
	}
	return slices.Contains(cl.Orgs, org) || slices.Contains(cl.FederatedOrgs, org)
}

func (c *cloudService) account(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	_, user, ok := c.apiUser(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"uuid": uuidFrom("cloud-user:" + user),
		"name": "Demo User",
		"mail": "demo@example.com",
	})
}

// apiUser authenticates a Cloud API request: a live Cloud token, scoped
// to a federated organization of its key where the key has one. It
// answers 401 or 403 itself, or returns the token and the user it acts
// for.
func (c *cloudService) apiUser(w http.ResponseWriter, r *http.Request) (Token, string, bool) {
	t, ok := c.e.bearerLive(r, serviceCloud)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeAPIError(w, http.StatusUnauthorized, "invalid_token", "The access token is missing, invalid or expired.")
		return Token{}, "", false
	}

	c.e.mu.Lock()
	client, known := c.clients[t.ClientID]
	user := t.ClientID
	if _, k := c.keyOfLocked(t.ClientID); k != nil {
		user = k.user
	}
	status := cmp.Or(c.federatedStatus, http.StatusForbidden)
	c.e.mu.Unlock()
	if known && len(client.FederatedOrgs) > 0 && !slices.ContainsFunc(client.FederatedOrgs, func(org string) bool {
		return t.Scope == cloudScopePrefix+org
	}) {
		writeAPIError(w, status, "additional_authentication_required", "This resource requires additional authentication.")
		return Token{}, "", false
	}
	return t, user, true
}

// keyOfLocked finds the key, live or deleted, whose client id is id.
func (c *cloudService) keyOfLocked(id string) (string, *cloudKey) {
	if cl, ok := c.clients[id]; ok {
		return cl.KeyUUID, c.keys[cl.KeyUUID]
	}
	for uuid, k := range c.keys {
		if k.clientID == id {
			return uuid, k
		}
	}
	return "", nil
}

// uuidFrom derives a stable UUID-shaped id, so the same key always maps to
// the same account.
func uuidFrom(s string) string {
	h := sha256.Sum256([]byte(s))
	h[6] = h[6]&0x0f | 0x50 // version 5-like
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

type cloudClientJSON struct {
	ID            string   `json:"id"`
	Secret        string   `json:"secret"`
	Orgs          []string `json:"orgs"`
	FederatedOrgs []string `json:"federated_orgs"`
	KeyUUID       string   `json:"key_uuid"`
}

func (c *cloudService) adminAddClient(in cloudClientJSON) (refusal string) {
	if in.ID == "" || in.Secret == "" {
		return "id and secret are required."
	}
	if in.KeyUUID != "" && !isUUID(in.KeyUUID) {
		return "key_uuid must be a uuid."
	}
	c.e.AddCloudClient(CloudClient{ID: in.ID, Secret: in.Secret, Orgs: in.Orgs, FederatedOrgs: in.FederatedOrgs, KeyUUID: in.KeyUUID})
	return ""
}

func (c *cloudService) adminRemoveClient(w http.ResponseWriter, r *http.Request) {
	c.e.RemoveCloudClient(r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
}

// operation names a request to a Cloud route (see Operations).
func (c *cloudService) operation(r *http.Request, _ url.Values) string {
	p := r.URL.Path
	switch {
	case p == "/api/auth/oauth/token" || p == "/api/token":
		return opToken
	case p == "/api/account":
		return "account_check"
	case p == "/api/account/tokens" && r.Method == http.MethodPost:
		return "key_create"
	case p == "/api/account/tokens":
		return "key_list"
	case strings.HasPrefix(p, "/api/account/tokens/") && r.Method == http.MethodDelete:
		return "key_delete"
	case strings.HasPrefix(p, "/api/account/tokens/"):
		return "key_read"
	}
	return ""
}
