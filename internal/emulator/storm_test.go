package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

// stormCall posts a demo token request without following redirects.
func stormCall(t *testing.T, ctx context.Context, base string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/auth/oauth/token", strings.NewReader(demoForm()))
	req.Header.Set("Content-Type", formType)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestStormKinds(t *testing.T) {
	for _, kind := range emulator.StormKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e, base := start(t)
			e.SetStorm(emulator.Storm{Rate: 1, Kinds: []string{kind}, Slow: 300 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if kind != emulator.StormSlow && kind != emulator.StormLate {
				ctx = context.Background()
			}
			resp, body, err := stormCall(t, ctx, base)
			switch kind {
			case emulator.StormReset:
				if err == nil {
					t.Fatalf("a reset answered %d", resp.StatusCode)
				}
			case emulator.StormSlow, emulator.StormLate:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("want the client's deadline, got %v", err)
				}
			case emulator.Storm429Seconds, emulator.Storm429Date:
				if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("%v %v", err, resp)
				}
				if kind == emulator.Storm429Date {
					if at, perr := http.ParseTime(resp.Header.Get("Retry-After")); perr != nil || !at.After(time.Now()) {
						t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
					}
				}
			case emulator.StormRedirect:
				if err != nil || resp.StatusCode != 307 || !strings.HasPrefix(resp.Header.Get("Location"), "https://elsewhere.example.com/") {
					t.Fatalf("%v %v", err, resp)
				}
			case emulator.StormTruncated, emulator.StormMalformed:
				if err != nil || resp.StatusCode != 200 || json.Valid(body) {
					t.Fatalf("%v %d %s", err, resp.StatusCode, body)
				}
			case emulator.StormOversized:
				if err != nil || len(body) < 2<<20 {
					t.Fatalf("%v, %d bytes", err, len(body))
				}
			default:
				if err != nil || resp.StatusCode < 500 {
					t.Fatalf("%v %v", err, resp)
				}
			}
			time.Sleep(400 * time.Millisecond) // past Slow: nothing was issued late
			// A late answer's token exists: the service acted, the answer
			// came after the client gave up. No other fault issues one.
			want := 0
			if kind == emulator.StormLate {
				want = 1
			}
			if n := len(e.Tokens("cloud")); n != want {
				t.Errorf("a faulted request issued %d tokens, want %d", n, want)
			}
			if got := e.StormCounts()[kind]; got != 1 {
				t.Errorf("StormCounts()[%s] = %d", kind, got)
			}
		})
	}
}

func TestStormRateAndEnd(t *testing.T) {
	e, base := start(t)
	e.SetStorm(emulator.Storm{Rate: 0.3, Kinds: []string{emulator.Storm500}, Seed: 7})
	failed := 0
	for range 400 {
		resp, _, err := stormCall(t, context.Background(), base)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			failed++
		}
	}
	if failed < 80 || failed > 160 {
		t.Errorf("%d of 400 failed at rate 0.3", failed)
	}
	if got := e.StormCounts()[emulator.Storm500]; got != failed {
		t.Errorf("StormCounts %d, failures %d", got, failed)
	}
	e.SetStorm(emulator.Storm{})
	for range 20 {
		if resp, _, err := stormCall(t, context.Background(), base); err != nil || resp.StatusCode != 200 {
			t.Fatalf("after the storm: %v %v", err, resp)
		}
	}
	// A queued fault still comes first.
	e.SetStorm(emulator.Storm{Rate: 1, Kinds: []string{emulator.Storm500}})
	e.InjectFault(emulator.Fault{PathPrefix: "/api/auth", Status: 418})
	if resp, _, _ := stormCall(t, context.Background(), base); resp == nil || resp.StatusCode != 418 {
		t.Errorf("queued fault not taken first: %v", resp)
	}
}
