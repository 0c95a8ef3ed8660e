package rootkey

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
	"github.com/hashicorp/vault/sdk/helper/automatedrotationutil"
	"github.com/hashicorp/vault/sdk/logical"
	sdkrotation "github.com/hashicorp/vault/sdk/rotation"
)

// Automated rotation of a config's own credential (rotate-root, cloud).
// Where Vault has a rotation manager (Enterprise) the config is registered
// with it, and it calls RotateCredential when a rotation is due. Vault
// Community has none: RegisterRotationJob answers
// ErrRotationManagerUnsupported, and the plugin's periodic function runs
// rotation_period itself (RotateRootsDue), on the node that can write.
// rotation_schedule and rotation_policy need the rotation manager.

// rotationJobPath is the path a config's rotation job is registered
// under; the rotation manager hands it back in RotateCredential.
func rotationJobPath(name string) string { return lifecycle.ConfigPrefix + name }

// rotationManagerUnsupported reports whether err is Vault Community's
// answer to a rotation manager call. Across the plugin's gRPC connection
// only the text of the error survives, so the text is compared too.
func rotationManagerUnsupported(err error) bool {
	return err != nil && (errors.Is(err, automatedrotationutil.ErrRotationManagerUnsupported) ||
		strings.Contains(err.Error(), automatedrotationutil.ErrRotationManagerUnsupported.Error()))
}

// ScheduleRootRotation hands cfg's automated rotation settings, just
// written, to Vault's rotation manager, or leaves them to the plugin where
// Vault has none; it sets cfg.RotationManaged accordingly. Called before
// entry is stored, so a refusal stores nothing.
func (e *Rotator) ScheduleRootRotation(ctx context.Context, req *logical.Request, name string, existing, cfg *lifecycle.ConfigEntry) error {
	p := &cfg.Rotation
	if p.ShouldDeregisterRotationJob() {
		cfg.RotationManaged = false
		if existing != nil && existing.RotationManaged {
			return e.UnscheduleRootRotation(ctx, req, name)
		}
		return nil
	}
	_, err := e.System().RegisterRotationJob(ctx, &sdkrotation.RotationJobConfigureRequest{
		Name:             name,
		MountPoint:       req.MountPoint,
		ReqPath:          rotationJobPath(name),
		RotationSchedule: p.RotationSchedule,
		RotationWindow:   p.RotationWindow,
		RotationPeriod:   p.RotationPeriod,
		RotationPolicy:   p.RotationPolicy,
	})
	switch {
	case err == nil:
		cfg.RotationManaged = true
		return nil
	case !rotationManagerUnsupported(err):
		return fmt.Errorf("registering the rotation of config %q with Vault's rotation manager: %w", name, err)
	}
	cfg.RotationManaged = false
	for _, f := range []struct{ name, value string }{{"rotation_schedule", p.RotationSchedule}, {"rotation_policy", p.RotationPolicy}} {
		if f.value != "" {
			return lifecycle.BadField(f.name, "needs Vault's rotation manager, which this Vault does not have (Vault Community); "+
				"use rotation_period, which the plugin runs itself")
		}
	}
	if existing != nil && existing.RotationManaged {
		// Registered once on a Vault that had a rotation manager.
		return e.UnscheduleRootRotation(ctx, req, name)
	}
	return nil
}

// UnscheduleRootRotation removes a config's job from Vault's rotation
// manager. Vault Community has none to remove it from.
func (e *Rotator) UnscheduleRootRotation(ctx context.Context, req *logical.Request, name string) error {
	err := e.System().DeregisterRotationJob(ctx, &sdkrotation.RotationJobDeregisterRequest{
		MountPoint: req.MountPoint,
		ReqPath:    rotationJobPath(name),
	})
	if err != nil && !rotationManagerUnsupported(err) {
		return fmt.Errorf("removing the rotation of config %q from Vault's rotation manager: %w", name, err)
	}
	return nil
}

