package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"
)

// Token is one access token the emulator issued.
type Token struct {
	Service   string // "cloud"
	Value     string // the access token
	ClientID  string
	Scope     string // space-delimited, as granted
	IssuedAt  time.Time
	ExpiresAt time.Time
	Revoked   bool
	// RevokedAt is when the token was first revoked, on the machine's
	// clock rather than the emulator's (which tests may move): benchmarks
	// time a run of revocations by it.
	RevokedAt time.Time
}

// live reports whether t is usable at now; a token dies at ExpiresAt, not a
// second later, so a client that cuts it close sees the failure.
func (t *Token) live(now time.Time) bool {
	return !t.Revoked && now.Before(t.ExpiresAt)
}

// Every change to a token happens in this file: services issue, revoke
// and extend through the functions below and only ever hold copies. A
// function named ...Locked expects the caller to hold e.mu, so a service
// can change a token in the same critical section as its own state; the
// others take the lock themselves. Callers pass a now read with e.now
// before locking, since the clock is the embedder's code.

// issue records a new token of service for clientID, valid for lifetime
// from now, with a random hex value.
func (e *Emulator) issue(service, clientID, scope string, lifetime time.Duration) Token {
	now := e.now()
	value := randomHex(32)
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.issueLocked(service, value, clientID, scope, now, lifetime)
}

// issueLocked records a token with the value the service chose, issued at
// now for lifetime.
func (e *Emulator) issueLocked(service, value, clientID, scope string, now time.Time, lifetime time.Duration) Token {
	t := &Token{
		Service:   service,
		Value:     value,
		ClientID:  clientID,
		Scope:     scope,
		IssuedAt:  now,
		ExpiresAt: now.Add(lifetime),
	}
	e.tokens[service] = append(e.tokens[service], t)
	e.byValue[t.Value] = t
	return *t
}

// revokeLocked is the one way a token is revoked: it marks value, a token
// of service, revoked, and reports false if service issued no such token.
// Revoking a dead token is allowed and marks it too.
func (e *Emulator) revokeLocked(service, value string) (Token, bool) {
	return e.changeLocked(service, value, func(t *Token) {
		if !t.Revoked {
			t.Revoked, t.RevokedAt = true, time.Now()
		}
	})
}

// revokeAllOf revokes every token of service issued to clientID, live or
// not.
func (e *Emulator) revokeAllOf(service, clientID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.revokeAllOfLocked(service, clientID)
}

// revokeAllOfLocked is revokeAllOf for a caller holding e.mu.
func (e *Emulator) revokeAllOfLocked(service, clientID string) {
	for _, t := range e.tokens[service] {
		if t.ClientID == clientID {
			e.revokeLocked(service, t.Value)
		}
	}
}

// extendLocked moves the expiry of value, a token of service, to until.
func (e *Emulator) extendLocked(service, value string, until time.Time) (Token, bool) {
	return e.changeLocked(service, value, func(t *Token) { t.ExpiresAt = until })
}

func (e *Emulator) changeLocked(service, value string, change func(*Token)) (Token, bool) {
	t := e.findLocked(service, value)
	if t == nil {
		return Token{}, false
	}
	change(t)
	return *t, true
}

// findLocked is the stored token of service with value, or nil. Tokens of
// other services are unknown to it, as they would be to a separate
// upstream.
func (e *Emulator) findLocked(service, value string) *Token {
	if t, ok := e.byValue[value]; ok && t.Service == service {
		return t
	}
	return nil
}

// tokenLocked finds a token of service by value, live or not.
func (e *Emulator) tokenLocked(service, value string) (Token, bool) {
	if t := e.findLocked(service, value); t != nil {
		return *t, true
	}
	return Token{}, false
}

// liveTokenLocked finds a token of service by value that is live at now.
func (e *Emulator) liveTokenLocked(service, value string, now time.Time) (Token, bool) {
	t, ok := e.tokenLocked(service, value)
	if !ok || !t.live(now) {
		return Token{}, false
	}
	return t, true
}

// liveToken is liveTokenLocked at the emulator's now.
func (e *Emulator) liveToken(service, value string) (Token, bool) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.liveTokenLocked(service, value, now)
}

// liveTokensOfLocked returns the tokens of service issued to clientID that
// are live at now, oldest first.
func (e *Emulator) liveTokensOfLocked(service, clientID string, now time.Time) []Token {
	var out []Token
	for _, t := range e.tokens[service] {
		if t.ClientID == clientID && t.live(now) {
			out = append(out, *t)
		}
	}
	return out
}

// liveCountOfLocked counts what liveTokensOfLocked would return, without
// copying: a CDP create counts on every call.
func (e *Emulator) liveCountOfLocked(service, clientID string, now time.Time) int {
	n := 0
	for _, t := range e.tokens[service] {
		if t.ClientID == clientID && t.live(now) {
			n++
		}
	}
	return n
}

// allTokens returns a copy of every token of every service, oldest first.
func (e *Emulator) allTokens() []Token {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Token
	for _, ts := range e.tokens {
		for _, t := range ts {
			out = append(out, *t)
		}
	}
	// Map order is random; issue order reads better in a demo.
	slices.SortStableFunc(out, func(a, b Token) int { return a.IssuedAt.Compare(b.IssuedAt) })
	return out
}

// Tokens returns a copy of every token issued for service, in issue order,
// expired and revoked ones included.
func (e *Emulator) Tokens(service string) []Token {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Token, 0, len(e.tokens[service]))
	for _, t := range e.tokens[service] {
		out = append(out, *t)
	}
	return out
}

// LiveTokens returns the tokens of service that are neither revoked nor
// expired by the emulator's clock.
func (e *Emulator) LiveTokens(service string) []Token {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Token
	for _, t := range e.tokens[service] {
		if t.live(now) {
			out = append(out, *t)
		}
	}
	return out
}

// Token returns a copy of the token with value, of any service, live or
// not, and false if the emulator never issued it.
func (e *Emulator) Token(value string) (Token, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.byValue[value]
	if !ok {
		return Token{}, false
	}
	return *t, true
}

// TokenLive reports whether value is a live token of any service.
func (e *Emulator) TokenLive(value string) bool {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.byValue[value]
	return ok && t.live(now)
}

func randomHex(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
