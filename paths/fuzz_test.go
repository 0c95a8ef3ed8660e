package paths

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// FuzzCheckURL: a URL checkURL accepts is one every request can be built
// from, names a host, carries no credentials or fragment, and uses https,
// or http to a loopback host only (never a name that merely starts with
// one).
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://accounts.acquia.com/api/auth/oauth/token", "http://127.0.0.1:8200/v1/acquia/callback",
		"http://localhost/x", "http://[::1]:80/", "http://localhost.example.com/", "http://127.0.0.1.nip.io/",
		"https://user:pass@example.com/", "https://example.com/#frag", "ftp://example.com/", "https:///path",
		"http://0x7f000001/", "https://example.com:99999/", "https://exa mple.com/", "//example.com/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := checkURL("token_url", raw)
		if err != nil {
			var ue *lifecycle.UserError
			if !errors.As(err, &ue) || ue.Field() != "token_url" {
				t.Fatalf("%q: %v is not a 400 naming the field", raw, err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("%q accepted but does not parse: %v", raw, perr)
		}
		if _, rerr := http.NewRequest(http.MethodPost, raw, nil); rerr != nil {
			t.Fatalf("%q accepted, but no request can be built from it: %v", raw, rerr)
		}
		if u.User != nil || u.Fragment != "" || u.Hostname() == "" {
			t.Fatalf("%q accepted with user info, a fragment or no host", raw)
		}
		switch u.Scheme {
		case "https":
		case "http":
			h := u.Hostname()
			ip := net.ParseIP(h)
			if !strings.EqualFold(h, "localhost") && (ip == nil || !ip.IsLoopback()) {
				t.Fatalf("%q accepted: http to %q, not a loopback host", raw, h)
			}
		default:
			t.Fatalf("%q accepted with scheme %q", raw, u.Scheme)
		}
	})
}

// FuzzConfigFields: any value written to any field of the config field
// table is either a 400 naming that field or stored as the read shows it,
// within the field's bounds.
func FuzzConfigFields(f *testing.F) {
	f.Add(0, "cloud", int64(0))
	f.Add(1, " client-id ", int64(0))
	f.Add(2, " secret with spaces ", int64(0))
	f.Add(9, "sideways", int64(0))
	f.Add(10, "organization:6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b, x", int64(0))
	f.Add(11, "", int64(-1))
	f.Add(12, "5c1d7e2a-9b3f-4a6e-8d0c-1f2e3a4b5c6d", int64(0))
	f.Add(13, "", int64(301))
	f.Add(14, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", int64(0))
	f.Fuzz(func(t *testing.T, idx int, s string, n int64) {
		if idx < 0 {
			idx = -idx
		}
		if idx < 0 {
			idx = 0
		}
		field := &configTable[idx%len(configTable)]
		var v any
		switch field.typ {
		case framework.TypeString:
			v = s
		case framework.TypeInt, framework.TypeDurationSecond:
			v = int(n)
		case framework.TypeCommaStringSlice:
			v = strings.Split(s, ",")
		case framework.TypeBool:
			v = n%2 == 0
		default:
			t.Fatalf("field %s: type %v not covered", field.name, field.typ)
		}
		var c provider.Config
		err := field.applyValue(&c, v)
		if err != nil {
			var ue *lifecycle.UserError
			if !errors.As(err, &ue) || ue.Field() != field.name {
				t.Fatalf("%s=%v: %v is not a 400 naming the field", field.name, v, err)
			}
			return
		}
		var got any
		if !field.writeOnly {
			got = field.readValue(c)
		}
		switch field.name {
		case fMaxTokens:
			if c.MaxTokens < 1 || got != c.MaxTokens {
				t.Fatalf("max_tokens %d stored as %d, read %v", n, c.MaxTokens, got)
			}
		case fRequestTimeout:
			if n < 1 || n > 300 || c.RequestTimeout != time.Duration(n)*time.Second {
				t.Fatalf("request_timeout %d stored as %s", n, c.RequestTimeout)
			}
		case fScopes:
			for _, sc := range c.Scopes {
				if sc == "" || strings.ContainsAny(sc, " \t\n") {
					t.Fatalf("scopes %q stored as %q", s, c.Scopes)
				}
			}
		}
		if field.str != nil {
			want := s
			if !field.secret && field.name != fCACert {
				want = strings.TrimSpace(s)
			}
			if *field.str(&c) != want {
				t.Fatalf("%s=%q stored as %q", field.name, s, *field.str(&c))
			}
		}
	})
}
