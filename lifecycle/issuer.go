package lifecycle

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// An issuer is where, and as whom, a config's tokens are minted and
// revoked. A lease records the issuer of its token, and a revoke is
// reported done only when it went to that issuer: a token sent to another
// host or account would come back 401/404 (or RFC 7009's 200 for unknown
// tokens) while it lives on upstream.
//
// Policy: a config's issuer fields cannot change, and the config cannot be
// deleted, while revocable tokens it issued live (see heldByOthers).

// issuerParts are the config fields that make up the issuer, in the order
// a refusal names them; the config field table marks the same rows.
var issuerParts = []struct {
	name  string
	value func(c provider.Config) string
}{
	{"client_id", func(c provider.Config) string { return c.ClientID }},
	{"username", func(c provider.Config) string { return c.Username }},
	{"base_url", func(c provider.Config) string { return c.BaseURL }},
	{"token_url", func(c provider.Config) string { return c.TokenURL }},
	{"revocation_url", func(c provider.Config) string { return c.RevocationURL }},
}

// IssuerFields are the config fields that make up the issuer.
func IssuerFields() []string {
	names := make([]string, len(issuerParts))
	for i, p := range issuerParts {
		names[i] = p.name
	}
	return names
}

// IssuerOf fingerprints the issuer of an effective (defaulted) config.
func IssuerOf(c provider.Config) string {
	parts := []string{c.Provider}
	for _, p := range issuerParts {
		parts = append(parts, p.name+"="+p.value(c))
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:16])
}

// sameIssuer reports whether a token minted by issuer at issued may be
// sent to cfg (effective eff). A token from before issuers were recorded
// (issuer "") may, unless an issuer field changed since it was minted; a
// zero issued time counts as before any change.
func sameIssuer(cfg *ConfigEntry, eff provider.Config, issuer string, issued time.Time) bool {
	if issuer != "" {
		return IssuerOf(eff) == issuer
	}
	return cfg.IssuerChangedAt.IsZero() || (!issued.IsZero() && issued.After(cfg.IssuerChangedAt))
}

// issuerChange names the first issuer field that differs between two
// effective configs, or "".
func issuerChange(old, new provider.Config) string {
	for _, p := range issuerParts {
		if p.value(old) != p.value(new) {
			return p.name
		}
	}
	return ""
}

// HostOf is the host of the first URL that has one, for error messages.
func HostOf(urls ...string) string {
	for _, raw := range urls {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			return u.Host
		}
	}
	return "the upstream"
}
