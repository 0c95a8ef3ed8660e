package provider

import "time"

// maxLifetime bounds the lifetime an upstream's expires_in may claim.
// Seconds past about 292 years overflow a Duration, and the expiry would
// wrap into the past; a hundred years is as good as forever for a lease.
const maxLifetime = 100 * 365 * 24 * time.Hour

// expiresAfter is when a token answered at start with a lifetime of
// seconds (positive) expires.
func expiresAfter(start time.Time, seconds int64) time.Time {
	if seconds > int64(maxLifetime/time.Second) {
		return start.Add(maxLifetime)
	}
	return start.Add(time.Duration(seconds) * time.Second)
}
