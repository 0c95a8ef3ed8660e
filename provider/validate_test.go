package provider

import (
	"errors"
	"testing"
)

// TestProviderValidate: the rules a provider adds to the config's own:
// no encoded Basic where the server does not decode it, no port on Cloud
// URLs but on loopback.
func TestProviderValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string // "" when valid
	}{
		{"cloud defaults", Config{Provider: "cloud"}, ""},
		{"cloud basic", Config{Provider: "cloud", AuthStyle: AuthStyleBasic}, "auth_style"},
		{"cloud token_url :443", Config{Provider: "cloud", TokenURL: "https://accounts.acquia.com:443/api/auth/oauth/token"}, "token_url"},
		{"cloud api_url port", Config{Provider: "cloud", APIURL: "https://cloud.acquia.com:8443/api"}, "api_url"},
		{"cloud loopback port", Config{Provider: "cloud", TokenURL: "http://127.0.0.1:8380/api/token", APIURL: "http://[::1]:8380/api"}, ""},
		{"cloud localhost port", Config{Provider: "cloud", TokenURL: "http://localhost:8380/api/token"}, ""},
		{"source body", Config{Provider: "source", BaseURL: "https://site.example"}, ""},
		{"source basic", Config{Provider: "source", BaseURL: "https://site.example", AuthStyle: AuthStyleBasic}, "auth_style"},
		{"source port is fine", Config{Provider: "source", BaseURL: "https://site.example:8443"}, ""},
		{"acronis basic", Config{Provider: "acronis", BaseURL: "https://eu8-cloud.acronis.com"}, ""},
		{"oauth2 basic", Config{Provider: "oauth2", TokenURL: "https://idp.example:8443/token", AuthStyle: AuthStyleBasic,
			ClientSecret: "s"}, ""},
		{"oauth2 no secret", Config{Provider: "oauth2", TokenURL: "https://idp.example/token"}, "client_secret"},
		{"oauth2 jwt", Config{Provider: "oauth2", TokenURL: "https://idp.example/token", AuthStyle: AuthStylePrivateKeyJWT,
			PrivateKey: testECKey}, ""},
		{"oauth2 jwt without key", Config{Provider: "oauth2", AuthStyle: AuthStylePrivateKeyJWT}, "private_key"},
		{"oauth2 jwt issuer without issuer", Config{Provider: "oauth2", AuthStyle: AuthStylePrivateKeyJWT, PrivateKey: testECKey,
			AssertionAudience: AudienceIssuer}, "issuer"},
		{"oauth2 key with body", Config{Provider: "oauth2", ClientSecret: "s", PrivateKey: testECKey}, "private_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eff, err := Effective(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			spec, _ := Lookup(tc.cfg.Provider)
			if spec.Validate != nil {
				err = spec.Validate(eff)
			}
			var fe *FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Errorf("got %v, want a FieldError naming %s", err, tc.field)
			}
		})
	}
}
