//go:build e2e

package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOIDCProviderPrivateKeyJWT: private_key_jwt through the real vault
// against oidc-provider, with each assertion_audience and with an RSA key
// written as PEM. Vault generates the other configs' keys; the server starts with the JWKS Vault serves at
// config/<name>/jwks registered for the client (as an operator registers
// it at their IdP), since Vault's path needs a token and cannot be the
// client's jwks_uri. Then verify, a token proved by introspection, and a
// lease revoke (the revocation endpoint authenticates the client by
// assertion too).
func TestOIDCProviderPrivateKeyJWT(t *testing.T) {
	node, dir := oidcProviderInstalled(t)
	v := startVault(t)
	port := freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", port)
	t.Cleanup(v.assertLogClean)
	defer func() { v.t = t }()

	// Two keys Vault generates (one per aud reading), and an RSA key
	// written as PEM, which must then reach no log line.
	rsaPEM := rsaKeyFile(t)
	for _, line := range strings.Split(string(rsaPEM.pem), "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") {
			v.remember(line)
		}
	}
	configs := []struct{ suffix, aud, key, kty, alg string }{
		{"token_url", "token_url", "generate_key=true", "EC", "ES256"},
		{"issuer", "issuer", "generate_key=true", "EC", "ES256"},
		{"rsa", "token_url", "private_key=@" + rsaPEM.path, "RSA", "RS256"},
	}
	jwks := map[string]json.RawMessage{}
	for _, c := range configs {
		args := []string{"write", "-format=json", "acquia/config/jwt-" + c.suffix, "provider=oauth2", "client_id=cc-jwt-" + c.suffix,
			"auth_style=private_key_jwt", c.key, "token_url=" + issuer + "/token", "verify=false",
			"revocation_url=" + issuer + "/token/revocation", "scopes=api:read", "assertion_audience=" + c.aud}
		if c.aud == "issuer" {
			args = append(args, "issuer="+issuer)
		}
		// Not verified: nothing knows the key yet (and the server is not
		// running). A generated key's warning says where its public key is.
		var written secretJSON
		out := v.mustCLI(args...)
		if out == "" {
			out = "{}" // no warnings, no data
		}
		if err := json.Unmarshal([]byte(out), &written); err != nil || c.kty == "EC" &&
			!strings.Contains(strings.Join(written.Warnings, " "), "config/jwt-"+c.suffix+"/jwks") {
			t.Fatalf("config write: %v %v", err, written.Warnings)
		}
		set := v.readJSON("acquia/config/jwt-" + c.suffix + "/jwks").Data
		keys, _ := set["keys"].([]any)
		if len(keys) != 1 {
			t.Fatalf("jwks %v", set)
		}
		k, _ := keys[0].(map[string]any)
		if k["kty"] != c.kty || k["alg"] != c.alg || k["use"] != "sig" || k["kid"] == "" || k["d"] != nil {
			t.Errorf("jwk %v", k)
		}
		if cfg := v.readJSON("acquia/config/jwt-" + c.suffix).Data; cfg["private_key"] != nil || cfg["private_key_id"] != k["kid"] {
			t.Errorf("config read: %v", cfg)
		}
		jwks["cc-jwt-"+c.suffix], _ = json.Marshal(set)
	}
	o := startOIDCProviderOn(t, node, dir, port, v.addr+"/v1/acquia/callback", jwks)

	for _, c := range configs {
		t.Run(c.suffix, func(t *testing.T) {
			v.t = t
			name, client := "jwt-"+c.suffix, "cc-jwt-"+c.suffix
			v.mustCLI("write", "acquia/config/"+name, "verify=true")
			v.mustCLI("write", "acquia/roles/"+name, "config="+name, "scopes=api:read,api:write", "ttl=5m")
			for range 2 {
				s := v.readJSON("acquia/creds/" + name)
				tok, _ := s.Data["access_token"].(string)
				v.remember(tok)
				in := o.introspect(t, "cc-post", tok)
				if in["active"] != true || in["client_id"] != client || in["scope"] != "api:read api:write" {
					t.Fatalf("introspection of the token: %v", in)
				}
				v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
				if in := o.introspect(t, "cc-post", tok); in["active"] != false {
					t.Errorf("after lease revoke the token is still active: %v", in)
				}
			}
		})
	}

	t.Run("unregistered_key", func(t *testing.T) {
		v.t = t
		// A new key the server does not know: verify fails, naming the fix,
		// and the config keeps its registered key.
		_, errOut, err := v.cli("write", "acquia/config/jwt-token_url", "generate_key=true", "verify=true")
		if err == nil || !strings.Contains(errOut, "Code: 400") || !strings.Contains(errOut, "invalid_client") ||
			!strings.Contains(errOut, "jwks") {
			t.Errorf("a write with a key the server does not know: %v\n%s", err, errOut)
		}
		s := v.readJSON("acquia/creds/jwt-token_url")
		v.mustCLI("lease", "revoke", "-sync", s.LeaseID)
	})
}

type pemFile struct {
	path string
	pem  []byte
}

// rsaKeyFile writes a new 2048-bit RSA key, PEM, to a file of the test's.
func rsaKeyFile(t *testing.T) pemFile {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	path := filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(path, p, 0o600); err != nil {
		t.Fatal(err)
	}
	return pemFile{path: path, pem: p}
}
