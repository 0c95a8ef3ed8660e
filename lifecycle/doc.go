// Package lifecycle is the token lifecycle of one mount (Mount): the
// upstream accounts, minting a token for a lease or a static role under a
// WAL entry, renew and revoke at the token's issuer, the records of the
// revocable tokens leases hold and the CDP token limit, tokens a lost
// answer may have minted, and WAL rollback. The static roles' rotation is
// package staticrole's, a config's own key rotation package rootkey's. It
// knows Vault's storage and requests, but no path schema or field: the
// HTTP face (package paths) parses those. One concern per file:
//
//	env.go                 the mount's shared state, its locks and client cache
//	storage.go             every storage prefix; seal-wrapped and local ones
//	cache.go               roles, configs and metas kept in memory, exactly
//	accounts.go            a config entry: load, store, the issuer guard
//	role_entries.go        role and static role entries and their checks
//	issuer.go              who issued a token; revokes only go there
//	creds.go               the token of one lease: mint, TTLs, its internal data
//	narrowing.go           the scopes a creds read asks for, checked against its role
//	mint.go                one token for one lease or static role, WAL-covered
//	token_limit.go         where cdp max_tokens is enforced
//	held_tokens.go         records of the revocable tokens leases hold
//	lost_tokens.go         tokens a request whose answer was lost may have minted
//	lease_ttl.go           a lease's TTLs, for a creds read and each renew
//	lease.go               a lease's renew and revoke
//	revoke.go              revoke at the issuer
//	user_authorization.go  a role's user authorization: code exchange, refresh token, refresh
//	password_expiry.go     cdp integration-user password expiry warnings
//	rollback.go            WAL rollback of tokens never leased; the WAL decoder
//	log_once.go            log lines said once a day
//	replication.go         which node may act upstream
//	user_errors.go         the 400 a caller can fix
//	panics.go              a recovered panic: its stack logged, a 500
//	metrics.go             the hooks that count the mount's work (internal/metrics)
//	unreadable.go          storage entries that cannot be decoded
package lifecycle
