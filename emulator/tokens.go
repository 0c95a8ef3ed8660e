package emulator

import (
	"crypto/rand"
	"encoding/hex"
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
}

// live reports whether t is usable at now; a token dies at ExpiresAt, not a
// second later, so a client that cuts it close sees the failure.
func (t *Token) live(now time.Time) bool {
	return !t.Revoked && now.Before(t.ExpiresAt)
}

// issue records a new token for service valid for lifetime from now.
func (e *Emulator) issue(service, clientID, scope string, lifetime time.Duration) Token {
	now := e.now()
	t := &Token{
		Service:   service,
		Value:     randomHex(32),
		ClientID:  clientID,
		Scope:     scope,
		IssuedAt:  now,
		ExpiresAt: now.Add(lifetime),
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens[service] = append(e.tokens[service], t)
	e.byValue[t.Value] = t
	return *t
}

// liveToken finds a live token of service by value. Tokens of other
// services are unknown to it, as they would be to a separate upstream.
func (e *Emulator) liveToken(service, value string) (Token, bool) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.byValue[value]
	if !ok || t.Service != service || !t.live(now) {
		return Token{}, false
	}
	return *t, true
}

// revoke marks a token revoked; it reports whether the token existed. No
// Cloud path uses it (Cloud tokens just expire); services with revocation
// or refresh rotation do.
func (e *Emulator) revoke(service, value string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.byValue[value]
	if !ok || t.Service != service {
		return false
	}
	t.Revoked = true
	return true
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
