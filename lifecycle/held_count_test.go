package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
)

// TestLiveCountAcrossExpiries: the count without a visit (while no record
// can have expired) agrees with the visit at every step: inserts, an
// expiry, a delete, records that never expire, an index loaded from
// storage.
func TestLiveCountAcrossExpiries(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0).UTC()
	e := NewMount(hclog.NewNullLogger(), nil)
	e.Now = func() time.Time { return now }
	s := &logical.InmemStorage{}
	const config = "c"
	want := func(step string, n int) {
		t.Helper()
		got, err := e.liveCount(ctx, s, config)
		if err != nil || got != n {
			t.Fatalf("%s: liveCount %d %v; want %d", step, got, err, n)
		}
	}
	// The visit, which sets the bound again, checks its count apart.
	wantVisit := func(step string, n int) {
		t.Helper()
		visited := 0
		if err := e.visitLive(ctx, s, config, false, func(string, heldToken) { visited++ }); err != nil || visited != n {
			t.Fatalf("%s: visit counts %d %v; want %d", step, visited, err, n)
		}
	}
	track := func(token string, expires time.Time) {
		t.Helper()
		if err := e.trackToken(ctx, s, config, token, heldToken{CreatedAt: now, ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
	}
	want("empty", 0)
	track("a", now.Add(2*time.Hour))
	track("b", now.Add(time.Hour))
	track("never", time.Time{})
	want("three held", 3)
	now = now.Add(90 * time.Minute)
	want("b expired", 2)
	if err := e.ForgetToken(ctx, s, config, "a"); err != nil {
		t.Fatal(err)
	}
	want("a deleted", 1)
	track("c", now.Add(time.Hour))
	e.dropHeldIndex(config) // as Invalidate does: read again from storage
	want("reloaded", 2)
	now = now.Add(2 * time.Hour)
	want("c expired after the reload", 1)
	wantVisit("at the end", 1)
	track("d", now.Add(time.Minute))
	wantVisit("d held", 2)
	now = now.Add(2 * time.Minute)
	want("d expired after a visit", 1)
	track("e", now.Add(time.Minute))
	now = now.Add(2 * time.Minute)
	wantVisit("e expired, visited where nothing may be deleted", 1)
	want("e expired and still stored", 1)

	// A prune whose delete fails leaves its other expired records
	// counted for nothing: the next count visits and prunes again.
	track("f", now.Add(time.Minute))
	track("g", now.Add(time.Minute))
	wantVisit("f and g held", 3)
	now = now.Add(2 * time.Minute)
	failing := &failDelete{Storage: s, left: 1}
	if _, err := e.liveCount(ctx, failing, config); err == nil {
		t.Fatal("a count whose prune failed reported no error")
	}
	want("after a failed prune", 1)
}

// failDelete fails its first left deletes.
type failDelete struct {
	logical.Storage
	left int
}

func (f *failDelete) Delete(ctx context.Context, k string) error {
	if f.left > 0 {
		f.left--
		return errors.New("storage unavailable")
	}
	return f.Storage.Delete(ctx, k)

}
