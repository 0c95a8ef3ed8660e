// Package emulator is a stateful, strict in-process stand-in for the Acquia
// token services the plugin talks to. Unit tests, end-to-end tests and the
// local demo all run against it, so it reproduces the upstreams' awkward
// corners (error shapes, the Basic-auth quirk, federated organizations,
// expiry) instead of being a permissive mock, and it lets tests inject
// faults and move time.
//
// Each upstream is one service, in its own file or files (cloud.go,
// source*.go, acronis.go, cdp.go, oauth2.go), all on one mux:
//
//   - cloud, Acquia Cloud: client credentials at /api/auth/oauth/token and
//     /api/token, with Basic credentials compared without url-decoding as
//     upstream does; /api/account answers 403 for a federated organization
//     the token's scope does not name. API keys (cloud_keys.go), with a
//     Bearer token of the key's user: POST /api/account/tokens {"label"}
//     answers 201 with a new client_id and client_secret and the key's
//     uuid only in _links.self.href (never equal to the client_id); GET
//     /api/account/tokens lists uuid, label and client_id, never a
//     secret; DELETE /api/account/tokens/{uuid} answers 200, 404 for an
//     unknown key, 409 for one already revoked, and the deleted key's
//     secret is refused (invalid_client) at once. Every key has a uuid
//     (CloudClient.KeyUUID; DemoCloudKeyUUID for the demo key); CloudKeys
//     lists the live ones. Switches: SetOktaErrors (Okta-shaped error
//     bodies); SetCloudScopeEcho (token answers repeat the scope or not);
//     SetCloudFederatedStatus (the status of the federated refusal, 403 by
//     default); SetCloudRevokeOnKeyDelete (a deleted key's tokens die with
//     it; off by default: they live until they expire, as Acquia does not
//     say); SetCloudKeyPropagation (new keys refuse their first n token
//     requests); RemoveCloudClient deletes a key as the API does.
//   - source, an Acquia Source (Drupal simple_oauth) site: /oauth/authorize
//     (code flow with S256 PKCE), /oauth/token (client credentials,
//     authorization code, refresh with rotation and replay detection),
//     RFC 7009 /oauth/revoke, RFC 8414 metadata and /jsonapi. Token
//     answers do not repeat the scope. SourceClient's Grants (another
//     grant is invalid_client) and NoDefaultUser (client credentials get
//     simple_oauth's 500 "Invalid default user for client."). Switches:
//     SetSourceDeny (the user refuses), SetSourcePKCE (off: the site
//     ignores code_challenge and code_verifier), SetSourceRevocation (no
//     revocation endpoint: a JSON 404), SetSourceRevocationCascades
//     (revoking an access token revokes its grant, RFC 7009 §2.1),
//     SetSourceRevocationRefreshOnly (access tokens get 400
//     unsupported_token_type), SetSourceLifetimes; counters
//     SourceRefreshReuses and SourceRefreshTokens.
//   - acronis, an Acronis data center: client credentials with raw (not
//     url-encoded) Basic only at /bc/idp/token and /api/2/idp/token,
//     revocation at /api/2/idp/revoke_token, /api/2/clients/{client_id}
//     and OpenID discovery. Switches: SetAcronisExpiresIn,
//     SetAcronisRevokeWithBearer (revocation takes the token itself as
//     Bearer, not Basic), SetAcronisRevokeNotFound (a token revocation
//     did not revoke gets a JSON 404 invalid_token),
//     SetAcronisClientsAtBaseURL (the client API at /clients/{client_id}
//     instead), SetAcronisFormDecodedBasic (Basic credentials
//     form-url-decoded per RFC 6749 §2.3.1), DisableAcronisClient; counter
//     AcronisUnknownRevokes.
//   - cdp, Acquia CDP: /authentication (login, logout: "cdp-session"
//     tokens) and /token (create, retrieve, extend, revoke one or all:
//     "cdp" tokens), with a per-user token cap that revokes the oldest. A
//     new user holds one token already (CDPInitialToken), as upstream.
//     Switches: SetCDPUserDisabled, SetCDPCreateDisablesAll (a create
//     disables every earlier token), SetCDPNoTokenStatus (what retrieve
//     and delete-all answer a user without tokens: 404, 200 empty, 401),
//     SetCDPRefuseBody (POST/DELETE with a body is a 400), SetCDPAnswer
//     (expires_in as a string or missing, numeric tenantId, the
//     passwordExpiryDate layout), and CDPUser's MaxTokens and
//     PasswordExpiry; DeleteCDPTokens; counter CDPDisabledByLimit.
//   - oauth2, a generic RFC 6749 server that follows the RFCs to the
//     letter (Basic credentials url-decoded): /oauth2/token (client
//     credentials; authorization code and refresh as Source's, with
//     rotation and replay detection, codeflow.go), /oauth2/authorize
//     (S256 PKCE, OAuth2Client's RedirectURIs), RFC 7009 /oauth2/revoke
//     (access and refresh tokens) and the RFC 6750 resource
//     /oauth2/resource; counters OAuth2RefreshTokens and
//     OAuth2RefreshReuses.
//     Switches: SetOAuth2RevocationRefreshOnly, SetOAuth2OmitTokenType (no
//     token_type in token answers, as many servers), SetOAuth2RevokeNotFound
//     (a token revocation did not revoke gets a JSON 404 invalid_token),
//     SetOAuth2AssertionAudience (the aud a private_key_jwt assertion must
//     carry: the token endpoint's URL, as Okta, or the issuer
//     OAuth2Issuer). A client registered with a JWKS (OAuth2Client.JWKS)
//     authenticates with private_key_jwt, checked strictly
//     (oauth2_assertion.go): signature, iss = sub = client_id, aud, exp,
//     a jti never seen before; 401 invalid_client otherwise.
//
// They share the token store (tokens.go: every issue, revoke and extend,
// and Tokens, LiveTokens, Token, TokenLive for tests), the clock
// (SetClock, Advance), the fault layer (faults.go: InjectFault holds a
// status, Retry-After, delay or raw body for the next requests under a
// path prefix; Requests counts them by path, Operations by service and
// operation, with the plugin's operation names), the OAuth request and error
// helpers (oauth.go), the switches (switches.go; SetStrictest sets each
// to its least forgiving reading) and the admin API. SetStorm (storm.go)
// fails a set share of all upstream requests at random, drawing from
// 5xx, 429 with Retry-After, connection resets, slow, truncated, malformed
// and oversized answers and redirects; StormCounts says what it injected.
//
// The admin API, under /_emulator/ and exempt from faults and counting,
// lets a test or demo in another process drive all of this:
//
//	GET    /_emulator/tokens[?service=]            every token, with "live"
//	POST   /_emulator/faults                       a Fault as JSON
//	DELETE /_emulator/faults                       drop queued faults
//	POST   /_emulator/clock/advance?seconds=N      Advance
//	GET    /_emulator/requests[?path_prefix=]      Requests
//	GET    /_emulator/operations                   Operations: {service: {operation: count}}
//	POST   /_emulator/strictest                    SetStrictest
//	POST   /_emulator/cloud/clients                AddCloudClient
//	DELETE /_emulator/cloud/clients/{id}           RemoveCloudClient
//	POST   /_emulator/cloud/okta-errors            {"on": bool}
//	POST   /_emulator/cloud/revoke-on-key-delete   {"on": bool}
//	POST   /_emulator/cloud/key-propagation        {"refusals": n}
//	GET    /_emulator/cloud/keys                   every key, deleted too; no secrets
//	POST   /_emulator/cloud/scope-echo             {"on": bool}
//	POST   /_emulator/cloud/federated-status       {"status": 400-499}
//	POST   /_emulator/source/clients               AddSourceClient
//	POST   /_emulator/source/deny                  {"on": bool}
//	POST   /_emulator/source/pkce                  {"on": bool}
//	POST   /_emulator/source/revocation            {"on": bool}
//	POST   /_emulator/source/revocation-cascades   {"on": bool}
//	POST   /_emulator/source/revocation-refresh-only {"on": bool}
//	GET    /_emulator/source/stats                 the Source counters
//	POST   /_emulator/acronis/clients              AddAcronisClient
//	POST   /_emulator/acronis/clients/{id}/disable DisableAcronisClient
//	POST   /_emulator/acronis/expires-in           {"on": bool}
//	POST   /_emulator/acronis/revoke-with-bearer   {"on": bool}
//	POST   /_emulator/acronis/revoke-not-found     {"on": bool}
//	POST   /_emulator/acronis/clients-at-base-url  {"on": bool}
//	POST   /_emulator/acronis/form-decoded-basic   {"on": bool}
//	POST   /_emulator/cdp/users                    AddCDPUser
//	POST   /_emulator/cdp/create-disables-all      {"on": bool}
//	POST   /_emulator/cdp/no-token-status          {"status": 404|200|401}
//	POST   /_emulator/cdp/refuse-body              {"on": bool}
//	POST   /_emulator/cdp/answer                   a CDPAnswer as JSON
//	POST   /_emulator/oauth2/clients               AddOAuth2Client ("jwks": a JWK Set for private_key_jwt)
//	POST   /_emulator/oauth2/assertion-audience    {"audience": "token_url"|"issuer"}
//	POST   /_emulator/oauth2/revocation-refresh-only {"on": bool}
//	POST   /_emulator/oauth2/omit-token-type       {"on": bool}
//	POST   /_emulator/oauth2/revoke-not-found      {"on": bool}
package emulator

