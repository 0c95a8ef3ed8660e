package backend

import (
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// blockingSystemView answers its state, and holds ReplicationState while
// its gate is set.
type blockingSystemView struct {
	logical.StaticSystemView
	mu    sync.Mutex
	gate  chan struct{}
	state consts.ReplicationState
	asks  int
}

func (b *blockingSystemView) ReplicationState() consts.ReplicationState {
	b.mu.Lock()
	gate, state := b.gate, b.state
	b.asks++
	b.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return state
}

// TestStaleSnapshotIsRefreshedInTheBackground: once a snapshot is stale,
// the request that notices starts one refresh and, like every request
// during it, gets the snapshot it has rather than wait on Vault; the
// refresh's answers serve the requests after it.
func TestStaleSnapshotIsRefreshedInTheBackground(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	sys := &blockingSystemView{state: consts.ReplicationPerformanceDisabled}
	c := &cachedSystemView{SystemView: sys, now: clock}
	if got := c.ReplicationState(); got != consts.ReplicationPerformanceDisabled {
		t.Fatalf("first answer %v", got)
	}

	clockMu.Lock()
	now = now.Add(2 * sysViewTTL)
	clockMu.Unlock()
	gate := make(chan struct{})
	sys.mu.Lock()
	sys.gate, sys.state = gate, consts.ReplicationPerformanceStandby
	sys.mu.Unlock()
	answered := make(chan consts.ReplicationState, 3)
	go func() {
		answered <- c.ReplicationState() // starts the refresh
		answered <- c.ReplicationState() // during it
		answered <- c.ReplicationState() // and another
	}()
	for i := range 3 {
		select {
		case got := <-answered:
			if got != consts.ReplicationPerformanceDisabled {
				t.Errorf("answer %d while Vault has not answered: %v; want the snapshot's", i, got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a request waited on the refresh")
		}
	}
	c.mu.Lock()
	refreshing := c.refreshing
	c.mu.Unlock()
	if !refreshing {
		t.Fatal("no refresh started")
	}
	asks := func() int { sys.mu.Lock(); defer sys.mu.Unlock(); return sys.asks }
	for deadline := time.Now().Add(10 * time.Second); asks() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the refresh never asked Vault")
		}
	}
	for range 3 {
		c.ReplicationState()
	}
	if n := asks(); n != 2 { // the first snapshot, and one refresh
		t.Errorf("Vault asked %d times; want 2 (one refresh at a time)", n)
	}
	close(gate)
	deadline := time.Now().Add(10 * time.Second)
	for c.ReplicationState() != consts.ReplicationPerformanceStandby {
		if time.Now().After(deadline) {
			t.Fatal("the refresh's answer never served")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSnapshotPastMaxStaleIsAskedForAtOnce: a snapshot older than
// sysViewMaxStale (a mount idle that long) is not served: the request asks
// Vault and answers with what Vault says now.
func TestSnapshotPastMaxStaleIsAskedForAtOnce(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	sys := &blockingSystemView{state: consts.ReplicationPerformanceDisabled}
	c := &cachedSystemView{SystemView: sys, now: func() time.Time { return now }}
	c.ReplicationState()
	now = now.Add(sysViewMaxStale)
	sys.state = consts.ReplicationPerformanceStandby
	if got := c.ReplicationState(); got != consts.ReplicationPerformanceStandby {
		t.Errorf("after %s idle: %v; want what Vault says now", sysViewMaxStale, got)
	}
}
