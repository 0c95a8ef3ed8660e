package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
)

// gatedStorage holds the first Delete until gate is closed (entered is
// closed when it begins), and refuses every Delete while refuse is set.
type gatedStorage struct {
	logical.Storage
	gate, entered chan struct{}
	once          sync.Once
	refuse        bool
}

func (g *gatedStorage) Delete(ctx context.Context, key string) error {
	if g.refuse {
		return errors.New("storage refused the delete")
	}
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		<-g.gate
	}
	return g.Storage.Delete(ctx, key)
}

// heldRecords writes a live record for each of tokens under config and
// loads config's index.
func heldRecords(t *testing.T, e *Mount, s logical.Storage, config string, tokens []string) {
	t.Helper()
	ctx := context.Background()
	for _, tok := range tokens {
		h := heldToken{CreatedAt: e.Now(), ExpiresAt: e.Now().Add(time.Hour)}
		if err := PutJSON(ctx, s, heldKey(config, TokenID(tok)), "token record", h); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := e.liveCount(ctx, s, config); err != nil || n != len(tokens) {
		t.Fatalf("liveCount %d %v, want %d", n, err, len(tokens))
	}
}

func recordStored(t *testing.T, s logical.Storage, config, tok string) bool {
	t.Helper()
	entry, err := s.Get(context.Background(), heldKey(config, TokenID(tok)))
	if err != nil {
		t.Fatal(err)
	}
	return entry != nil
}

// TestForgetAfterRevoke: a revoked token stops counting at once; its
// record is deleted after, in the background; past maxPendingForgets
// waiting, a revoke deletes its own record; WaitForgets waits for them
// all.
func TestForgetAfterRevoke(t *testing.T) {
	ctx := context.Background()
	e := NewMount(hclog.NewNullLogger(), nil)
	s := &gatedStorage{Storage: &logical.InmemStorage{}, gate: make(chan struct{}), entered: make(chan struct{})}
	const config = "c"
	tokens := make([]string, maxPendingForgets+2)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("token-%d", i)
	}
	heldRecords(t, e, s, config, tokens)

	// The first delete hangs: the worker holds it, the next ones wait.
	mustForget := func(tok string) {
		t.Helper()
		if err := e.forgetAfterRevoke(ctx, s, config, tok); err != nil {
			t.Fatal(err)
		}
	}
	mustForget(tokens[0])
	<-s.entered
	for _, tok := range tokens[1 : maxPendingForgets+1] {
		mustForget(tok)
	}
	if n, _ := e.liveCount(ctx, s, config); n != 1 {
		t.Errorf("liveCount %d after revoking all but one, want 1: revoked tokens still count", n)
	}
	if !recordStored(t, s, config, tokens[1]) {
		t.Errorf("a waiting record was deleted while the first delete hung")
	}
	// An index read from storage skips the records waiting.
	e.dropHeldIndex(config)
	if n, _ := e.liveCount(ctx, s, config); n != 1 {
		t.Errorf("liveCount %d read from storage while their deletes wait, want 1", n)
	}
	// The queue is full: this revoke deletes its record itself.
	last := tokens[len(tokens)-1]
	mustForget(last)
	if recordStored(t, s, config, last) {
		t.Errorf("past %d waiting records, a revoke left its record to the queue", maxPendingForgets)
	}
	if err := e.WaitForgets(ctxWithin(t, 50*time.Millisecond)); err == nil {
		t.Errorf("WaitForgets returned while a delete hung")
	}
	close(s.gate)
	if err := e.WaitForgets(ctxWithin(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if recordStored(t, s, config, tok) {
			t.Fatalf("record of %s left after WaitForgets", tok)
		}
	}
	if err := e.WaitForgets(ctx); err != nil {
		t.Errorf("WaitForgets with nothing waiting: %v", err)
	}
}

// TestForgetAfterRevokeRefused: a record storage will not delete stays,
// counts again once the index is read from storage (until its token's
// expiry), and the log says so, naming the config and not the token.
func TestForgetAfterRevokeRefused(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	e := NewMount(hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn}), nil)
	s := &gatedStorage{Storage: &logical.InmemStorage{}, gate: make(chan struct{}), entered: make(chan struct{}), refuse: true}
	close(s.gate)
	const config, tok = "c", "the-secret-token"
	heldRecords(t, e, s, config, []string{tok})
	if err := e.forgetAfterRevoke(ctx, s, config, tok); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitForgets(ctxWithin(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if !recordStored(t, s, config, tok) {
		t.Fatal("the refused delete removed the record")
	}
	if n, _ := e.liveCount(ctx, s, config); n != 0 {
		t.Errorf("liveCount %d on this node's index, want 0", n)
	}
	e.dropHeldIndex(config)
	if n, _ := e.liveCount(ctx, s, config); n != 1 {
		t.Errorf("liveCount %d read from storage, want 1: the record left counts until its token's expiry", n)
	}
	out := logs.String()
	if !strings.Contains(out, "could not be deleted") || !strings.Contains(out, "config=c") || strings.Contains(out, tok) {
		t.Errorf("log:\n%s", out)
	}
}

// TestStopForgets: Cleanup's stop waits for the deletes until its context
// ends, drops those left (logging how many), and a revoke after it
// deletes its own record and returns that delete's error.
func TestStopForgets(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	e := NewMount(hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn}), nil)
	s := &gatedStorage{Storage: &logical.InmemStorage{}, gate: make(chan struct{}), entered: make(chan struct{})}
	const config = "c"
	tokens := []string{"t0", "t1", "t2", "t3", "t4"}
	heldRecords(t, e, s, config, tokens)
	for i, tok := range tokens[:3] {
		if err := e.forgetAfterRevoke(ctx, s, config, tok); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-s.entered // t0's delete hangs in the worker
		}
	}
	e.StopForgets(ctxWithin(t, 50*time.Millisecond))
	if out := logs.String(); !strings.Contains(out, "records=2") {
		t.Errorf("want a warning naming the 2 records dropped:\n%s", out)
	}
	// Dropped: their records stay, and count again from storage.
	close(s.gate)
	if err := e.WaitForgets(ctxWithin(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if recordStored(t, s, config, "t0") || !recordStored(t, s, config, "t1") || !recordStored(t, s, config, "t2") {
		t.Errorf("want t0's record deleted (its delete was under way) and t1's and t2's kept")
	}
	e.dropHeldIndex(config)
	if n, _ := e.liveCount(ctx, s, config); n != 4 {
		t.Errorf("liveCount %d from storage, want 4: the dropped records count until expiry", n)
	}
	// After the stop a revoke deletes its own record.
	if err := e.forgetAfterRevoke(ctx, s, config, "t3"); err != nil || recordStored(t, s, config, "t3") {
		t.Errorf("revoke after the stop: %v, record kept %v", err, recordStored(t, s, config, "t3"))
	}
	s.refuse = true
	if err := e.forgetAfterRevoke(ctx, s, config, "t4"); err == nil {
		t.Errorf("a revoke whose own delete failed returned no error: Vault would not retry it")
	}
}

func ctxWithin(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