import (
	"errors"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// service is one emulated upstream. register adds its public routes and
// its own admin routes (under /_emulator/<name>/) to the shared mux;
// seedDemo adds its demo credentials.
type service interface {
	name() string
	register(mux *http.ServeMux)
	seedDemo()
}

// serviceFactories is filled by each service file's init, so adding an
// upstream is one new file and no edit here.
var serviceFactories []func(*Emulator) service

// Emulator holds every emulated upstream's state behind one mutex: state is
// small and contention irrelevant, and a single lock rules out lock-order
// bugs between services, tokens and faults.
type Emulator struct {
	mu sync.Mutex

	clock  func() time.Time
	offset time.Duration

	// Read and written only in tokens.go.
	tokens  map[string][]*Token // by service, in issue order
	byValue map[string]*Token

	faults   []*faultState
	storm    *stormState    // storm.go
	requests map[string]int // by exact path
	// operations counts requests by service and operation (operations.go).
	operations map[string]map[string]int

	services map[string]service // by name; read-only after New

	logger *log.Logger

	handler http.Handler

	srv     *http.Server
	url     string
	closing chan struct{}
	closeMu sync.Once

	// conns counts the connections the server accepted; inFlight and
	// peak, the requests being answered now and the most at once since
	// ResetPeak (conns.go).
	conns, inFlight, peak atomic.Int64
}

// New returns an emulator with no clients; add some with AddCloudClient or
// AddDemo, then Start it or mount Handler.
func New() *Emulator {
	e := &Emulator{
		clock:      time.Now,
		tokens:     map[string][]*Token{},
		byValue:    map[string]*Token{},
		requests:   map[string]int{},
		operations: map[string]map[string]int{},
		closing:    make(chan struct{}),
		services:   map[string]service{},
	}

	mux := http.NewServeMux()
	for _, newService := range serviceFactories {
		s := newService(e)
		e.services[s.name()] = s
		s.register(mux)
	}
	e.registerAdmin(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, "not_found", "The requested resource was not found.")
	})
	e.handler = e.countInFlight(e.logRequests(e.applyFaults(mux)))
	return e
}

