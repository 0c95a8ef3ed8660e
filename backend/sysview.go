package backend

import (
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// sysViewTTL bounds how old the answers of cachedSystemView may be.
const sysViewTTL = time.Second

// cachedSystemView answers the system view questions every creds read asks
// (can this node write? the mount's lease TTLs) from a snapshot at most a
// second old. For an external plugin each is a gRPC round trip to Vault:
// three of them cost a creds read about a third of what the plugin adds to
// a leased read. A tune or a replication change reaches the plugin within a
// second; meanwhile Vault's own forwarding of the operations marked for the
// active node, and storage refusing writes where it is read-only, still
// hold.
type cachedSystemView struct {
	logical.SystemView
	now func() time.Time

	mu  sync.Mutex
	at  time.Time
	cur *sysSnapshot
}

type sysSnapshot struct {
	defTTL, maxTTL time.Duration
	state          consts.ReplicationState
	local          bool
}

func (c *cachedSystemView) snapshot() sysSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || c.now().Sub(c.at) >= sysViewTTL {
		c.cur = &sysSnapshot{defTTL: c.SystemView.DefaultLeaseTTL(), maxTTL: c.SystemView.MaxLeaseTTL(),
			state: c.SystemView.ReplicationState(), local: c.SystemView.LocalMount()}
		c.at = c.now()
	}
	return *c.cur
}

// ReplicationState is what the framework checks on every request before
// calling an operation marked for the active node.
func (c *cachedSystemView) ReplicationState() consts.ReplicationState { return c.snapshot().state }

func (c *cachedSystemView) LocalMount() bool { return c.snapshot().local }

func (c *cachedSystemView) DefaultLeaseTTL() time.Duration { return c.snapshot().defTTL }

func (c *cachedSystemView) MaxLeaseTTL() time.Duration { return c.snapshot().maxTTL }

// writable is framework.Backend.WriteSafeReplicationState on the snapshot:
// the active node of a primary, or a local mount on a performance
// secondary.
func (c *cachedSystemView) writable() bool {
	s := c.snapshot()
	return (s.local || !s.state.HasState(consts.ReplicationPerformanceSecondary)) &&
		!s.state.HasState(consts.ReplicationDRSecondary) &&
		!s.state.HasState(consts.ReplicationPerformanceStandby)
}
