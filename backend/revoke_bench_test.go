package backend_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// BenchmarkRevokeHeld is one lease revoke on an oauth2 config with a
// revocation_url while the config holds n live leases (its records), on
// in-memory storage against the in-process emulator. Each revoked lease
// is replaced outside the timer, so n stays as it is. Its storage calls
// are counted and timed per revoke, by kind: a cost that grows with n
// shows as a List, a Get per record, or time per call that grows.
//
//	go test -run '^$' -bench RevokeHeld -benchtime 2000x -cpuprofile cpu.out ./backend/
func BenchmarkRevokeHeld(b *testing.B) {
	for _, n := range []int{300, 3000, 10000} {
		b.Run(fmt.Sprintf("held=%d", n), func(b *testing.B) { benchRevokeHeld(b, n) })
	}
}

func benchRevokeHeld(b *testing.B, n int) {
	h := plugintest.New(b)
	st := &timedStorage{Storage: h.Storage}
	h.Storage = st
	h.OAuth2Client()
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"revocation_url": h.Emu.URL() + "/oauth2/revoke"}))
	h.MustWrite("roles/r", map[string]any{"config": "gen", "ttl": "1h"})
	leases := make([]*logical.Response, n)
	for i := range leases {
		leases[i] = h.MustRead("creds/r")
	}
	h.Secrets = nil // tokens are not logged; keep the log scan cheap
	st.reset()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := i % n
		if r, err := h.Revoke(leases[k]); err != nil || (r != nil && r.IsError()) {
			b.Fatal(err, plugintest.ErrText(r))
		}
		// Timed until the record's delete, which follows the answer, is done.
		if err := h.B.Env().WaitForgets(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.pause()
		leases[k] = h.MustRead("creds/r")
		h.Secrets = nil
		st.resume()
		b.StartTimer()
	}
	b.StopTimer()
	st.report(b)
}

// timedStorage counts and times the calls a backend makes, by kind.
type timedStorage struct {
	logical.Storage
	mu     sync.Mutex
	off    bool
	calls  map[string]int
	timeIn map[string]time.Duration
}

func (s *timedStorage) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.timeIn, s.off = map[string]int{}, map[string]time.Duration{}, false
}

func (s *timedStorage) pause()  { s.mu.Lock(); s.off = true; s.mu.Unlock() }
func (s *timedStorage) resume() { s.mu.Lock(); s.off = false; s.mu.Unlock() }

func (s *timedStorage) note(kind string, start time.Time) {
	took := time.Since(start)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil || s.off {
		return
	}
	s.calls[kind]++
	s.timeIn[kind] += took
}

func (s *timedStorage) report(b *testing.B) {
	for _, kind := range []string{"list", "get", "put", "delete"} {
		b.ReportMetric(float64(s.calls[kind])/float64(b.N), kind+"s/op")
		b.ReportMetric(float64(s.timeIn[kind].Nanoseconds())/float64(b.N), kind+"-ns/op")
	}
}

func (s *timedStorage) List(ctx context.Context, prefix string) ([]string, error) {
	defer s.note("list", time.Now())
	return s.Storage.List(ctx, prefix)
}

func (s *timedStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	defer s.note("get", time.Now())
	return s.Storage.Get(ctx, key)
}

func (s *timedStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	defer s.note("put", time.Now())
	return s.Storage.Put(ctx, e)
}

func (s *timedStorage) Delete(ctx context.Context, key string) error {
	defer s.note("delete", time.Now())
	return s.Storage.Delete(ctx, key)
}

// BenchmarkRevokeSpread is one lease revoke where 1,000 leases are spread
// over 500 CDP configs, 2 each; as BenchmarkRevokeHeld, each revoked lease
// is replaced outside the timer.
func BenchmarkRevokeSpread(b *testing.B) {
	const configs, per = 500, 2
	h := plugintest.New(b)
	st := &timedStorage{Storage: h.Storage}
	h.Storage = st
	var leases []*logical.Response
	var roles []string
	for i := range configs {
		name := fmt.Sprintf("spread-%03d", i)
		user := emulator.CDPUser{Username: "u-" + name, Password: plugintest.CDPPass + name, MaxTokens: 1 << 20}
		h.Emu.AddCDPUser(user)
		h.Secrets = append(h.Secrets, user.Password)
		h.MustWrite("config/"+name, map[string]any{"provider": "cdp", "username": user.Username, "password": user.Password,
			"base_url": h.Emu.URL(), "max_tokens": per + 1})
		h.MustWrite("roles/"+name, map[string]any{"config": name, "ttl": "1h"})
		for range per {
			leases = append(leases, h.MustRead("creds/"+name))
			roles = append(roles, name)
		}
	}
	h.Secrets = nil
	st.reset()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := i % len(leases)
		if r, err := h.Revoke(leases[k]); err != nil || (r != nil && r.IsError()) {
			b.Fatal(err, plugintest.ErrText(r))
		}
		// Timed until the record's delete, which follows the answer, is done.
		if err := h.B.Env().WaitForgets(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.pause()
		leases[k] = h.MustRead("creds/" + roles[k])
		h.Secrets = nil
		st.resume()
		b.StartTimer()
	}
	b.StopTimer()
	st.report(b)
}
