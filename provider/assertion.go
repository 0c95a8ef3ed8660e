package provider

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Client authentication by a signed JWT (auth_style=private_key_jwt): RFC
// 7523 §2.2 and OpenID Connect Core §9. Each token request, and each
// revocation, carries a fresh assertion signed with the config's private
// key; no client_secret is sent. go-jose (already in the build through
// Vault's API module) signs the JWT and writes the public JWK.

// AuthStylePrivateKeyJWT authenticates the client with a signed JWT.
const AuthStylePrivateKeyJWT = "private_key_jwt"

// What the aud of an assertion names (config assertion_audience).
const (
	AudienceTokenURL = "token_url"
	AudienceIssuer   = "issuer"
)

// ClientAssertionType is RFC 7523 §2.2's client_assertion_type.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how far ahead an assertion's exp lies: long enough
// for a slow request and some clock skew, short enough that a copy is of
// little use (and its jti is single-use besides).
const assertionLifetime = 5 * time.Minute

// minRSABits is the smallest RSA key taken (RFC 7518 §3.3 asks for 2048).
const minRSABits = 2048

// UsesAssertion reports whether the config authenticates with a signed JWT.
func (c *Config) UsesAssertion() bool { return c.AuthStyle == AuthStylePrivateKeyJWT }

// ParsePrivateKey reads a PEM private key: RSA (PKCS #1 or #8, at least
// 2048 bits) or EC on P-256, P-384 or P-521 (SEC 1 or PKCS #8). Errors
// say what is wrong without quoting the key.
func ParsePrivateKey(pemText string) (crypto.Signer, error) {
	block, rest := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("is not PEM: paste the key with its -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY) line")
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, errors.New("holds more than one PEM block: give the private key alone")
	}
	if block.Headers["Proc-Type"] != "" {
		return nil, errors.New("is encrypted: give the key unencrypted (it is stored seal-wrapped)")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("is a PEM %q block: give an RSA or EC private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
			block.Type)
	}
	if err != nil {
		return nil, errors.New("is not a readable " + strings.ToLower(block.Type) + " (" + strings.TrimPrefix(err.Error(), "x509: ") + ")")
	}
	return checkKey(key)
}

func checkKey(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("is a %d-bit RSA key: use at least %d bits", k.N.BitLen(), minRSABits)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if _, err := ecAlgorithm(k.Curve); err != nil {
			return nil, err
		}
		return k, nil
	}
	return nil, fmt.Errorf("is a %T key: use an RSA or EC (P-256, P-384, P-521) key", key)
}

func ecAlgorithm(c elliptic.Curve) (jose.SignatureAlgorithm, error) {
	switch c {
	case elliptic.P256():
		return jose.ES256, nil
	case elliptic.P384():
		return jose.ES384, nil
	case elliptic.P521():
		return jose.ES512, nil
	}
	return "", fmt.Errorf("is an EC key on %s: use P-256, P-384 or P-521", c.Params().Name)
}

// signingAlgorithm is RS256 for RSA keys, ES256/384/512 by curve for EC.
func signingAlgorithm(k crypto.Signer) jose.SignatureAlgorithm {
	if ec, ok := k.(*ecdsa.PrivateKey); ok {
		alg, _ := ecAlgorithm(ec.Curve)
		return alg
	}
	return jose.RS256
}

