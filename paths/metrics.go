package paths

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/metrics"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/rootkey"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/userauth"
)

// metrics and config/:name/status answer for this node: neither is
// forwarded (a read runs where it arrives), and neither calls upstream.
// Counters are the node's own (lifecycle.Mount.Metrics); gauges of what
// storage holds are read from storage here, so a standby shows them too.

func (e *Env) metricsPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "metrics$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationVerb: "read", OperationSuffix: "metrics"},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: edge(e.metricsRead),
					Summary:  "This node's metrics of the mount, in Prometheus' text format.",
					Responses: map[int][]framework.Response{200: {{
						Description: "Prometheus text exposition format (" + metrics.ContentType + ").",
						MediaType:   "text/plain",
					}}},
				},
			},
			HelpSynopsis: "Prometheus metrics of this mount on this node.",
			HelpDescription: `Answers in Prometheus' text format (text/plain; version=0.0.4): upstream
requests by operation and outcome with their latency, tokens minted, renewed
and revoked, revokes that failed, CDP tokens held against max_tokens, static
role rotations and their schedule, WAL rollbacks, pending authorizations and
recovered panics. Counters are this node's, since the mount started on it.
Labels hold provider, config, role, operation and outcome names: never a
secret or a token. Needs a Vault token with read on this path.`,
		},
		{
			Pattern:      lifecycle.ConfigPrefix + framework.GenericNameRegex("name") + "/status$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "acquia", OperationVerb: "read", OperationSuffix: "config-status"},
			Fields: map[string]*framework.FieldSchema{
				"name": {Type: framework.TypeString, Required: true, Description: "Name of the config."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: edge(e.configStatus),
					Summary:  "How a config's upstream is doing: last success and failure, limits, key and static roles.",
					Responses: map[int][]framework.Response{200: {{
						Description: "The config's status.",
						Fields:      statusFields(),
					}}},
				},
			},
			HelpSynopsis: "The health of a config's upstream account; never a secret.",
			HelpDescription: `Shows the issuer (token endpoint), this node's last successful and last failed
upstream call of the config since the mount started here (time, operation,
HTTP status and upstream error code), for cdp the tokens held against
max_tokens, for cloud the API key's age and next scheduled rotate-root, and
the config's static roles with their next rotation and last error.`,
		},
	}
}

func statusFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"provider":         {Type: framework.TypeString, Description: "The config's provider."},
		"issuer":           {Type: framework.TypeString, Description: "The token endpoint tokens come from."},
		"last_success":     {Type: framework.TypeMap, Description: "This node's last successful upstream call: time, operation, status; null if none since the mount started here."},
		"last_failure":     {Type: framework.TypeMap, Description: "This node's last failed upstream call: time, operation, outcome, status (0 without an answer), code; null if none."},
		"held_tokens":      {Type: framework.TypeInt, Description: "cdp: live upstream tokens the plugin holds for the config."},
		"max_tokens":       {Type: framework.TypeInt, Description: "cdp: the config's max_tokens."},
		"key_age":          {Type: framework.TypeInt, Description: "cloud: seconds since the API key was written or rotated."},
		"key_last_rotated": {Type: framework.TypeString, Description: "cloud: when the API key was written or rotated, RFC 3339."},
		"next_rotate_root": {Type: framework.TypeString, Description: "cloud: when the plugin next rotates the key (rotation_period), RFC 3339; empty when it does not."},
		"rotate_root_by":   {Type: framework.TypeString, Description: "cloud: who rotates the key: plugin (rotation_period), vault (Vault's rotation manager) or none."},
		"static_roles":     {Type: framework.TypeMap, Description: "The config's static roles: next_rotation, last_rotated, last_error, last_error_at, failures."},
	}
}

func (e *Env) metricsRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if err := e.refreshGauges(ctx, req.Storage); err != nil {
		return nil, err
	}
	body, err := e.Metrics.Bytes()
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		logical.HTTPContentType: metrics.ContentType,
		logical.HTTPRawBody:     body,
		logical.HTTPStatusCode:  http.StatusOK,
	}}, nil
}

// refreshGauges sets the gauges of what storage holds: CDP tokens held,
// pending authorizations, static roles' schedules.
func (e *Env) refreshGauges(ctx context.Context, s logical.Storage) error {
	providers, pending, err := e.configGauges(ctx, s)
	if err != nil {
		return err
	}
	if err := e.pendingGauges(ctx, s, providers, pending); err != nil {
		return err
	}
	return e.staticGauges(ctx, s, providers)
}

