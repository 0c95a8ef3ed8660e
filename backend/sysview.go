package backend

import (
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// sysViewTTL is the age at which a snapshot is refreshed.
const sysViewTTL = time.Second

// cachedSystemView answers the system view questions asked on every
// request (the framework's replication check before an operation marked
// for the active node; the plugin's own "can this node write"; the mount's
// lease TTLs) from a snapshot refreshed in the background once it is a
// second old. For an external plugin each is a gRPC round trip to Vault.
//
// Staleness is bounded by what Vault does around a replication change: it
// tears the mount down and sets it up again, and a new mount starts with
// no snapshot. A tune reaches the plugin a second later, on the request
// after the one that starts the refresh. A state Vault could not be asked
// for (the gRPC client answers ReplicationUnknown on an error; Vault itself
// never stores it) is used for that request only and asked again on the
// next, as the framework would. Storage refusing writes where it is
// read-only still holds whatever the snapshot says, and every upstream
// create is preceded by a WAL write.
type cachedSystemView struct {
	logical.SystemView
	now func() time.Time

	mu         sync.Mutex
	at         time.Time
	cur        *sysSnapshot
	refreshing bool
}

type sysSnapshot struct {
	defTTL, maxTTL time.Duration
	state          consts.ReplicationState
	local          bool
}

// snapshot returns the current answers. A stale snapshot is still
// returned while one refresh runs in the background, so no request waits
// on the four gRPC calls of a refresh; only the first ask of a mount (or
// the one after an unknown answer) does.
func (c *cachedSystemView) snapshot() sysSnapshot {
	c.mu.Lock()
	if c.cur != nil {
		s := *c.cur
		if c.now().Sub(c.at) >= sysViewTTL && !c.refreshing {
			c.refreshing = true
			go c.refresh()
		}
		c.mu.Unlock()
		return s
	}
	c.mu.Unlock()
	return c.refresh()
}

// refresh asks Vault and keeps the answers unless the state is unknown.
func (c *cachedSystemView) refresh() sysSnapshot {
	s := &sysSnapshot{defTTL: c.SystemView.DefaultLeaseTTL(), maxTTL: c.SystemView.MaxLeaseTTL(),
		state: c.SystemView.ReplicationState(), local: c.SystemView.LocalMount()}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if s.state == consts.ReplicationUnknown {
		c.cur = nil // ask again next time
		return *s
	}
	c.cur, c.at = s, c.now()
	return *s
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