// GenerateKey makes an EC P-256 private key, PEM (PKCS #8), for
// generate_key=true: the key never leaves Vault.
func GenerateKey() (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// KeyID is the kid of the config's key: private_key_id, or else the RFC
// 7638 JWK thumbprint (SHA-256, base64url) of the public key. "" without
// a readable key.
func (c *Config) KeyID() string {
	if c.PrivateKeyID != "" {
		return c.PrivateKeyID
	}
	k, err := ParsePrivateKey(c.PrivateKey)
	if err != nil {
		return ""
	}
	return thumbprint(k)
}

func thumbprint(k crypto.Signer) string {
	tp, err := (&jose.JSONWebKey{Key: k.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// PublicJWKS is the public half of the config's key as a JWK Set
// ({"keys": [...]}) with kid, use=sig and alg, to register at the server.
// It never holds a private part.
func PublicJWKS(c Config) (map[string]any, error) {
	k, err := ParsePrivateKey(c.PrivateKey)
	if err != nil {
		return nil, errors.New("private_key " + err.Error())
	}
	kid := c.PrivateKeyID
	if kid == "" {
		kid = thumbprint(k)
	}
	jwk := jose.JSONWebKey{Key: k.Public(), KeyID: kid, Use: "sig", Algorithm: string(signingAlgorithm(k))}
	raw, err := jwk.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		delete(m, private)
	}
	return map[string]any{"keys": []any{m}}, nil
}

// assertionAudience is the aud of the config's assertions.
func (c *Config) assertionAudience() string {
	if c.AssertionAudience == AudienceIssuer {
		return c.Issuer
	}
	return c.TokenURL
}

// assertionClaims are RFC 7523 §3's claims; iat is OpenID Connect's.
type assertionClaims struct {
	jwt.Claims
}

// signAssertion makes one client assertion: iss = sub = client_id, aud
// per assertion_audience, a random jti, iat now and exp
// assertionLifetime later.
func signAssertion(c *Config, key crypto.Signer, now time.Time) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: signingAlgorithm(key),
		Key: jose.JSONWebKey{Key: key, KeyID: c.KeyID()}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims := jwt.Claims{
		Issuer:   c.ClientID,
		Subject:  c.ClientID,
		Audience: jwt.Audience{c.assertionAudience()},
		ID:       base64.RawURLEncoding.EncodeToString(jti),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	return jwt.Signed(signer).Claims(assertionClaims{claims}).Serialize()
}

// assertionTransport adds a fresh client assertion to each POST to the
// token or revocation endpoint. It sits under the retrying client, so a
// retried request carries a new jti: servers refuse a jti twice.
type assertionTransport struct {
	next    http.RoundTripper
	cfg     Config
	key     crypto.Signer
	now     func() time.Time
	targets []string // token_url, revocation_url, device_authorization_url, without their queries
}

func newAssertionTransport(next http.RoundTripper, c Config, o Options) (http.RoundTripper, error) {
	key, err := ParsePrivateKey(c.PrivateKey)
	if err != nil {
		return nil, errors.New("private_key " + err.Error())
	}
	t := &assertionTransport{next: next, cfg: c, key: key, now: o.now}
	for _, u := range []string{c.TokenURL, c.RevocationURL, c.DeviceAuthorizationURL} {
		if u != "" {
			t.targets = append(t.targets, endpointOf(u))
		}
	}
	return t, nil
}

// endpointOf is a URL without query or fragment, to compare endpoints.
func endpointOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

func (t *assertionTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil || !t.targeted(req.URL) {
		return t.next.RoundTrip(req)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxAssertedForm))
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("token request body is not a form: %w", err)
	}
	assertion, err := signAssertion(&t.cfg, t.key, t.now())
	if err != nil {
		return nil, fmt.Errorf("signing the client assertion: %w", err)
	}
	form.Del("client_secret")
	form.Set("client_id", t.cfg.ClientID)
	form.Set("client_assertion_type", ClientAssertionType)
	form.Set("client_assertion", assertion)
	encoded := form.Encode()
	r := req.Clone(req.Context())
	r.Header.Del("Authorization")
	r.Body = io.NopCloser(strings.NewReader(encoded))
	r.ContentLength = int64(len(encoded))
	r.Header.Set("Content-Length", strconv.Itoa(len(encoded)))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(encoded)), nil }
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode/100 == 2 {
		return resp, err
	}
	// A refusal may echo the assertion: it is a credential until it
	// expires, so it goes no further than here.
	refused := readAndClose(resp, maxAssertedForm)
	resp.Body = io.NopCloser(bytes.NewReader(bytes.ReplaceAll(refused, []byte(assertion), []byte("[redacted]"))))
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}

// maxAssertedForm bounds the form read back to add the assertion; token
// requests are a few hundred bytes.
const maxAssertedForm = 64 << 10

func (t *assertionTransport) targeted(u *url.URL) bool {
	got := endpointOf(u.String())
	for _, target := range t.targets {
		if got == target {
			return true
		}
	}
	return false
}

// assertionHint is the advice for a client assertion refused as
// invalid_client.
func assertionHint(host string) string {
	return "the client assertion was refused by " + host + ": register the key of config/<name>/jwks for this client_id " +
		"there (token_endpoint_auth_method private_key_jwt), and check assertion_audience (token_url or issuer)"
}
