package lifecycle

import (
	"context"
	"strings"
	"sync"

	"github.com/hashicorp/vault/sdk/logical"
)

// Decoded storage entries that every creds read needs (its role, its
// config, the config's meta) are kept in memory, so a read costs no storage
// round trip to Vault for them. A cached entry never outlives a change: a
// write through this node drops it, and Vault calls Invalidate on every
// node for a write made elsewhere (a performance standby or secondary, a
// replicated cluster). A reader that loaded an entry just before a write
// does not put its stale copy back: each name has a generation that a drop
// bumps, and a load only fills the cache if the generation it started from
// is still current.
//
// That a name is absent is remembered too (a cdp config without a meta is
// read on every mint), but any caller may ask for any name, so those
// answers are bounded: at most maxAbsent names, each at most maxNameLength
// long, one forgotten at random to make room for the next.

type entryCache[T any] struct {
	prefix string
	mu     sync.RWMutex
	m      map[string]*T // nil value: known absent
	// absent are the names m holds as absent.
	absent map[string]struct{}
	gen    map[string]uint64
}

// maxAbsent bounds the absent names one cache remembers.
const maxAbsent = 1024

func newEntryCache[T any](prefix string) *entryCache[T] {
	return &entryCache[T]{prefix: prefix, m: map[string]*T{}, absent: map[string]struct{}{}, gen: map[string]uint64{}}
}

// load returns the entry of name, from memory or storage. The value is a
// copy the caller may change.
func (c *entryCache[T]) load(ctx context.Context, s logical.Storage, name, what string) (*T, error) {
	c.mu.RLock()
	v, ok := c.m[name]
	g := c.gen[name]
	c.mu.RUnlock()
	if !ok {
		var err error
		if v, err = GetJSON[T](ctx, s, c.prefix+name, what); err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.gen[name] == g {
			c.putLocked(name, v)
		}
		c.mu.Unlock()
	}
	if v == nil {
		return nil, nil
	}
	cp := *v
	return &cp, nil
}

// putLocked caches v (nil: absent) for name; the caller holds c.mu.
func (c *entryCache[T]) putLocked(name string, v *T) {
	if v != nil {
		c.m[name] = v
		delete(c.absent, name)
		return
	}
	if len(name) > MaxNameLength {
		// No entry can have this name (checkName); not worth memory.
		return
	}
	if _, ok := c.absent[name]; !ok && len(c.absent) >= maxAbsent {
		for old := range c.absent {
			delete(c.absent, old)
			delete(c.m, old)
			break
		}
	}
	c.m[name] = nil
	c.absent[name] = struct{}{}
}

// Drop forgets name: its entry was written or deleted.
func (c *entryCache[T]) Drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, name)
	delete(c.absent, name)
	c.gen[name]++
}

// invalidate drops the entry a storage key names, if it is one of c's.
func (c *entryCache[T]) invalidate(key string) {
	if name, ok := strings.CutPrefix(key, c.prefix); ok {
		c.Drop(name)
	}
}

// reset forgets everything.
func (c *entryCache[T]) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.m {
		c.gen[name]++
	}
	c.m = map[string]*T{}
	c.absent = map[string]struct{}{}
}
