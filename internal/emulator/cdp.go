package emulator

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Demo credentials for Acquia CDP, seeded by AddDemo. The password holds
// : + / = on purpose, to catch clients that encode Basic auth wrongly.
const (
	DemoCDPUsername = "tracker_demo01"
	DemoCDPPassword = "demo-cdp-P@ss:word+/="
	DemoCDPTenant   = "demo-tenant"
)

// CDPUser is an Acquia CDP integration user (Integrations > Instances). A
// new user starts with one live token, as "After you create a user, CDP
// generates an authorized bearer token" says: a token nobody in Vault made,
// which counts toward MaxTokens like any other.
type CDPUser struct {
	Username, Password string
	TenantID           string
	UserType           string        // default "CLIENT"
	PasswordExpiry     time.Time     // default: emulator now + 365 days
	Lifetime           time.Duration // token lifetime, default 180*24h
	MaxTokens          int           // default 3
}

const (
	serviceCDP        = "cdp"
	serviceCDPSession = "cdp-session"
	cdpDateLayout     = "2006-01-02T15:04:05"
	cdpInvalidToken   = "Invalid token"
)

type cdpService struct {
	e *Emulator
	// Guarded by e.mu.
	users           map[string]CDPUser
	disabled        map[string]bool
	initial         map[string]string // the token each user was created with
	disabledByLimit int
	// The unverified corners of CDP, one setting each (SetCDP...).
	createDisablesAll bool
	noTokenStatus     int
	refuseBody        bool
	answer            CDPAnswer
	retrieveMode      string // CDPRetrieveNewest (""), CDPRetrieveOldest, CDPRetrieveInitial
	extendMode        CDPExtend
}

// CDPExtend is how action=extend answers; the vendor documents extend for a
// token "about to expire" and shows it answering the token it extended.
// The zero value extends any live token and answers it.
type CDPExtend struct {
	// Window refuses (400 TOKEN_NOT_EXPIRING) to extend a token with more
	// than this left; 0 extends any.
	Window time.Duration `json:"window_seconds"`
	// NewToken answers a new token that replaces the one extended, which
	// dies.
	NewToken bool `json:"new_token"`
	// NoBody answers 200 with no body.
	NoBody bool `json:"no_body"`
}

// SetCDPExtend sets how extend answers.
func (e *Emulator) SetCDPExtend(x CDPExtend) { store(e, &e.cdp().extendMode, x) }

func (c *cdpService) adminExtend(in struct {
	WindowSeconds int64 `json:"window_seconds"`
	NewToken      bool  `json:"new_token"`
	NoBody        bool  `json:"no_body"`
}) (refusal string) {
	window, ok := adminSeconds(in.WindowSeconds)
	if !ok {
		return "window_seconds must not be negative."
	}
	c.e.SetCDPExtend(CDPExtend{Window: window, NewToken: in.NewToken, NoBody: in.NoBody})
	return ""
}

// Which token the retrieve call (GET /token?scheme=a1user, Basic) answers
// when the user holds several: the vendor says "the token", not which.
const (
	CDPRetrieveNewest  = "newest"
	CDPRetrieveOldest  = "oldest"
	CDPRetrieveInitial = "initial" // the one CDP made with the user while it lives, else the oldest
)

// SetCDPRetrieve sets which token retrieve answers; an unknown mode is
// ignored.
func (e *Emulator) SetCDPRetrieve(mode string) {
	switch mode {
	case CDPRetrieveNewest, CDPRetrieveOldest, CDPRetrieveInitial:
	default:
		return
	}
	store(e, &e.cdp().retrieveMode, mode)
}

func (c *cdpService) adminRetrieve(in struct {
	Mode string `json:"mode"`
}) (refusal string) {
	switch in.Mode {
	case CDPRetrieveNewest, CDPRetrieveOldest, CDPRetrieveInitial:
	default:
		return "mode must be newest, oldest or initial."
	}
	c.e.SetCDPRetrieve(in.Mode)
	return ""
}

