package emulator_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// The token endpoint verifies a private_key_jwt assertion strictly, under
// each reading of aud: a good one passes once; a replayed jti, a wrong or
// other-reading aud, an expired one, iss or sub not the client, another
// key's signature, an assertion beside a client_secret all fail.
func TestOAuth2PrivateKeyJWT(t *testing.T) {
	e, base := start(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Use: "sig", Algorithm: "ES256"}}})
	if r := mustCall(t, "POST", base+"/_emulator/oauth2/clients", "application/json",
		`{"id":"jwt","jwks":`+string(jwks)+`}`, "", ""); r.status != 204 {
		t.Fatalf("registering the client: %d %s", r.status, r.raw)
	}
	now := time.Now()
	sign := func(k *ecdsa.PrivateKey, c jwt.Claims) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: "k1"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := jwt.Signed(s).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	claims := func(aud, jti string) jwt.Claims {
		return jwt.Claims{Issuer: "jwt", Subject: "jwt", Audience: jwt.Audience{aud}, ID: jti,
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}
	}
	post := func(assertion string, extra ...string) reply {
		return mustCall(t, "POST", base+oauth2TokenPath, formType, form(append([]string{"grant_type", "client_credentials",
			"client_id", "jwt", "client_assertion_type", assertionType, "client_assertion", assertion}, extra...)...), "", "")
	}
	for _, reading := range []struct{ name, aud, wrong string }{
		{emulator.AssertionAudTokenURL, base + oauth2TokenPath, e.OAuth2Issuer()},
		{emulator.AssertionAudIssuer, e.OAuth2Issuer(), base + oauth2TokenPath},
	} {
		t.Run(reading.name, func(t *testing.T) {
			e.SetOAuth2AssertionAudience(reading.name)
			good := sign(key, claims(reading.aud, "jti-"+reading.name))
			if r := post(good); r.status != 200 || r.body["access_token"] == nil {
				t.Fatalf("a good assertion: %d %s", r.status, r.raw)
			}
			expired := claims(reading.aud, "x1")
			expired.Expiry = jwt.NewNumericDate(now.Add(-time.Second))
			wrongSub := claims(reading.aud, "x2")
			wrongSub.Subject = "someone"
			tooLong := claims(reading.aud, "x3")
			tooLong.Expiry = jwt.NewNumericDate(now.Add(2 * time.Hour))
			for name, a := range map[string]string{
				"replayed jti": good,
				"wrong aud":    sign(key, claims(reading.wrong, "x4")),
				"expired":      sign(key, expired),
				"sub not iss":  sign(key, wrongSub),
				"exp too far":  sign(key, tooLong),
				"another key":  sign(other, claims(reading.aud, "x5")),
				"not a jwt":    "abc.def.ghi",
				"no assertion": "",
			} {
				if r := post(a); r.status != 401 || r.body["error"] != "invalid_client" {
					t.Errorf("%s: %d %s, want 401 invalid_client", name, r.status, r.raw)
				}
			}
			if r := post(sign(key, claims(reading.aud, "x6")), "client_secret", "s"); r.status != 400 {
				t.Errorf("assertion and secret: %d %s, want 400", r.status, r.raw)
			}
		})
	}
}
