package paths

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// checkURL enforces the URL rules every URL field shares: https, or http on
// a loopback host (tests and the local emulator); a host; no userinfo (a
// credential in a URL ends up in logs) and no fragment.
func checkURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return badField(field, "not a URL (%v)", err)
	}
	if u.User != nil {
		return badField(field, "must not contain user info (user:password@); put credentials in their own fields")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return badField(field, "must not contain a #fragment")
	}
	if u.Host == "" || u.Hostname() == "" {
		return badField(field, "must be an absolute URL with a host, e.g. https://example.com/path")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !provider.IsLoopback(u.Hostname()) {
			return badField(field, "must use https; http is allowed only for loopback hosts (127.0.0.1, ::1, localhost)")
		}
	default:
		return badField(field, "scheme %q is not allowed; use https", u.Scheme)
	}
	return nil
}

func checkDuration(field string, d time.Duration) error {
	if d < 0 {
		return badField(field, "must not be negative (got %s)", d)
	}
	return nil
}

// maxNameLength bounds config and role names.
const maxNameLength = 128

func checkName(name string) error {
	if len(name) > maxNameLength {
		return badField("name", "at most %d characters (got %d); choose a shorter name", maxNameLength, len(name))
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

// hostOf is the host of the first URL that has one, for error messages.
func hostOf(urls ...string) string {
	for _, raw := range urls {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			return u.Host
		}
	}
	return "the upstream"
}

func durationSeconds(d time.Duration) int64 { return int64(d / time.Second) }