func init() {
	serviceFactories = append(serviceFactories, func(e *Emulator) service {
		return &cdpService{e: e, users: map[string]CDPUser{}, disabled: map[string]bool{}, initial: map[string]string{},
			noTokenStatus: http.StatusNotFound}
	})
}

func (e *Emulator) cdp() *cdpService { return e.services[serviceCDP].(*cdpService) }

func (c *cdpService) name() string { return serviceCDP }

func (c *cdpService) seedDemo() {
	c.e.AddCDPUser(CDPUser{Username: DemoCDPUsername, Password: DemoCDPPassword, TenantID: DemoCDPTenant})
}

func (c *cdpService) register(mux *http.ServeMux) {
	mux.HandleFunc("/authentication", c.authentication)
	mux.HandleFunc("/token", c.token)
	mux.HandleFunc("POST "+adminPrefix+"cdp/users", adminJSON(c.adminAddUser))
	mux.HandleFunc("POST "+adminPrefix+"cdp/create-disables-all", adminSwitch(c.e.SetCDPCreateDisablesAll))
	mux.HandleFunc("POST "+adminPrefix+"cdp/refuse-body", adminSwitch(c.e.SetCDPRefuseBody))
	mux.HandleFunc("POST "+adminPrefix+"cdp/no-token-status", adminJSON(c.adminNoTokenStatus))
	mux.HandleFunc("POST "+adminPrefix+"cdp/answer", adminJSON(c.adminAnswer))
	mux.HandleFunc("POST "+adminPrefix+"cdp/retrieve", adminJSON(c.adminRetrieve))
	mux.HandleFunc("POST "+adminPrefix+"cdp/extend", adminJSON(c.adminExtend))
}

// AddCDPUser adds an integration user, replacing any with the same
// username (as a password reset would, keeping its tokens). Zero fields get
// the defaults. A new user gets its first token at once, as CDP makes one
// when it creates the user.
func (e *Emulator) AddCDPUser(u CDPUser) {
	now := e.now()
	if u.UserType == "" {
		u.UserType = "CLIENT"
	}
	if u.PasswordExpiry.IsZero() {
		u.PasswordExpiry = now.Add(365 * 24 * time.Hour)
	}
	if u.Lifetime <= 0 {
		u.Lifetime = 180 * 24 * time.Hour
	}
	if u.MaxTokens <= 0 {
		u.MaxTokens = 3
	}
	value := randomUUID()
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.cdp()
	if _, known := c.users[u.Username]; !known {
		e.issueLocked(serviceCDP, value, u.Username, "", now, u.Lifetime)
		c.initial[u.Username] = value
	}
	c.users[u.Username] = u
}

// CDPInitialToken is the token CDP made when it created username: another
// consumer's token, as far as Vault is concerned.
func (e *Emulator) CDPInitialToken(username string) string {
	value, _ := lookup(e, e.cdp().initial, username)
	return value
}

// DeleteCDPTokens deletes every token of username, as the user's own
// revoke-all would, so a test can start from a user that holds none.
func (e *Emulator) DeleteCDPTokens(username string) { e.revokeAllOf(serviceCDP, username) }

// SetCDPCreateDisablesAll switches what a create does to earlier tokens:
// off (the default), only the oldest tokens past MaxTokens are disabled;
// on, every earlier token of the user is, which is the other reading of
// "When you request a new token, CDP disables the previously used tokens".
func (e *Emulator) SetCDPCreateDisablesAll(on bool) { e.setSwitch(&e.cdp().createDisablesAll, on) }

// SetCDPNoTokenStatus sets what retrieve (GET /token, Basic) and delete
// all (DELETE /token, Basic) answer for a user who holds no live token,
// which no document says: 404 NOT_FOUND (the default), 200 with an empty
// body, or 401 INVALID_TOKEN. Other values are ignored.
func (e *Emulator) SetCDPNoTokenStatus(status int) {
	switch status {
	case http.StatusNotFound, http.StatusOK, http.StatusUnauthorized:
		store(e, &e.cdp().noTokenStatus, status)
	}
}

