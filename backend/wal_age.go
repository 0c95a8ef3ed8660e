package backend

import (
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
)

// WALRollbackMinAgeEnv names the environment variable that sets how old a
// WAL entry must be before Vault's rollback acts on it (Vault's default,
// ten minutes, when unset). It is for crash tests, which cannot wait ten
// minutes; set it with `vault plugin register -env`. A WAL entry lives as
// long as one token request (request_timeout, at most 5m, plus storage
// writes), so a shorter age than the longest request_timeout could roll
// back a token a request is still about to lease.
const WALRollbackMinAgeEnv = "ACQUIA_WAL_ROLLBACK_MIN_AGE"

// walRollbackMinAge is the rollback's minimum WAL age: 0 (Vault's default)
// unless the environment sets a valid positive duration.
func walRollbackMinAge(log hclog.Logger) time.Duration {
	raw := os.Getenv(WALRollbackMinAgeEnv)
	if raw == "" {
		return 0
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		if log != nil {
			log.Warn("ignoring "+WALRollbackMinAgeEnv+": not a positive duration", "value", raw)
		}
		return 0
	}
	if log != nil {
		log.Warn("WAL entries roll back after "+d.String()+" instead of 10m ("+WALRollbackMinAgeEnv+
			"); meant for tests: keep it above every config's request_timeout", "min_age", d)
	}
	return d
}
