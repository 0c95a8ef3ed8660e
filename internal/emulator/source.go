package emulator

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Demo credentials for Acquia Source, seeded by AddDemo.
const (
	DemoSourceClientID = "demo-source-client"
	// DemoSourceClientSecret holds + / = on purpose, to catch clients that
	// encode it wrongly in a form body or in Basic auth.
	DemoSourceClientSecret = "demo+Source/Secret=With=Chars=="
	// DemoSourceScope is every scope the demo client may request, as a
	// client sends it.
	DemoSourceScope = "content:read content:write"
	// DemoSourceUser is the site's built-in user: it approves every
	// authorization request unless SetSourceDeny is on.
	DemoSourceUser = "demo-editor"
)

// SourceClient is an API client of an Acquia Source site (a Drupal
// consumer).
type SourceClient struct {
	ID, Secret string
	// Scopes the client may request; empty allows any.
	Scopes []string
	// RedirectURIs are the redirect_uri values allowed at /oauth/authorize,
	// compared exactly. Empty allows any http loopback URI and any https URI.
	RedirectURIs []string
	// Grants the consumer may use (client_credentials,
	// authorization_code, refresh_token); empty allows all three. Any
	// other answers invalid_client, as league/oauth2-server does.
	Grants []string
	// NoDefaultUser: the consumer has no default user, which simple_oauth
	// needs for client_credentials and checks before the secret: 500
	// server_error "Invalid default user for client."
	NoDefaultUser bool
}

const (
	serviceSource = "source"

	sourceDefaultAccessTTL  = 300 * time.Second
	sourceDefaultRefreshTTL = 14 * 24 * time.Hour
	sourceDefaultCodeTTL    = 60 * time.Second
)

type sourceService struct {
	e    *Emulator
	flow *codeFlow // codes and refresh tokens (codeflow.go)
	// Guarded by e.mu.
	clients     map[string]SourceClient
	revocation  bool
	cascade     bool // revoking an access token revokes its grant
	refreshOnly bool // revocation takes refresh tokens only
	accessTTL   time.Duration
}

func init() {
	serviceFactories = append(serviceFactories, func(e *Emulator) service {
		return &sourceService{
			e:          e,
			flow:       newCodeFlow(e, serviceSource, DemoSourceUser, sourceWords, true, sourceDefaultCodeTTL, sourceDefaultRefreshTTL),
			clients:    map[string]SourceClient{},
			revocation: true,
			accessTTL:  sourceDefaultAccessTTL,
		}
	})
}

func (e *Emulator) source() *sourceService { return e.services[serviceSource].(*sourceService) }

func (s *sourceService) name() string { return serviceSource }

func (s *sourceService) seedDemo() {
	s.e.AddSourceClient(SourceClient{
		ID: DemoSourceClientID, Secret: DemoSourceClientSecret,
		Scopes: strings.Fields(DemoSourceScope),
	})
}

func (s *sourceService) register(mux *http.ServeMux) {
	mux.HandleFunc("/oauth/authorize", s.authorize)
	mux.HandleFunc("/oauth/token", s.token)
	mux.HandleFunc("/oauth/revoke", s.revoke)
	mux.HandleFunc("/.well-known/oauth-authorization-server", s.metadata)
	mux.HandleFunc("/jsonapi", s.jsonapi)

	mux.HandleFunc("POST "+adminPrefix+"source/clients", adminJSON(s.adminAddClient))
	mux.HandleFunc("POST "+adminPrefix+"source/deny", adminSwitch(s.e.SetSourceDeny))
	mux.HandleFunc("POST "+adminPrefix+"source/revocation", adminSwitch(s.e.SetSourceRevocation))
	mux.HandleFunc("POST "+adminPrefix+"source/pkce", adminSwitch(s.e.SetSourcePKCE))
	mux.HandleFunc("POST "+adminPrefix+"source/revocation-cascades", adminSwitch(s.e.SetSourceRevocationCascades))
	mux.HandleFunc("POST "+adminPrefix+"source/revocation-refresh-only", adminSwitch(s.e.SetSourceRevocationRefreshOnly))
	mux.HandleFunc("GET "+adminPrefix+"source/stats", s.adminStats)
}

// AddSourceClient adds an API client, replacing any with the same ID (as a
// secret change in the Drupal UI would).
func (e *Emulator) AddSourceClient(c SourceClient) {
	c.Scopes = slices.Clone(c.Scopes)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.Grants = slices.Clone(c.Grants)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.source().clients[c.ID] = c
}

// SetSourceLifetimes sets the lifetimes of tokens and codes issued from now
// on; a zero (or negative) duration keeps the current value.
func (e *Emulator) SetSourceLifetimes(access, refresh, code time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.source()
	if access > 0 {
		s.accessTTL = access
	}
	if refresh > 0 {
		s.flow.refreshTTL = refresh
	}
	if code > 0 {
		s.flow.codeTTL = code
	}
}

