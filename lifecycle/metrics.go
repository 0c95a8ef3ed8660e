package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/metrics"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// What the mount's metrics (Mount.Metrics, internal/metrics) hear from the
// lifecycle: each hook is one call where the work happens. Upstream
// calls are counted by the clients themselves (ClientOptions); tokens
// minted, renewed and revoked, static rotations, rollbacks and panics
// here. Gauges of what storage holds (held tokens, static schedules,
// pending authorizations) are read from storage at scrape time (the
// metrics path), so they never drift and a standby shows them too.

// ClientOptions are the options of a client of config (of provider
// providerName): its upstream calls are counted under those labels.
func (e *Mount) ClientOptions(providerName, config string) provider.Options {
	o := provider.Options{Logger: e.Logger.Named("upstream"), Now: e.Now}
	if up := e.Metrics.Upstream(providerName, config); up != nil {
		o.Metrics = up
	}
	return o
}

// UpstreamOf is the recorder a client was built with (ClientOptions); nil,
// which counts nothing, for a client built without one.
func UpstreamOf(client any) *metrics.Upstream {
	up, _ := provider.RecorderOf(client).(*metrics.Upstream)
	return up
}

// countMinted wraps a mint's obtain so that each token it yields counts.
func countMinted(client any, obtain func(context.Context) (*provider.Token, error)) func(context.Context) (*provider.Token, error) {
	return func(ctx context.Context) (*provider.Token, error) {
		tok, err := obtain(ctx)
		if err == nil && tok != nil {
			UpstreamOf(client).Minted()
		}
		return tok, err
	}
}

// countRevoke counts one revocation at the issuer by client: done (or the
// token not revocable, which ends the revoke too) or failed.
func countRevoke(client any, err error) {
	if err == nil || provider.NotRevocable(err) {
		UpstreamOf(client).Revoked()
		return
	}
	UpstreamOf(client).RevokeFailed()
}

// renewed counts a lease renewed.
func (e *Mount) renewed(secret *logical.Secret) {
	p, _ := secret.InternalData[IDProvider].(string)
	c, _ := secret.InternalData[IDConfig].(string)
	e.Metrics.Renewed(p, c)
}

// UpstreamStatus is the HTTP status and upstream error code err carries,
// for log lines an operator alerts on: 0 and "" when no answer came.
func UpstreamStatus(err error) (status int, code string) {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe.Status, pe.Code
	}
	return 0, ""
}

// rollbackRetry is how often Vault's rollback manager runs on the active
// node: a failed rollback is tried again about this much later.
const rollbackRetry = time.Minute

// RollbackDone counts the rollback of a WAL entry of kind, and logs a
// failed one, naming its config and role, at warn level: Vault's own logs
// and audit do not show the plugin's background work. A node that cannot
// write leaves the entry to the one that can: neither.
func (e *Mount) RollbackDone(kind string, data any, err error) {
	if errors.Is(err, logical.ErrReadOnly) {
		return
	}
	if err == nil {
		e.Metrics.Rollback(kind, metrics.OutcomeOK)
		return
	}
	e.Metrics.Rollback(kind, metrics.OutcomeFailed)
	var names struct {
		Config string `json:"config"`
		Role   string `json:"role"`
		Static string `json:"static"`
	}
	if raw, merr := json.Marshal(data); merr == nil {
		_ = json.Unmarshal(raw, &names)
	}
	status, code := UpstreamStatus(err)
	e.Logger.Warn("WAL rollback failed; the entry is kept and tried again", "kind", kind, "config", names.Config,
		"role", names.Role, "static_role", names.Static, "status", status, "code", code,
		"next_try", e.Now().Add(rollbackRetry).UTC().Format(time.RFC3339), "error", err)
}
