package provider

import (
	"net/http"
	"testing"
	"time"
)

func withRetryAfter(v string) *http.Response {
	h := http.Header{}
	if v != "" {
		h.Set("Retry-After", v)
	}
	return &http.Response{StatusCode: http.StatusTooManyRequests, Header: h}
}

func TestRetryAfter(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name     string
		resp     *http.Response
		min, max time.Duration
		ok       bool
	}{
		{"no answer", nil, 0, 0, false},
		{"no header", withRetryAfter(""), 0, 0, false},
		{"zero seconds", withRetryAfter("0"), 0, 0, true},
		{"seconds", withRetryAfter("120"), 120 * time.Second, 120 * time.Second, true},
		{"negative seconds", withRetryAfter("-5"), 0, 0, false},
		{"fractional seconds", withRetryAfter("1.5"), 0, 0, false},
		{"garbage", withRetryAfter("soon"), 0, 0, false},
		// An HTTP date has whole seconds: the wait is up to a second short.
		{"HTTP date ahead", withRetryAfter(now.Add(time.Hour).UTC().Format(http.TimeFormat)),
			time.Hour - 5*time.Second, time.Hour, true},
		{"HTTP date past", withRetryAfter(now.Add(-time.Hour).UTC().Format(http.TimeFormat)), 0, 0, true},
		{"ANSI C date past", withRetryAfter(now.Add(-time.Hour).UTC().Format(time.ANSIC)), 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := retryAfter(tc.resp)
			if ok != tc.ok || d < tc.min || d > tc.max {
				t.Errorf("retryAfter = (%s, %v), want (%s..%s, %v)", d, ok, tc.min, tc.max, tc.ok)
			}
		})
	}
}

func TestBackoffCeiling(t *testing.T) {
	for _, tc := range []struct {
		name             string
		minWait, maxWait time.Duration
		attempt          int
		want             time.Duration
	}{
		{"first", retryWaitMin, retryWaitMax, 0, retryWaitMin},
		{"doubles", retryWaitMin, retryWaitMax, 1, 2 * retryWaitMin},
		{"doubles again", retryWaitMin, retryWaitMax, 4, 16 * retryWaitMin},
		{"capped", retryWaitMin, retryWaitMax, 5, retryWaitMax},
		{"capped at the guard", retryWaitMin, retryWaitMax, 30, retryWaitMax},
		{"past the guard", retryWaitMin, retryWaitMax, 31, retryWaitMax},
		{"shift as wide as the type", retryWaitMin, retryWaitMax, 64, retryWaitMax},
		{"huge attempt", retryWaitMin, retryWaitMax, 1 << 20, retryWaitMax},
		{"min above max", 10 * time.Second, retryWaitMax, 0, retryWaitMax},
		// Overflow into the sign bit, and out of the type altogether.
		{"overflow negative", 1 << 40, time.Hour, 23, time.Hour},
		{"overflow to zero", 1 << 40, time.Hour, 24, time.Hour},
		// Here the shift wraps to 2^31 ns, a small positive wait: only the
		// attempt guard keeps the ceiling at its cap.
		{"overflow to a small wait", 1<<40 + 1, time.Hour, 31, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoffCeiling(tc.minWait, tc.maxWait, tc.attempt); got != tc.want {
				t.Errorf("backoffCeiling(%s, %s, %d) = %s, want %s", tc.minWait, tc.maxWait, tc.attempt, got, tc.want)
			}
		})
	}
	prev := time.Duration(0)
	for a := 0; a <= 100; a++ {
		c := backoffCeiling(retryWaitMin, retryWaitMax, a)
		if c < prev || c > retryWaitMax || c < retryWaitMin {
			t.Fatalf("attempt %d: ceiling %s after %s, want non-decreasing within [%s, %s]", a, c, prev, retryWaitMin, retryWaitMax)
		}
		prev = c
	}
}

func TestBackoff(t *testing.T) {
	for _, resp := range []*http.Response{nil, withRetryAfter(""), withRetryAfter("soon")} {
		for a := 0; a <= 40; a++ {
			ceiling := backoffCeiling(retryWaitMin, retryWaitMax, a)
			seen := map[time.Duration]bool{}
			for i := 0; i < 50; i++ {
				d := backoff(retryWaitMin, retryWaitMax, a, resp)
				if d <= 0 || d > ceiling {
					t.Fatalf("attempt %d: backoff %s, want within (0, %s]", a, d, ceiling)
				}
				seen[d] = true
			}
			// Full jitter: waits spread over the range, not one fixed value.
			if len(seen) < 2 {
				t.Fatalf("attempt %d: 50 waits all %v, want jitter", a, seen)
			}
		}
	}
	// Tiny ceilings pin down the range's ends: never 0, never above.
	for _, ceiling := range []time.Duration{1, 2, 3} {
		seen := map[time.Duration]bool{}
		for i := 0; i < 200; i++ {
			d := backoff(ceiling, ceiling, 0, nil)
			if d < 1 || d > ceiling {
				t.Fatalf("ceiling %d ns: backoff %d ns, want within [1, %d]", ceiling, d, ceiling)
			}
			seen[d] = true
		}
		if !seen[1] || !seen[ceiling] {
			t.Errorf("ceiling %d ns: 200 waits gave %v, want both 1 and %d", ceiling, seen, ceiling)
		}
	}
	// Retry-After wins over the computed backoff, even above its ceiling.
	if d := backoff(retryWaitMin, retryWaitMax, 0, withRetryAfter("7")); d != 7*time.Second {
		t.Errorf("backoff with Retry-After: 7 = %s, want 7s", d)
	}
	if d := backoff(retryWaitMin, retryWaitMax, 3, withRetryAfter("0")); d != 0 {
		t.Errorf("backoff with Retry-After: 0 = %s, want 0", d)
	}
}