// SetCDPRefuseBody makes POST and DELETE calls that carry a body a 400:
// the vendor's requests send none, and a server may refuse what it does
// not expect.
func (e *Emulator) SetCDPRefuseBody(on bool) { e.setSwitch(&e.cdp().refuseBody, on) }

// CDPAnswer is the shape of CDP token answers. Only access_token is
// confirmed by more than one source; the zero value is the vendor's
// example (expires_in a number, tenantId a string, passwordExpiryDate
// local time without a zone).
type CDPAnswer struct {
	ExpiresInString bool // "expires_in":"15552000"
	OmitExpiresIn   bool // no expires_in at all
	NumericTenantID bool // tenantId as a JSON number, when TenantID is digits
	// PasswordExpiryLayout formats passwordExpiryDate (a Go layout, in
	// UTC); "2006-01-02T15:04:05" when empty.
	PasswordExpiryLayout string
}

// SetCDPAnswer sets the shape of token answers from now on.
func (e *Emulator) SetCDPAnswer(a CDPAnswer) { store(e, &e.cdp().answer, a) }

// SetCDPUserDisabled disables a user: its Basic logins and its tokens get
// 401 INVALID_CREDENTIALS until re-enabled.
func (e *Emulator) SetCDPUserDisabled(username string, disabled bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cdp().disabled[username] = disabled
}

// CDPDisabledByLimit counts the live tokens the emulator revoked because a
// create went past the user's MaxTokens.
func (e *Emulator) CDPDisabledByLimit() int { return load(e, &e.cdp().disabledByLimit) }

func writeCDPError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"errorCode": code, "userMessage": message, "developerMessage": randomUUID()})
}

// precheck applies what every CDP call is checked for, in order:
// scheme (optional where the vendor's request sends none), method, content
// type, no body where the switch refuses one, a single action.
func (c *cdpService) precheck(w http.ResponseWriter, r *http.Request, schemeOptional bool, methods ...string) bool {
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	if s, has := q["scheme"]; (has || !schemeOptional) && (len(s) != 1 || (s[0] != "a1user" && s[0] != "a1webtag")) {
		writeCDPError(w, http.StatusBadRequest, "INVALID_REQUEST", "The scheme parameter must be a1user or a1webtag.")
		return false
	}
	if !slices.Contains(methods, r.Method) {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeCDPError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Method not allowed.")
		return false
	}
	if r.Method == http.MethodPost || r.Method == http.MethodDelete {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeCDPError(w, http.StatusUnsupportedMediaType, "INVALID_REQUEST", "Content-Type must be application/json.")
			return false
		}
		if c.e.switchOn(&c.refuseBody) {
			b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<10))
			if len(b) > 0 {
				writeCDPError(w, http.StatusBadRequest, "INVALID_REQUEST", "This call takes no request body.")
				return false
			}
		}
	}
	if len(q["action"]) > 1 {
		writeCDPError(w, http.StatusBadRequest, "INVALID_REQUEST", "The action parameter was sent more than once.")
		return false
	}
	return true
}

// authentication is login and logout; the vendor's login request names no
// scheme.
func (c *cdpService) authentication(w http.ResponseWriter, r *http.Request) {
	if !c.precheck(w, r, true, http.MethodPost) {
		return
	}
	switch r.URL.Query().Get("action") {
	case "login":
		c.issueFor(w, r, serviceCDPSession)
	case "logout":
		c.revokeOne(w, r, serviceCDPSession)
	default:
		writeCDPError(w, http.StatusBadRequest, "INVALID_REQUEST", "Unknown or missing action.")
	}
}

