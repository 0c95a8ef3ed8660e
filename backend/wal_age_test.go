package backend

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestWALRollbackMinAge(t *testing.T) {
	for raw, want := range map[string]time.Duration{"": 0, "20s": 20 * time.Second, "-1s": 0, "0s": 0, "soon": 0} {
		t.Setenv(WALRollbackMinAgeEnv, raw)
		if got := walRollbackMinAge(nil); got != want {
			t.Errorf("%s=%q: %s, want %s", WALRollbackMinAgeEnv, raw, got, want)
		}
	}
	t.Setenv(WALRollbackMinAgeEnv, "15s")
	if b := New(logical.TestBackendConfig()); b.WALRollbackMinAge != 15*time.Second {
		t.Errorf("the backend's WALRollbackMinAge is %s", b.WALRollbackMinAge)
	}
}