// AddDemo seeds the demo credentials of every service.
func (e *Emulator) AddDemo() {
	for _, s := range e.services {
		s.seedDemo()
	}
}

// Handler serves every emulated service and the admin API, routed by path.
func (e *Emulator) Handler() http.Handler { return e.handler }

// Start serves on a free loopback port and returns the base URL.
func (e *Emulator) Start() (string, error) { return e.StartOn("127.0.0.1:0") }

// StartOn serves on addr and returns the base URL.
func (e *Emulator) StartOn(addr string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv != nil {
		return "", errors.New("emulator: already started")
	}
	select {
	case <-e.closing:
		return "", errors.New("emulator: closed")
	default:
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: e.handler, ReadHeaderTimeout: 10 * time.Second, ConnState: e.countConn}
	e.srv = srv
	e.url = "http://" + dialable(ln.Addr())
	go func() { _ = srv.Serve(ln) }()
	return e.url, nil
}

// dialable turns a listen address into one a client can dial: a wildcard
// listen ("[::]:8380") is reachable on loopback.
func dialable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}

// URL is the base URL given by Start, or "" before it.
func (e *Emulator) URL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.url
}

// Close stops the server, dropping open connections so a client blocked on
// an injected delay is released. Safe to call twice or without Start.
func (e *Emulator) Close() {
	e.mu.Lock()
	srv := e.srv
	e.mu.Unlock()
	// Connections go first, so handlers woken below cannot answer.
	if srv != nil {
		_ = srv.Close()
	}
	e.closeMu.Do(func() { close(e.closing) })
}

// SetClock replaces the clock used for issuing and expiring tokens, so a
// test can share one fake clock between the plugin and the emulator. Any
// offset from Advance still applies on top.
func (e *Emulator) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock = now
}

// Advance moves the emulator's clock forward by d.
func (e *Emulator) Advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.offset += d
}

// now must be called without e.mu held: the clock is the caller's code and
// may take its own locks.
func (e *Emulator) now() time.Time {
	e.mu.Lock()
	clock, off := e.clock, e.offset
	e.mu.Unlock()
	return clock().Add(off)
}

// SetLogger logs one line per request (method, path, status, duration) to
// l; nil turns logging off. Bodies, query strings and headers are never
// logged, since they may carry secrets or tokens.
func (e *Emulator) SetLogger(l *log.Logger) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.logger = l
}

func (e *Emulator) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		l := e.logger
		e.mu.Unlock()
		if l == nil {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				l.Printf("%s %s aborted %s", r.Method, r.URL.Path, time.Since(start).Round(time.Microsecond))
				panic(v)
			}
		}()
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		l.Printf("%s %s %d %s", r.Method, r.URL.Path, sw.status, time.Since(start).Round(time.Microsecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
