package backend

import (
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// sysViewTTL is the age at which a snapshot is refreshed, in the
// background while it is younger than sysViewMaxStale, before the answer
// beyond it.
const (
	sysViewTTL      = time.Second
	sysViewMaxStale = 5 * time.Second
)

// cachedSystemView answers the system view questions asked on every
// request (the framework's replication check before an operation marked
// for the active node; the plugin's own "can this node write"; the mount's
// lease TTLs) from a snapshot. For an external plugin each question is a
// gRPC round trip to Vault.
//
// A snapshot a second old is refreshed in the background: the request that
// notices, and those during the refresh, get the one there is. Past five
// seconds (a mount idle that long, or a refresh that hangs), the request
// asks Vault itself. Staleness is bounded by what Vault does around a
// replication change too: it tears the mount down and sets it up again,
// and a new mount starts with no snapshot. A state Vault could not be
// asked for (the gRPC client answers ReplicationUnknown on an error; Vault
// itself never stores it) is used for that request only and asked again on
// the next, as the framework would. Storage refusing writes where it is
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

// snapshot returns the current answers.
func (c *cachedSystemView) snapshot() sysSnapshot {
	c.mu.Lock()
	if c.cur != nil {
		age := c.now().Sub(c.at)
		if age < sysViewMaxStale {
			s := *c.cur
			if age >= sysViewTTL && !c.refreshing {
				c.refreshing = true
				go c.refresh(true)
			}
			c.mu.Unlock()
			return s
		}
	}
	c.mu.Unlock()
	return c.refresh(false)
}

// refresh asks Vault and keeps the answers unless the state is unknown or
// a later answer is already kept. Only the background refresh clears
// refreshing, so that one runs at a time.
func (c *cachedSystemView) refresh(background bool) sysSnapshot {
	asked := c.now()
	s := &sysSnapshot{defTTL: c.SystemView.DefaultLeaseTTL(), maxTTL: c.SystemView.MaxLeaseTTL(),
		state: c.SystemView.ReplicationState(), local: c.SystemView.LocalMount()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if background {
		c.refreshing = false
	}
	switch {
	case s.state == consts.ReplicationUnknown:
		c.cur = nil // ask again next time
	case c.cur == nil || !asked.Before(c.at):
		c.cur, c.at = s, asked
	}
	return *s
}

// ReplicationState is what the framework checks on every request before
// calling an operation marked for the active node.
func (c *cachedSystemView) ReplicationState() consts.ReplicationState { return c.snapshot().state }

func (c *cachedSystemView) LocalMount() bool { return c.snapshot().local }

func (c *cachedSystemView) DefaultLeaseTTL() time.Duration { return c.snapshot().defTTL }

func (c *cachedSystemView) MaxLeaseTTL() time.Duration { return c.snapshot().maxTTL }