// configGauges sets each CDP config's held tokens against max_tokens, and
// returns every config's provider and a zero pending count for each that
// takes user authorizations.
func (e *Env) configGauges(ctx context.Context, s logical.Storage) (map[string]string, map[string]int, error) {
	names, err := s.List(ctx, lifecycle.ConfigPrefix)
	if err != nil {
		return nil, nil, err
	}
	providers := map[string]string{}
	pending := map[string]int{}
	for _, name := range names {
		cfg, err := e.LoadConfig(ctx, s, name)
		if err != nil || cfg == nil {
			continue // unknown provider, or gone since the list
		}
		providers[name] = cfg.Provider
		spec, _ := provider.Lookup(cfg.Provider)
		if spec.AllowsGrant(provider.GrantAuthorizationCode) {
			pending[name] = 0
		}
		if !spec.TokenLimit {
			continue
		}
		eff, err := provider.Effective(cfg.Config)
		if err != nil {
			continue
		}
		live, err := e.LiveHeld(ctx, s, name, false)
		if err != nil {
			return nil, nil, err
		}
		e.Metrics.HeldTokens(cfg.Provider, name, len(live), eff.MaxTokens)
	}
	return providers, pending, nil
}

// pendingGauges counts the authorizations still waiting for their
// callback, per config.
func (e *Env) pendingGauges(ctx context.Context, s logical.Storage, providers map[string]string, pending map[string]int) error {
	states, err := s.List(ctx, lifecycle.StatePrefix)
	if err != nil {
		return err
	}
	now := e.Now()
	for _, k := range states {
		p, err := lifecycle.GetJSON[userauth.PendingAuth](ctx, s, lifecycle.StatePrefix+k, "authorization state")
		if err == nil && p != nil && now.Before(p.ExpiresAt) {
			if _, ok := pending[p.Config]; ok {
				pending[p.Config]++
			}
		}
	}
	for config, n := range pending {
		e.Metrics.PendingAuthorizations(providers[config], config, n)
	}
	return nil
}

// staticGauges sets each static role's rotation schedule.
func (e *Env) staticGauges(ctx context.Context, s logical.Storage, providers map[string]string) error {
	statics, err := s.List(ctx, lifecycle.StaticRolePrefix)
	if err != nil {
		return err
	}
	for _, name := range statics {
		role, err := e.LoadStaticRole(ctx, s, name)
		if err != nil || role == nil || providers[role.Config] == "" {
			continue
		}
		st, err := e.LoadStaticToken(ctx, s, name)
		if err != nil {
			continue
		}
		if st == nil {
			e.Metrics.StaticRole(providers[role.Config], role.Config, name, role.RotationPeriod, time.Time{}, time.Time{})
			continue
		}
		e.Metrics.StaticRole(providers[role.Config], role.Config, name, role.Period(st.Lifetime()), st.LastRotated, st.NextRotation)
	}
	return nil
}

// call is a metrics.Call as the status path shows it; nil (null) for none.
func call(c *metrics.Call, failure bool) any {
	if c == nil {
		return nil
	}
	out := map[string]any{
		"time":      c.At.UTC().Format(time.RFC3339),
		"operation": c.Operation,
		"status":    c.Status,
	}
	if failure {
		out["outcome"] = c.Outcome
		out["code"] = c.Code
	}
	return out
}

func (e *Env) configStatus(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	cfg, err := e.LoadConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, nil // 404, as a read of a config that does not exist
	}
	eff, err := provider.Effective(cfg.Config)
	if err != nil {
		return nil, err
	}
	issuer := eff.TokenURL
	if issuer == "" {
		issuer = eff.BaseURL
	}
	success, failure := e.Metrics.LastCalls(name)
	data := map[string]any{
		"provider":     cfg.Provider,
		"issuer":       issuer,
		"last_success": call(success, false),
		"last_failure": call(failure, true),
	}
	spec, _ := provider.Lookup(cfg.Provider)
	if spec.TokenLimit {
		live, err := e.LiveHeld(ctx, req.Storage, name, false)
		if err != nil {
			return nil, err
		}
		data["held_tokens"], data["max_tokens"] = len(live), eff.MaxTokens
	}
	if rootkey.TakesRotation(cfg.Provider) {
		since := cfg.LastRotated
		if since.IsZero() {
			since = cfg.UpdatedAt
		}
		data["key_age"] = int64(e.Now().Sub(since).Seconds())
		data["key_last_rotated"] = since.UTC().Format(time.RFC3339)
		data["next_rotate_root"], data["rotate_root_by"] = "", "none"
		if next, ok := e.Keys.NextRotation(name, cfg); ok {
			data["next_rotate_root"], data["rotate_root_by"] = next.UTC().Format(time.RFC3339), "plugin"
		} else if cfg.RotationManaged {
			data["rotate_root_by"] = "vault"
		}
	}
	statics, err := e.StaticRolesUsing(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	sort.Strings(statics)
	roles := map[string]any{}
	for _, sr := range statics {
		st, err := e.LoadStaticToken(ctx, req.Storage, sr)
		if err != nil {
			return nil, err
		}
		r := map[string]any{"next_rotation": "", "last_rotated": "", "last_error": "", "last_error_at": "", "failures": 0}
		if st != nil {
			r["next_rotation"] = rfc3339(st.NextRotation)
			r["last_rotated"] = rfc3339(st.LastRotated)
			r["last_error"] = st.LastError
			r["last_error_at"] = rfc3339(st.LastErrorAt)
			r["failures"] = st.Failures
		}
		roles[sr] = r
	}
	data["static_roles"] = roles
	return &logical.Response{Data: data}, nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
