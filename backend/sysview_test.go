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
}

func (b *blockingSystemView) ReplicationState() consts.ReplicationState {
	b.mu.Lock()
	gate, state := b.gate, b.state
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
	answered := make(chan consts.ReplicationState, 2)
	go func() {
		answered <- c.ReplicationState() // starts the refresh
		answered <- c.ReplicationState() // during it
	}()
	for i := range 2 {
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
	close(gate)
	deadline := time.Now().Add(10 * time.Second)
	for c.ReplicationState() != consts.ReplicationPerformanceStandby {
		if time.Now().After(deadline) {
			t.Fatal("the refresh's answer never served")
		}
		time.Sleep(time.Millisecond)
	}
}