// SetSourceDeny makes the built-in user refuse every authorization request
// (error=access_denied), as a user clicking "Cancel" would.
func (e *Emulator) SetSourceDeny(on bool) { e.setSwitch(&e.source().flow.deny, on) }

// SetSourceRevocation turns the RFC 7009 endpoint on (the default) or off;
// off, /oauth/revoke is a 404 and the metadata no longer advertises it, as
// on a site without the revocation module.
func (e *Emulator) SetSourceRevocation(on bool) { e.setSwitch(&e.source().revocation, on) }

// SetSourcePKCE turns PKCE (RFC 7636) on, the default, or off: off, the
// site ignores code_challenge and code_verifier as a server without PKCE
// does. Whether Source supports it is unverified.
func (e *Emulator) SetSourcePKCE(on bool) { e.setSwitch(&e.source().flow.ignorePKCE, !on) }

// SetSourceRevocationCascades makes revoking an access token issued from a
// user's authorization revoke that authorization too (its refresh token
// and every token descended from the same code), as RFC 7009 §2.1 allows.
func (e *Emulator) SetSourceRevocationCascades(on bool) { e.setSwitch(&e.source().cascade, on) }

// SetSourceRevocationRefreshOnly makes the revocation endpoint refuse
// access tokens with 400 unsupported_token_type (RFC 7009 §2.2.1), as a
// server that revokes only refresh tokens does.
func (e *Emulator) SetSourceRevocationRefreshOnly(on bool) { e.setSwitch(&e.source().refreshOnly, on) }

// SourceRefreshReuses counts refresh requests that presented a refresh
// token already rotated away: each one is a client that failed to store
// the replacement.
func (e *Emulator) SourceRefreshReuses() int { return load(e, &e.source().flow.reuses) }

// SourceRefreshTokens counts the refresh tokens neither revoked, rotated
// nor expired.
func (e *Emulator) SourceRefreshTokens() int { return e.source().flow.liveRefreshTokens() }

// SourceRefreshLive reports whether value is a live refresh token.
func (e *Emulator) SourceRefreshLive(value string) bool { return e.source().flow.refreshLive(value) }

// SourceCredentials returns every authorization code and refresh token
// ever issued, live or not, so a test can prove none of them reached a log
// line or a response.
func (e *Emulator) SourceCredentials() []string { return e.source().flow.credentials() }

func (s *sourceService) client(id string) (SourceClient, bool) { return lookup(s.e, s.clients, id) }

// authenticate checks a token or revoke request's client credentials, sent
// in the body or as raw (not url-decoded) Basic, as Cloud's are.
func (s *sourceService) authenticate(r *http.Request, form url.Values) (SourceClient, *oauthError) {
	return s.authenticateFor(r, form, "")
}

// authenticateFor is authenticate for a token request of grant, in
// simple_oauth's order: the consumer, its default user where the grant
// needs one, the secret, the consumer's grant types. A grant the consumer
// may not use is invalid_client, league/oauth2-server's answer.
func (s *sourceService) authenticateFor(r *http.Request, form url.Values, grant string) (SourceClient, *oauthError) {
	id, secret, oerr := clientCredentials(r, form)
	if oerr != nil {
		return SourceClient{}, oerr
	}
	invalid := sourceErr(http.StatusUnauthorized, "invalid_client", cloudClientFailed, "")
	c, ok := s.client(id)
	switch {
	case !ok:
		return SourceClient{}, invalid
	case grant == "client_credentials" && c.NoDefaultUser:
		return SourceClient{}, sourceErr(http.StatusInternalServerError, "server_error", sourceDescServerError+"Invalid default user for client.", "")
	case subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1:
		return SourceClient{}, invalid
	case grant != "" && len(c.Grants) > 0 && !slices.Contains(c.Grants, grant):
		return SourceClient{}, invalid
	}
	return c, nil
}

// allows reports whether every scope is one the client may request.
func (c SourceClient) allows(scopes []string) bool {
	if len(c.Scopes) == 0 {
		return true
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return false
		}
	}
	return true
}

// sourceParseScope splits a scope parameter by RFC 6749 §3.3's grammar
// (single spaces between NQCHAR tokens), dropping repeats.
func sourceParseScope(scope string) ([]string, bool) {
	if scope == "" {
		return nil, true
	}
	var out []string
	for _, tok := range strings.Split(scope, " ") {
		if tok == "" || strings.IndexFunc(tok, func(c rune) bool { return c < 0x21 || c == '"' || c == '\\' || c > 0x7e }) >= 0 {
			return nil, false
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, true
}

// operation names a request to a Source route (see Operations).
func (s *sourceService) operation(r *http.Request, form url.Values) string {
	switch r.URL.Path {
	case "/oauth/token":
		return grantOperation(form)
	case "/oauth/revoke":
		return opRevoke
	case "/oauth/authorize":
		return opAuthorize
	case "/.well-known/oauth-authorization-server":
		return opDiscovery
	case "/jsonapi":
		return "jsonapi"
	}
	return ""
}
