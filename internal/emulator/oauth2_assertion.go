package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// private_key_jwt at the generic OAuth 2.0 server (RFC 7523 §2.2, OpenID
// Connect Core §9): a client registered with a JWKS authenticates with a
// signed assertion, verified strictly: signature by a key of its JWKS,
// iss = sub = client_id, aud as the server reads it, exp not passed and
// at most an hour ahead, a jti never seen before. Anything else is 401
// invalid_client.

// Readings of an assertion's aud (SetOAuth2AssertionAudience).
const (
	// AssertionAudTokenURL takes the token endpoint's URL, as Okta does.
	AssertionAudTokenURL = "token_url"
	// AssertionAudIssuer takes the issuer (OAuth2Issuer), as OpenID
	// Connect's errata and RFC 7523's update ask.
	AssertionAudIssuer = "issuer"
)

const (
	jwtAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	maxAssertionLife = time.Hour
	assertionLeeway  = 30 * time.Second
)

// assertionAlgorithms are the algorithms the server accepts.
var assertionAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.ES512}

// SetOAuth2AssertionAudience sets which aud a client assertion must carry:
// AssertionAudTokenURL (the default) or AssertionAudIssuer. Only that one
// is accepted.
func (e *Emulator) SetOAuth2AssertionAudience(reading string) {
	store(e, &e.oauth2().assertionAud, reading)
}

// OAuth2Issuer is the generic server's issuer identifier: its base URL
// and /oauth2.
func (e *Emulator) OAuth2Issuer() string { return e.URL() + "/oauth2" }

// adminAssertionAudience serves {"audience": "token_url"|"issuer"}.
func (o *oauth2Service) adminAssertionAudience(in struct {
	Audience string `json:"audience"`
}) string {
	if in.Audience != AssertionAudTokenURL && in.Audience != AssertionAudIssuer {
		return "audience must be token_url or issuer."
	}
	o.e.SetOAuth2AssertionAudience(in.Audience)
	return ""
}

// parseJWKS reads a client's registered JWK Set; private parts are refused.
func parseJWKS(raw json.RawMessage) (*jose.JSONWebKeySet, string) {
	if len(raw) == 0 {
		return nil, ""
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) == 0 {
		return nil, "jwks must be a JWK Set with at least one key."
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			return nil, "jwks must hold valid public keys only."
		}
	}
	return &set, ""
}

// assertionClient authenticates a request carrying client_assertion.
func (o *oauth2Service) assertionClient(r *http.Request, form url.Values) (OAuth2Client, *oauthError) {
	unauthorized := &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: oauth2ClientFailed}
	switch {
	case r.Header.Get("Authorization") != "" || form.Has("client_secret"):
		return OAuth2Client{}, badRequest("invalid_request", "The client used more than one authentication method.")
	case form.Get("client_assertion_type") != jwtAssertionType:
		return OAuth2Client{}, badRequest("invalid_request", "client_assertion_type must be "+jwtAssertionType+".")
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), assertionAlgorithms)
	if err != nil || len(tok.Headers) != 1 {
		return OAuth2Client{}, unauthorized
	}
	var unverified jwt.Claims
	if tok.UnsafeClaimsWithoutVerification(&unverified) != nil || unverified.Issuer == "" {
		return OAuth2Client{}, unauthorized
	}
	if id := form.Get("client_id"); id != "" && id != unverified.Issuer {
		return OAuth2Client{}, unauthorized
	}
	client, known := lookup(o.e, o.clients, unverified.Issuer)
	if !known || client.JWKS == nil {
		return OAuth2Client{}, unauthorized
	}
	var claims jwt.Claims
	if !verifiedBy(tok, client.JWKS, &claims) || !o.claimsHold(r, client, claims) {
		return OAuth2Client{}, unauthorized
	}
	return client, nil
}

// verifiedBy checks tok's signature with the key its kid names, or any key
// of the set without a kid, and reads its claims.
func verifiedBy(tok *jwt.JSONWebToken, set *jose.JSONWebKeySet, claims *jwt.Claims) bool {
	kid := tok.Headers[0].KeyID
	for _, k := range set.Keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != tok.Headers[0].Algorithm {
			continue
		}
		if tok.Claims(k.Key, claims) == nil {
			return true
		}
	}
	return false
}

// claimsHold checks a verified assertion's claims, and spends its jti.
func (o *oauth2Service) claimsHold(r *http.Request, client OAuth2Client, c jwt.Claims) bool {
	now := o.e.now()
	if c.Issuer != client.ID || c.Subject != client.ID || c.ID == "" || c.Expiry == nil {
		return false
	}
	exp := c.Expiry.Time()
	if !now.Before(exp) || exp.Sub(now) > maxAssertionLife {
		return false
	}
	if c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(assertionLeeway)) {
		return false
	}
	if c.NotBefore != nil && c.NotBefore.Time().After(now.Add(assertionLeeway)) {
		return false
	}
	if !slices.Contains([]string(c.Audience), o.expectedAudience(r)) {
		return false
	}
	o.e.mu.Lock()
	defer o.e.mu.Unlock()
	for jti, until := range o.jtis {
		if now.After(until) {
			delete(o.jtis, jti)
		}
	}
	key := client.ID + "\x00" + c.ID
	if _, seen := o.jtis[key]; seen {
		return false
	}
	o.jtis[key] = exp
	return true
}

// expectedAudience is the aud this server reads: its token endpoint's URL
// or its issuer, as the client reached it.
func (o *oauth2Service) expectedAudience(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := scheme + "://" + r.Host
	if load(o.e, &o.assertionAud) == AssertionAudIssuer {
		return base + "/oauth2"
	}
	return base + "/oauth2/token"
}
