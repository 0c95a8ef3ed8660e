package emulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"mime"
	"net/http"
	"slices"
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

// CDPUser is an Acquia CDP integration user (Integrations > Instances).
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
	disabledByLimit int
}

func init() {
	serviceFactories = append(serviceFactories, func(e *Emulator) service {
		return &cdpService{e: e, users: map[string]CDPUser{}, disabled: map[string]bool{}}
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
	mux.HandleFunc("POST "+adminPrefix+"cdp/users", c.adminAddUser)
}

// AddCDPUser adds an integration user, replacing any with the same
// username (as a password reset would). Zero fields get the defaults.
func (e *Emulator) AddCDPUser(u CDPUser) {
	if u.UserType == "" {
		u.UserType = "CLIENT"
	}
	if u.PasswordExpiry.IsZero() {
		u.PasswordExpiry = e.now().Add(365 * 24 * time.Hour)
	}
	if u.Lifetime <= 0 {
		u.Lifetime = 180 * 24 * time.Hour
	}
	if u.MaxTokens <= 0 {
		u.MaxTokens = 3
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cdp().users[u.Username] = u
}

// SetCDPUserDisabled disables a user: its Basic logins and its tokens get
// 401 INVALID_CREDENTIALS until re-enabled.
func (e *Emulator) SetCDPUserDisabled(username string, disabled bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cdp().disabled[username] = disabled
}

// CDPDisabledByLimit counts the live tokens the emulator revoked because a
// create went past the user's MaxTokens.
func (e *Emulator) CDPDisabledByLimit() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cdp().disabledByLimit
}

func writeCDPError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"errorCode": code, "userMessage": message, "developerMessage": randomUUID()})
}

// cdpPrecheck applies what every CDP call is checked for, in order:
// scheme, method, content type, a single action.
func cdpPrecheck(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	if s := q["scheme"]; len(s) != 1 || (s[0] != "a1user" && s[0] != "a1webtag") {
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
	}
	if len(q["action"]) > 1 {
		writeCDPError(w, http.StatusBadRequest, "INVALID_REQUEST", "The action parameter was sent more than once.")
		return false
	}
	return true
}

func (c *cdpService) authentication(w http.ResponseWriter, r *http.Request) {
	if !cdpPrecheck(w, r, http.MethodPost) {
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
	if !cdpPrecheck(w, r, http.MethodGet, http.MethodPost, http.MethodDelete) {
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

func cdpTokenJSON(w http.ResponseWriter, t Token, u CDPUser, now time.Time) {
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":       t.Value,
		"token_type":         "bearer",
		"expires_in":         int64(t.ExpiresAt.Sub(now) / time.Second),
		"tenantId":           u.TenantID,
		"username":           u.Username,
		"userType":           u.UserType,
		"passwordExpiryDate": u.PasswordExpiry.UTC().Format(cdpDateLayout),
	})
}

// issueFor serves login (a session token) and create (a "cdp" token).
// Create past MaxTokens revokes the oldest live tokens first, in the same
// critical section, so concurrent creates cannot overshoot the limit.
func (c *cdpService) issueFor(w http.ResponseWriter, r *http.Request, service string) {
	u, ok := c.basicAuth(w, r)
	if !ok {
		return
	}
	now := c.e.now()
	value := randomUUID()
	c.e.mu.Lock()
	if service == serviceCDP {
		live := c.e.liveTokensOfLocked(service, u.Username, now)
		for ; len(live) >= u.MaxTokens; live = live[1:] {
			c.e.revokeLocked(service, live[0].Value)
			c.disabledByLimit++
		}
	}
	t := c.e.issueLocked(service, value, u.Username, "", now, u.Lifetime)
	c.e.mu.Unlock()
	cdpTokenJSON(w, t, u, now)
}

func (c *cdpService) retrieve(w http.ResponseWriter, r *http.Request) {
	u, ok := c.basicAuth(w, r)
	if !ok {
		return
	}
	now := c.e.now()
	c.e.mu.Lock()
	live := c.e.liveTokensOfLocked(serviceCDP, u.Username, now)
	c.e.mu.Unlock()
	if len(live) == 0 {
		writeCDPError(w, http.StatusNotFound, "NOT_FOUND", "No token found for the user.")
		return
	}
	cdpTokenJSON(w, live[len(live)-1], u, now)
}

func (c *cdpService) extend(w http.ResponseWriter, r *http.Request) {
	now := c.e.now()
	t, u, ok := c.bearerAuth(w, r, serviceCDP, now, func(t Token, u CDPUser) Token {
		t, _ = c.e.extendLocked(serviceCDP, t.Value, now.Add(u.Lifetime))
		return t
	})
	if ok {
		cdpTokenJSON(w, t, u, now)
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
	u, ok := c.basicAuth(w, r)
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

func (c *cdpService) adminAddUser(w http.ResponseWriter, r *http.Request) {
	var in cdpUserJSON
	if !decodeAdmin(w, r, &in) {
		return
	}
	var expiry time.Time
	var err error
	if in.PasswordExpiry != "" {
		expiry, err = time.Parse(time.RFC3339, in.PasswordExpiry)
	}
	lifetime, ok := adminSeconds(in.LifetimeSeconds)
	if in.Username == "" || in.Password == "" || err != nil || !ok || in.MaxTokens < 0 {
		writeAPIError(w, http.StatusBadRequest, "validation_failed",
			"username and password are required; password_expiry must be RFC 3339; lifetime_seconds and max_tokens must not be negative.")
		return
	}
	c.e.AddCDPUser(CDPUser{
		Username: in.Username, Password: in.Password, TenantID: in.TenantID, UserType: in.UserType,
		PasswordExpiry: expiry, Lifetime: lifetime, MaxTokens: in.MaxTokens,
	})
	w.WriteHeader(http.StatusNoContent)
}
