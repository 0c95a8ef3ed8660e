// A lease's TTLs: where a creds read, and each renew, decide how long the
// lease lives.

package lifecycle

import (
	"fmt"
	"time"
)

// ttlCutSlack is how far a role's ttl may pass its token's full lifetime
// without a warning: an expires_on stated by the upstream's clock may be a
// few seconds off Vault's.
const ttlCutSlack = 5 * time.Second

// LeaseTTLs gives the TTL and max TTL of a lease issued at issued (for a
// new lease: when its request started) and (re)computed at now, so that
// it never outlives the upstream token.
func (e *Mount) LeaseTTLs(role *RoleEntry, issued, now, expires time.Time) (ttl, maxTTL time.Duration, warnings []string) {
	ttl = role.TTL
	if ttl == 0 {
		ttl = e.System().DefaultLeaseTTL()
	}
	maxTTL = role.MaxTTL
	if maxTTL == 0 {
		maxTTL = e.System().MaxLeaseTTL()
	}
	// Both measured from issue time, as Vault does for max_ttl.
	untilExpiry := expires.Sub(now)
	if lifetime := expires.Sub(issued); maxTTL > lifetime {
		maxTTL = lifetime
	}
	if ttl > untilExpiry {
		// Only a role that asked for more than the token's full lifetime
		// hears of it: the seconds a round trip costs are not news.
		if ttl > expires.Sub(issued)+ttlCutSlack {
			warnings = append(warnings, fmt.Sprintf("lease TTL cut from %s to %s: the upstream token expires at %s",
				ttl, untilExpiry.Truncate(time.Second), expires.UTC().Format(time.RFC3339)))
		}
		ttl = untilExpiry
	}
	return ttl.Truncate(time.Second), maxTTL.Truncate(time.Second), warnings
}
