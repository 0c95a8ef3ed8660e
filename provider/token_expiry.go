package provider

import (
	"encoding/json"
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

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

// tokenExpiry is when a token answered at start expires. Acronis sends
// expires_on (unix seconds), most others expires_in; with both, the
// earlier wins so a lease never outlives the token. x/oauth2's
// clientcredentials drops ExpiresIn and keeps only an Expiry on the wall
// clock, so the raw answer is read. Without either, the token lives
// fallback.
func tokenExpiry(t *oauth2.Token, start time.Time, fallback time.Duration) time.Time {
	var exp time.Time
	if in := max(t.ExpiresIn, extraInt(t, "expires_in")); in > 0 {
		exp = expiresAfter(start, in)
	}
	if on, ok := expiresOn(t); ok && (exp.IsZero() || on.Before(exp)) {
		exp = on
	}
	if exp.IsZero() {
		exp = start.Add(fallback)
	}
	return exp
}

func extraInt(t *oauth2.Token, key string) int64 {
	switch v := t.Extra(key).(type) {
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return 0
}
