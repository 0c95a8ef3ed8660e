package paths

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// checkURL enforces the URL rules every URL field shares: https, or http on
// a loopback host (tests and the local emulator); a host; no userinfo (a
// credential in a URL ends up in logs) and no fragment.
func checkURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return lifecycle.BadField(field, "not a URL (%v)", err)
	}
	if u.User != nil {
		return lifecycle.BadField(field, "must not contain user info (user:password@); put credentials in their own fields")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return lifecycle.BadField(field, "must not contain a #fragment")
	}
	if u.Host == "" || u.Hostname() == "" {
		return lifecycle.BadField(field, "must be an absolute URL with a host, e.g. https://example.com/path")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !provider.IsLoopback(u.Hostname()) {
			return lifecycle.BadField(field, "must use https; http is allowed only for loopback hosts (127.0.0.1, ::1, localhost)")
		}
	default:
		return lifecycle.BadField(field, "scheme %q is not allowed; use https", u.Scheme)
	}
	return nil
}

func checkDuration(field string, d time.Duration) error {
	if d < 0 {
		return lifecycle.BadField(field, "must not be negative (got %s)", d)
	}
	return nil
}

func checkName(name string) error {
	if len(name) > lifecycle.MaxNameLength {
		return lifecycle.BadField("name", "at most %d characters (got %d); choose a shorter name", lifecycle.MaxNameLength, len(name))
	}
	return nil
}

// cleanScopes trims and de-duplicates a scope list, keeping order.
func cleanScopes(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		for _, part := range strings.Fields(s) {
			if !seen[part] {
				seen[part] = true
				out = append(out, part)
			}
		}
	}
	return out
}

func listOrEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func durationSeconds(d time.Duration) int64 { return int64(d / time.Second) }
