package paths_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

func pemOf(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// keySecrets are what of a PEM key must never show: the PEM and each of
// its base64 lines.
func keySecrets(p string) []string {
	out := []string{p}
	for _, l := range strings.Split(p, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

// Every bad key input is a 400 naming the field and the fix; nothing is
// stored and no key material is in the message.
func TestPrivateKeyJWTRejectsBadInput(t *testing.T) {
	h := plugintest.New(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	good := pemOf(t, rsaKey)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	h.Secrets = append(h.Secrets, keySecrets(good)...)
	cert := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	cases := []struct {
		name  string
		data  map[string]any
		field string
		fix   string
	}{
		{"not pem", h.OAuth2JWTData(map[string]any{"private_key": "hunter2"}), "private_key", "BEGIN PRIVATE KEY"},
		{"a certificate", h.OAuth2JWTData(map[string]any{"private_key": cert}), "private_key", "RSA or EC private key"},
		{"small rsa", h.OAuth2JWTData(map[string]any{"private_key": pemOf(t, small)}), "private_key", "2048"},
		{"p-224", h.OAuth2JWTData(map[string]any{"private_key": pemOf(t, p224)}), "private_key", "P-256"},
		{"two keys", h.OAuth2JWTData(map[string]any{"private_key": good + good}), "private_key", "alone"},
		{"no key", h.OAuth2JWTData(nil), "private_key", "generate_key=true"},
		{"key and generate", h.OAuth2JWTData(map[string]any{"private_key": good, "generate_key": true}), "generate_key", "not both"},
		{"key with body", h.OAuth2Data(map[string]any{"private_key": good}), "private_key", "auth_style=private_key_jwt"},
		{"generate with basic", h.OAuth2Data(map[string]any{"auth_style": "basic", "generate_key": true}), "generate_key",
			"auth_style=private_key_jwt"},
		{"audience with body", h.OAuth2Data(map[string]any{"assertion_audience": "issuer"}), "assertion_audience", "private_key_jwt"},
		{"secret with jwt", h.OAuth2JWTData(map[string]any{"generate_key": true, "client_secret": "s"}), "client_secret", "leave"},
		{"issuer audience without issuer", h.OAuth2JWTData(map[string]any{"generate_key": true, "assertion_audience": "issuer"}),
			"issuer", "required"},
		{"bad audience", h.OAuth2JWTData(map[string]any{"generate_key": true, "assertion_audience": "aud"}), "assertion_audience",
			"token_url"},
		{"bad kid", h.OAuth2JWTData(map[string]any{"generate_key": true, "private_key_id": "a b"}), "private_key_id", "printable"},
		{"jwt on cloud", h.CloudConfigData(map[string]any{"auth_style": "private_key_jwt"}), "auth_style", "oauth2"},
		{"key on cloud", h.CloudConfigData(map[string]any{"private_key": good}), "private_key", "does not apply"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := h.Refused(t, "config/bad", tc.data, keySecrets(good)...)
			if !strings.HasPrefix(msg, tc.field) || !strings.Contains(msg, tc.fix) {
				t.Errorf("error %q does not name %s and %q", msg, tc.field, tc.fix)
			}
		})
	}
}

// The key is write-only: no read, jwks answer or log line holds it; the
// JWKS holds the public key with kid, use and alg, and no private part. A
// destination change needs the key again; leaving private_key_jwt drops it.
func TestPrivateKeyJWTKeyIsWriteOnly(t *testing.T) {
	h := plugintest.New(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	good := pemOf(t, rsaKey)
	h.Secrets = append(h.Secrets, keySecrets(good)...)
	h.MustWrite("config/jwt", h.OAuth2JWTData(map[string]any{"private_key": good, "verify": false}))

	read := h.MustRead("config/jwt").Data
	jwks := h.MustRead("config/jwt/jwks").Data
	for path, data := range map[string]map[string]any{"config/jwt": read, "config/jwt/jwks": jwks} {
		raw, _ := json.Marshal(data)
		for _, s := range h.Secrets {
			if s != "" && strings.Contains(string(raw), s) {
				t.Errorf("%s holds key material", path)
			}
		}
	}
	if _, ok := read["private_key"]; ok {
		t.Error("a read returns private_key")
	}
	if read["auth_style"] != "private_key_jwt" || read["assertion_audience"] != "token_url" || read["private_key_id"] == "" {
		t.Errorf("read: %v", read)
	}
	keys, _ := jwks["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("jwks %v", jwks)
	}
	k := keys[0].(map[string]any)
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] != read["private_key_id"] || k["n"] == nil || k["e"] == nil {
		t.Errorf("jwk %v", k)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := k[private]; ok {
			t.Errorf("the jwk holds %s", private)
		}
	}

	// A URL change needs the key again, or a new one.
	msg, ok := plugintest.BadRequest(h.Write("config/jwt", map[string]any{"token_url": "http://127.0.0.1:1/other"}))
	if !ok || !strings.HasPrefix(msg, "private_key") || !strings.Contains(msg, "token_url") {
		t.Errorf("token_url changed without the key: %s", msg)
	}
	h.MustWrite("config/jwt", map[string]any{"private_key_id": "k1", "verify": false})
	resp := h.MustWrite("config/jwt", map[string]any{"token_url": "http://127.0.0.1:1/other", "generate_key": true})
	if len(resp.Warnings) == 0 {
		t.Error("generate_key without a warning")
	}
	jwks = h.MustRead("config/jwt/jwks").Data
	k = jwks["keys"].([]any)[0].(map[string]any)
	if k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["kid"] == "k1" {
		t.Errorf("generated jwk %v (a new key takes its own kid)", k)
	}

	// Leaving private_key_jwt drops the key: no JWKS any more.
	h.MustWrite("config/jwt", map[string]any{"auth_style": "body", "client_secret": "s", "verify": false})
	msg, ok = plugintest.BadRequest(h.Read("config/jwt/jwks"))
	if !ok || !strings.Contains(msg, "auth_style=body") {
		t.Errorf("jwks of a body config: %s", msg)
	}
	if read := h.MustRead("config/jwt").Data; read["private_key_id"] != "" || read["assertion_audience"] != "" {
		t.Errorf("the key's fields outlived the auth_style: %v", read)
	}
	if resp, err := h.Read("config/none/jwks"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("jwks of a missing config: %v %v", resp, err)
	}
}
