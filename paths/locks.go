package paths

import (
	"sync"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
)

func locksFor(locks []*locksutil.LockEntry, key string) *sync.RWMutex {
	return &locksutil.LockForKey(locks, key).RWMutex
}