// RotateCredential is the rotation manager's call (framework.Backend's
// RotateCredential): the rotation of the config at req.Path is due. An
// error makes the rotation manager try again.
func (e *Rotator) RotateCredential(ctx context.Context, req *logical.Request) error {
	name, ok := strings.CutPrefix(strings.TrimSuffix(req.Path, "/rotate"), lifecycle.ConfigPrefix)
	if !ok || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("rotation requested for %q, which is not a config", req.Path)
	}
	if err := e.EnsureWritable(); err != nil {
		return err
	}
	r, err := e.RotateRoot(ctx, req.Storage, name, nil)
	var ue *lifecycle.UserError
	if errors.As(err, &ue) {
		// The config is gone or changed provider: nothing to retry.
		e.Logger.Warn("automated rotation skipped", "config", name, "reason", err)
		return nil
	}
	if err != nil {
		status, code := lifecycle.UpstreamStatus(err)
		e.Logger.Warn("automated rotation of the config's API key failed", "config", name, "status", status,
			"code", code, "next_try", "when Vault's rotation manager retries", "error", err)
		return err
	}
	e.LogRotation(name, r, "rotation manager")
	return nil
}

// Retry policy of the plugin's own rotations: a failed one is tried again
// after rootRetryMin, doubling up to rootRetryMax.
const (
	rootRetryMin = time.Minute
	rootRetryMax = time.Hour
)

type rootFailure struct {
	count int
	next  time.Time
}

// rootRotationDue is when the plugin itself should next rotate cfg's key,
// and false when it should not: no rotation_period, rotation paused, or
// Vault's rotation manager in charge.
func rootRotationDue(cfg *lifecycle.ConfigEntry) (time.Time, bool) {
	p := cfg.Rotation
	if cfg.RotationManaged || p.DisableAutomatedRotation || p.RotationPeriod <= 0 || !TakesRotation(cfg.Provider) {
		return time.Time{}, false
	}
	since := cfg.LastRotated
	if since.IsZero() {
		since = cfg.UpdatedAt
	}
	return since.Add(p.RotationPeriod), true
}

// RotateRootsDue rotates the key of every config whose rotation_period has
// passed since its last rotation and that Vault's rotation manager does
// not rotate (Vault Community). Called from the periodic function; it does
// nothing where this node cannot write.
func (e *Rotator) RotateRootsDue(ctx context.Context, s logical.Storage) {
	if e.EnsureWritable() != nil {
		return
	}
	names, err := s.List(ctx, lifecycle.ConfigPrefix)
	if err != nil {
		e.Logger.Error("listing configs for automated rotation", "error", err)
		return
	}
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			continue
		}
		cfg, err := e.LoadConfig(ctx, s, name)
		if err != nil || cfg == nil {
			continue
		}
		now := e.Now()
		if due, ok := rootRotationDue(cfg); !ok || now.Before(due) || e.rootBackingOff(name, now) {
			continue
		}
		// Checked again under the config's lock: a rotate or write may
		// have come first.
		r, err := e.RotateRoot(ctx, s, name, func(c *lifecycle.ConfigEntry) bool {
			due, ok := rootRotationDue(c)
			return ok && !now.Before(due)
		})
		if err != nil {
			retry := e.rootFailed(name, now)
			status, code := lifecycle.UpstreamStatus(err)
			e.Logger.Warn("automated rotation of the config's API key failed", "config", name, "status", status,
				"code", code, "next_try", retry.UTC().Format(time.RFC3339), "error", err)
			continue
		}
		e.rootSucceeded(name)
		if r != nil {
			e.LogRotation(name, r, "rotation_period")
		}
	}
}

func (e *Rotator) rootBackingOff(name string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.failures[name]
	return ok && now.Before(f.next)
}

// rootFailed records a failed rotation and returns when to try again.
func (e *Rotator) rootFailed(name string, now time.Time) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.failures[name]
	f.count++
	wait := rootRetryMax
	if f.count <= 6 {
		wait = min(rootRetryMin<<(f.count-1), rootRetryMax)
	}
	f.next = now.Add(wait)
	e.failures[name] = f
	return f.next
}

func (e *Rotator) rootSucceeded(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.failures, name)
}

// TakesRotation reports whether configs of provider take the automated
// rotation fields.
func TakesRotation(providerName string) bool {
	spec, ok := provider.Lookup(providerName)
	return ok && spec.Takes("rotation_period")
}

// NextRotation is when the plugin itself next rotates cfg's key (its
// rotation_period, or the retry after a failure), and false when it does
// not: no rotation_period, rotation paused, or Vault's rotation manager in
// charge. config/:name/status shows it.
func (e *Rotator) NextRotation(name string, cfg *lifecycle.ConfigEntry) (time.Time, bool) {
	due, ok := rootRotationDue(cfg)
	if !ok {
		return time.Time{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if f, failed := e.failures[name]; failed && f.next.After(due) {
		return f.next, true
	}
	return due, true
}