func (c *cdpService) token(w http.ResponseWriter, r *http.Request) {
	if !c.precheck(w, r, false, http.MethodGet, http.MethodPost, http.MethodDelete) {
		return
	}
	action := r.URL.Query().Get("action")
	switch {
	case r.Method == http.MethodGet && action == "":
		c.retrieve(w, r)
	case r.Method == http.MethodPost && action == "extend":
		c.extend(w, r)
	case r.Method == http.MethodPost && action == "create":
		c.issueFor(w, r, serviceCDP)
	case r.Method == http.MethodDelete && action == "":
		// One route, two calls: the kind of credentials picks which.
		if _, bearer := bearerToken(r); bearer {
			c.revokeOne(w, r, serviceCDP)
		} else {
			c.revokeAll(w, r)
		}
	default:
		writeCDPError(w, http.StatusBadRequest, "INVALID_REQUEST", "Unknown action.")
	}
}

// basicAuth checks Basic credentials exactly as decoded (no URL
// decoding); anything else, Bearer included, is a 401.
func (c *cdpService) basicAuth(w http.ResponseWriter, r *http.Request) (CDPUser, bool) {
	name, pass, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="cdp"`)
		writeCDPError(w, http.StatusUnauthorized, "INVALID_CREDENTIALS", "Basic authentication is required.")
		return CDPUser{}, false
	}
	c.e.mu.Lock()
	u, found := c.users[name]
	disabled := c.disabled[name]
	c.e.mu.Unlock()
	if !found || subtle.ConstantTimeCompare([]byte(u.Password), []byte(pass)) != 1 {
		writeCDPError(w, http.StatusUnauthorized, "INVALID_CREDENTIALS", "Invalid username or password.")
		return CDPUser{}, false
	}
	if disabled {
		writeCDPError(w, http.StatusUnauthorized, "INVALID_CREDENTIALS", "The user is disabled.")
		return CDPUser{}, false
	}
	return u, true
}

// bearerAuth finds the live token of service named by the Bearer header
// and, under e.mu, lets act change it, returning the token as act left it.
// It answers any 401 itself.
func (c *cdpService) bearerAuth(w http.ResponseWriter, r *http.Request, service string, now time.Time, act func(Token, CDPUser) Token) (Token, CDPUser, bool) {
	value, ok := bearerToken(r)
	c.e.mu.Lock()
	var t Token
	var u CDPUser
	known := false
	if ok {
		if t, ok = c.e.liveTokenLocked(service, value, now); ok {
			u, known = c.users[t.ClientID]
		}
	}
	if !known {
		c.e.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeCDPError(w, http.StatusUnauthorized, "INVALID_TOKEN", cdpInvalidToken)
		return Token{}, CDPUser{}, false
	}
	if c.disabled[u.Username] {
		c.e.mu.Unlock()
		writeCDPError(w, http.StatusUnauthorized, "INVALID_CREDENTIALS", "The user is disabled.")
		return Token{}, CDPUser{}, false
	}
	if act != nil {
		t = act(t, u)
	}
	c.e.mu.Unlock()
	return t, u, true
}

func (c *cdpService) tokenJSON(w http.ResponseWriter, t Token, u CDPUser, now time.Time) {
	a := load(c.e, &c.answer)
	body := map[string]any{
		"access_token": t.Value,
		"token_type":   "bearer",
		"tenantId":     u.TenantID,
		"username":     u.Username,
		"userType":     u.UserType,
	}
	in := int64(t.ExpiresAt.Sub(now) / time.Second)
	switch {
	case a.OmitExpiresIn:
	case a.ExpiresInString:
		body["expires_in"] = strconv.FormatInt(in, 10)
	default:
		body["expires_in"] = in
	}
	if n, err := strconv.ParseInt(u.TenantID, 10, 64); err == nil && a.NumericTenantID {
		body["tenantId"] = n
	}
	body["passwordExpiryDate"] = u.PasswordExpiry.UTC().Format(cmp.Or(a.PasswordExpiryLayout, cdpDateLayout))
	writeJSON(w, http.StatusOK, body)
}

// noToken answers a Basic call that found no live token of the user, as
// SetCDPNoTokenStatus says.
func (c *cdpService) noToken(w http.ResponseWriter) {
	switch load(c.e, &c.noTokenStatus) {
	case http.StatusOK:
		w.WriteHeader(http.StatusOK)
	case http.StatusUnauthorized:
		writeCDPError(w, http.StatusUnauthorized, "INVALID_TOKEN", cdpInvalidToken)
	default:
		writeCDPError(w, http.StatusNotFound, "NOT_FOUND", "No token found for the user.")
	}
}

// issueFor serves login (a session token) and create (a "cdp" token).
// Create past MaxTokens revokes the oldest live tokens first (or, with
// SetCDPCreateDisablesAll, every earlier one), in the same critical
// section, so concurrent creates cannot overshoot the limit.
func (c *cdpService) issueFor(w http.ResponseWriter, r *http.Request, service string) {
	u, ok := c.basicAuth(w, r)
	if !ok {
		return
	}
	now := c.e.now()
	value := randomUUID()
	c.e.mu.Lock()
	if service == serviceCDP {
		keep := u.MaxTokens - 1
		if c.createDisablesAll {
			keep = 0
		}
		if c.e.liveCountOfLocked(service, u.Username, now) > keep {
			for live := c.e.liveTokensOfLocked(service, u.Username, now); len(live) > keep; live = live[1:] {
				c.e.revokeLocked(service, live[0].Value)
				c.disabledByLimit++
			}
		}
	}
	t := c.e.issueLocked(service, value, u.Username, "", now, u.Lifetime)
	c.e.mu.Unlock()
	c.tokenJSON(w, t, u, now)
}

// userTokens serves the start of a Basic call on a user's tokens:
// authenticate the user, then find its live tokens, oldest first, with the
// emulator's time. It has answered a call it refuses, and one by a user
// without live tokens (noToken), itself.
func (c *cdpService) userTokens(w http.ResponseWriter, r *http.Request) (CDPUser, []Token, time.Time, bool) {
	u, ok := c.basicAuth(w, r)
	if !ok {
		return CDPUser{}, nil, time.Time{}, false
	}
	now := c.e.now()
	c.e.mu.Lock()
	live := c.e.liveTokensOfLocked(serviceCDP, u.Username, now)
	c.e.mu.Unlock()
	if len(live) == 0 {
		c.noToken(w)
		return CDPUser{}, nil, time.Time{}, false
	}
	return u, live, now, true
}

func (c *cdpService) retrieve(w http.ResponseWriter, r *http.Request) {
	u, live, now, ok := c.userTokens(w, r)
	if !ok {
		return
	}
	c.e.mu.Lock()
	mode, initial := c.retrieveMode, c.initial[u.Username]
	c.e.mu.Unlock()
	answer := live[len(live)-1]
	switch mode {
	case CDPRetrieveOldest:
		answer = live[0]
	case CDPRetrieveInitial:
		answer = live[0]
		for _, t := range live {
			if t.Value == initial {
				answer = t
			}
		}
	}
	c.tokenJSON(w, answer, u, now)
}

func (c *cdpService) extend(w http.ResponseWriter, r *http.Request) {
	now := c.e.now()
	refused := false
	var x CDPExtend
	t, u, ok := c.bearerAuth(w, r, serviceCDP, now, func(t Token, u CDPUser) Token {
		x = c.extendMode
		if x.Window > 0 && t.ExpiresAt.Sub(now) > x.Window {
			refused = true
			return t
		}
		if x.NewToken {
			c.e.revokeLocked(serviceCDP, t.Value)
			return c.e.issueLocked(serviceCDP, randomUUID(), u.Username, "", now, u.Lifetime)
		}
		t, _ = c.e.extendLocked(serviceCDP, t.Value, now.Add(u.Lifetime))
		return t
	})
	switch {
	case !ok:
	case refused:
		writeCDPError(w, http.StatusBadRequest, "TOKEN_NOT_EXPIRING", "The token can be extended only when it is about to expire.")
	case x.NoBody:
		w.WriteHeader(http.StatusOK)
	default:
		c.tokenJSON(w, t, u, now)
	}
}

func (c *cdpService) revokeOne(w http.ResponseWriter, r *http.Request, service string) {
	revoke := func(t Token, _ CDPUser) Token {
		t, _ = c.e.revokeLocked(service, t.Value)
		return t
	}
	if _, _, ok := c.bearerAuth(w, r, service, c.e.now(), revoke); ok {
		writeJSON(w, http.StatusOK, struct{}{})
	}
}

func (c *cdpService) revokeAll(w http.ResponseWriter, r *http.Request) {
	u, _, _, ok := c.userTokens(w, r)
	if !ok {
		return
	}
	c.e.revokeAllOf(serviceCDP, u.Username)
	writeJSON(w, http.StatusOK, struct{}{})
}

// randomUUID returns a version 4 UUID, the shape of CDP tokens and ids.
func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

type cdpUserJSON struct {
	Username        string `json:"username"`
	Password        string `json:"password"`
	TenantID        string `json:"tenant_id"`
	UserType        string `json:"user_type"`
	PasswordExpiry  string `json:"password_expiry"`
	LifetimeSeconds int64  `json:"lifetime_seconds"`
	MaxTokens       int    `json:"max_tokens"`
}

func (c *cdpService) adminAddUser(in cdpUserJSON) (refusal string) {
	var expiry time.Time
	var err error
	if in.PasswordExpiry != "" {
		expiry, err = time.Parse(time.RFC3339, in.PasswordExpiry)
	}
	lifetime, ok := adminSeconds(in.LifetimeSeconds)
	if in.Username == "" || in.Password == "" || err != nil || !ok || in.MaxTokens < 0 {
		return "username and password are required; password_expiry must be RFC 3339; lifetime_seconds and max_tokens must not be negative."
	}
	c.e.AddCDPUser(CDPUser{
		Username: in.Username, Password: in.Password, TenantID: in.TenantID, UserType: in.UserType,
		PasswordExpiry: expiry, Lifetime: lifetime, MaxTokens: in.MaxTokens,
	})
	return ""
}

func (c *cdpService) adminNoTokenStatus(in statusJSON) (refusal string) {
	if in.Status != http.StatusNotFound && in.Status != http.StatusOK && in.Status != http.StatusUnauthorized {
		return "status must be 404, 200 or 401."
	}
	c.e.SetCDPNoTokenStatus(in.Status)
	return ""
}

type cdpAnswerJSON struct {
	ExpiresInString      bool   `json:"expires_in_string"`
	OmitExpiresIn        bool   `json:"omit_expires_in"`
	NumericTenantID      bool   `json:"numeric_tenant_id"`
	PasswordExpiryLayout string `json:"password_expiry_layout"`
}

func (c *cdpService) adminAnswer(in cdpAnswerJSON) (refusal string) {
	c.e.SetCDPAnswer(CDPAnswer(in))
	return ""
}

// operation names a request to a CDP route (see Operations). Retrieve and
// the plugin's credential check are the same request; a DELETE deletes
// one token with a Bearer token, all of the user's with Basic.
func (c *cdpService) operation(r *http.Request, _ url.Values) string {
	action := r.URL.Query().Get("action")
	switch r.URL.Path {
	case "/authentication":
		if action == "logout" {
			return "logout"
		}
		return "login"
	case "/token":
		switch {
		case r.Method == http.MethodGet:
			return "retrieve"
		case r.Method == http.MethodDelete && bearer(r):
			return "delete"
		case r.Method == http.MethodDelete:
			return "delete_all"
		case action == "extend":
			return "extend"
		}
		return opToken
	}
	return ""
}
