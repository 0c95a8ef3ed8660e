package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// testECKey is a throw-away P-256 key.
var testECKey = func() string {
	k, err := GenerateKey()
	if err != nil {
		panic(err)
	}
	return k
}()

var testRSAKey = func() string {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}()

// assertionServer records each form it gets at /token and /revoke and
// answers a token.
type assertionServer struct {
	mu    sync.Mutex
	forms []url.Values
	auth  []string
}

func (s *assertionServer) handler(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	s.mu.Lock()
	s.forms = append(s.forms, r.PostForm)
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	n := len(s.forms)
	s.mu.Unlock()
	if r.URL.Path == "/revoke" {
		w.WriteHeader(http.StatusOK)
		return
	}
	if n == 1 && r.URL.Query().Get("fail-once") != "" {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"access_token":"at","token_type":"Bearer","expires_in":60,"refresh_token":"rt"}`))
}

// Each token call, refresh and revocation carries a fresh RFC 7523
// assertion: iss = sub = client_id, aud per assertion_audience, a unique
// jti, iat now and exp five minutes on, RS256 or ES256 with the kid; no
// client_secret and no Basic header. A retried request signs anew.
func TestAssertionContents(t *testing.T) {
	for _, tc := range []struct {
		name, key, aud string
		alg            jose.SignatureAlgorithm
	}{
		{"ec token_url", testECKey, AudienceTokenURL, jose.ES256},
		{"rsa issuer", testRSAKey, AudienceIssuer, jose.RS256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &assertionServer{}
			srv := httptest.NewServer(http.HandlerFunc(s.handler))
			defer srv.Close()
			now := time.Now().Truncate(time.Second)
			cfg := Config{Provider: "oauth2", ClientID: "cid", TokenURL: srv.URL + "/token?fail-once=1", RevocationURL: srv.URL + "/revoke",
				AuthStyle: AuthStylePrivateKeyJWT, PrivateKey: tc.key, AssertionAudience: tc.aud, Issuer: "https://issuer.example"}
			c, err := New(cfg, Options{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := c.Token(ctx, []string{"read"}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.(CodeGranter).Refresh(ctx, "old-rt"); err != nil {
				t.Fatal(err)
			}
			if err := c.(Revoker).Revoke(ctx, "at"); err != nil {
				t.Fatal(err)
			}
			if len(s.forms) != 4 {
				t.Fatalf("%d requests, want 4 (a retried token request, a refresh, a revoke)", len(s.forms))
			}
			wantAud := cfg.TokenURL
			if tc.aud == AudienceIssuer {
				wantAud = cfg.Issuer
			}
			pub := mustKey(t, tc.key)
			seen := map[string]bool{}
			for i, f := range s.forms {
				if f.Has("client_secret") || s.auth[i] != "" || f.Get("client_id") != "cid" {
					t.Errorf("request %d: client_secret, Authorization or client_id: %v %q", i, f, s.auth[i])
				}
				if f.Get("client_assertion_type") != ClientAssertionType {
					t.Errorf("request %d: client_assertion_type %q", i, f.Get("client_assertion_type"))
				}
				tok, err := jwt.ParseSigned(f.Get("client_assertion"), []jose.SignatureAlgorithm{tc.alg})
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if h := tok.Headers[0]; h.KeyID != cfg.KeyID() || h.KeyID == "" {
					t.Errorf("kid %q, want %q", h.KeyID, cfg.KeyID())
				}
				var c jwt.Claims
				if err := tok.Claims(pub, &c); err != nil {
					t.Fatalf("request %d: signature: %v", i, err)
				}
				if c.Issuer != "cid" || c.Subject != "cid" || len(c.Audience) != 1 || c.Audience[0] != wantAud {
					t.Errorf("request %d: iss %q sub %q aud %v", i, c.Issuer, c.Subject, c.Audience)
				}
				if !c.IssuedAt.Time().Equal(now) || !c.Expiry.Time().Equal(now.Add(5*time.Minute)) {
					t.Errorf("request %d: iat %v exp %v", i, c.IssuedAt.Time(), c.Expiry.Time())
				}
				if c.ID == "" || seen[c.ID] {
					t.Errorf("request %d: jti %q empty or reused", i, c.ID)
				}
				seen[c.ID] = true
			}
		})
	}
}

func mustKey(t *testing.T, p string) any {
	t.Helper()
	k, err := ParsePrivateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	case *rsa.PrivateKey:
		return &k.PublicKey
	}
	return nil
}

// The JWKS holds the public key only, with the thumbprint as kid unless
// private_key_id names one.
func TestPublicJWKS(t *testing.T) {
	set, err := PublicJWKS(Config{PrivateKey: testRSAKey})
	if err != nil {
		t.Fatal(err)
	}
	k := set["keys"].([]any)[0].(map[string]any)
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["d"] != nil || k["kid"] != (&Config{PrivateKey: testRSAKey}).KeyID() {
		t.Errorf("jwk %v", k)
	}
	set, _ = PublicJWKS(Config{PrivateKey: testECKey, PrivateKeyID: "k1"})
	k = set["keys"].([]any)[0].(map[string]any)
	if k["kty"] != "EC" || k["crv"] != "P-256" || k["kid"] != "k1" || k["d"] != nil || strings.Contains(k["x"].(string), "=") {
		t.Errorf("jwk %v", k)
	}
}

// A refusal that echoes the assertion reaches no error: it is redacted at
// the transport.
func TestAssertionEchoIsRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad ` + r.PostForm.Get("client_assertion") + `"}`))
	}))
	defer srv.Close()
	c, err := New(Config{Provider: "oauth2", ClientID: "cid", TokenURL: srv.URL + "/token", AuthStyle: AuthStylePrivateKeyJWT,
		PrivateKey: testECKey}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Token(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "[redacted]") || strings.Contains(err.Error(), "eyJ") {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(err.Error(), "jwks") {
		t.Errorf("the error does not say to register the jwks: %v", err)
	}
}
