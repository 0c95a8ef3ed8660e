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

// TestStaleSnapshotServesWhileOneCallerRefreshes: once a snapshot is
// stale, one caller asks Vault and the others keep the snapshot they have,
// rather than queue behind a gRPC call on every request of the mount.
func TestStaleSnapshotServesWhileOneCallerRefreshes(t *testing.T) {
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
	refreshed := make(chan consts.ReplicationState)
	go func() { refreshed <- c.ReplicationState() }()
	for refreshing := false; !refreshing; {
		c.mu.Lock()
		refreshing = c.refreshing
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
	}

	answered := make(chan consts.ReplicationState)
	go func() { answered <- c.ReplicationState() }()
	select {
	case got := <-answered:
		if got != consts.ReplicationPerformanceDisabled {
			t.Errorf("answer during the refresh %v; want the previous snapshot's", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a caller waited on another's refresh")
	}
	close(gate)
	if got := <-refreshed; got != consts.ReplicationPerformanceStandby {
		t.Errorf("refreshing caller got %v", got)
	}
	if got := c.ReplicationState(); got != consts.ReplicationPerformanceStandby {
		t.Errorf("after the refresh %v; want the new state", got)
	}
}
