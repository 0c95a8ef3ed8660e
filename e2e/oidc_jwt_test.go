//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestOIDCProviderPrivateKeyJWT: private_key_jwt through the real vault
// against oidc-provider, with each assertion_audience. Vault generates
// each config's key; the server starts with the JWKS Vault serves at
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

	audiences := []string{"token_url", "issuer"}
	jwks := map[string]json.RawMessage{}
	for _, aud := range audiences {
		args := []string{"write", "-format=json", "acquia/config/jwt-" + aud, "provider=oauth2", "client_id=cc-jwt-" + aud,
			"auth_style=private_key_jwt", "generate_key=true", "token_url=" + issuer + "/token",
			"revocation_url=" + issuer + "/token/revocation", "scopes=api:read", "assertion_audience=" + aud}
		if aud == "issuer" {
			args = append(args, "issuer="+issuer)
		}
		// Not verified: nothing knows the new key yet (and the server is
		// not running). The warning says where the public key is.
		var written secretJSON
		if err := json.Unmarshal([]byte(v.mustCLI(args...)), &written); err != nil ||
			!strings.Contains(strings.Join(written.Warnings, " "), "config/jwt-"+aud+"/jwks") {
			t.Fatalf("config write with generate_key: %v %v", err, written.Warnings)
		}
		set := v.readJSON("acquia/config/jwt-" + aud + "/jwks").Data
		keys, _ := set["keys"].([]any)
		if len(keys) != 1 {
			t.Fatalf("jwks %v", set)
		}
		k, _ := keys[0].(map[string]any)
		if k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["use"] != "sig" || k["kid"] == "" || k["d"] != nil {
			t.Errorf("jwk %v", k)
		}
		if cfg := v.readJSON("acquia/config/jwt-" + aud).Data; cfg["private_key"] != nil || cfg["private_key_id"] != k["kid"] {
			t.Errorf("config read: %v", cfg)
		}
		jwks["cc-jwt-"+aud], _ = json.Marshal(set)
	}
	o := startOIDCProviderOn(t, node, dir, port, v.addr+"/v1/acquia/callback", jwks)

	for _, aud := range audiences {
		t.Run(aud, func(t *testing.T) {
			v.t = t
			name, client := "jwt-"+aud, "cc-jwt-"+aud
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
