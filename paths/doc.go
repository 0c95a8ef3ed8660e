// Package paths holds the plugin's HTTP paths and the lease logic behind
// them. One concern per file:
//
//	routes.go              every path and secret type of the mount
//	config.go              config/:name, its list and revoke-all
//	config_fields.go       the config field table: schema, checks, reads
//	config_rotate.go       config/:name/rotate: a config replaces its own key
//	root_schedule.go       automated rotation of that key: Vault's rotation
//	                       manager, or the periodic function on Community
//	roles.go               roles/:name
//	creds.go               creds/:role: minting a token for a lease
//	static_roles.go        static-roles/:name
//	static_creds.go        static-creds/:name and rotate-role/:name
//	rotation.go            the static roles' rotation schedule, grace periods, retries
//	mint.go                one token for one lease, WAL-covered
//	token_limit.go         where cdp max_tokens is enforced
//	held_tokens.go         records of the revocable tokens leases hold
//	lost_tokens.go         tokens a request whose answer was lost may have minted
//	lease.go               the token secret: TTLs, renew, revoke
//	issuer.go              who issued a token; revokes only go there
//	rollback.go            WAL rollback of tokens never leased
//	authorize.go           authorize/:role, pending states and their pruning
//	callback.go            the unauthenticated redirect target
//	user_authorization.go  a role's refresh token: storage and refresh
//	password_expiry.go     cdp integration-user password expiry warnings
//	replication.go         which node may act upstream
//	errors.go              errors mapped to statuses, once, at the edge
//	panics.go              a recovered panic: its stack logged, a 500
//	storage.go             every storage prefix; seal-wrapped and local ones
//	validate.go            URL, name and duration rules
//	cache.go               roles, configs and metas kept in memory, exactly
//	env.go                 the mount's shared state, locks and client cache
package paths
