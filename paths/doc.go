// Package paths is the plugin's HTTP face: every path's schema and help,
// the parsing and checking of its fields, and the responses and errors a
// caller sees. A handler checks its request, asks the token lifecycle
// (package lifecycle; staticrole for static roles, rootkey for a config's
// own key, userauth for authorizations on their way) to act, and shapes
// the answer. One concern per file:
//
//	routes.go         every path and secret type of the mount
//	env.go            the face of one mount, over its lifecycle.Mount
//	config.go         config/:name, its list and revoke-all
//	config_fields.go  the config field table: schema, checks, reads
//	config_rotate.go  config/:name/rotate
//	config_key.go     private_key_jwt keys: generate_key, auth_style changes, config/:name/jwks
//	roles.go          roles/:name
//	role_grant.go     the fields roles and static roles share: one parser
//	role_narrowing.go a role's organizations and allow_narrowing
//	creds.go          creds/:role and its parameters: a lease's response and its TTL
//	secret.go         the lease type: renew and revoke
//	static_roles.go   static-roles/:name
//	static_creds.go   static-creds/:name and rotate-role/:name
//	authorize.go      authorize/:role
//	callback.go       the unauthenticated redirect target
//	metrics.go        metrics (Prometheus) and config/:name/status: this node's view
//	errors.go         errors mapped to HTTP statuses, once, at the edge
//	validate.go       URL, name and duration rules
package paths
