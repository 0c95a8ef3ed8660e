package staticrole

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// staticWrite is one write of a static role on its way to storage.
type staticWrite struct {
	name           string
	existing, role *lifecycle.StaticRole
	st             *staticToken
	entry          *logical.StorageEntry
	// dropAuthorization: a user authorization belongs to one config and
	// grant, and either changed.
	dropAuthorization bool
}

// WriteStaticRole stores static role name (role; existing is what was
// stored, or nil) and brings its token in line: a new config, grant or
// scopes rotate it at once, or wait for a user's authorization; otherwise
// the schedule follows the new rotation_period. limited: the upstream caps
// the tokens a user holds (cdp). A role that cannot mint stores nothing.
func (e *Statics) WriteStaticRole(ctx context.Context, s logical.Storage, name string, existing, role *lifecycle.StaticRole, limited bool) error {
	w, rotateNow, err := e.planStaticWrite(ctx, s, name, existing, role, limited)
	if err != nil {
		return err
	}
	userGrant := role.Grant() == provider.GrantAuthorizationCode
	switch {
	case rotateNow && userGrant && existing != nil && !w.dropAuthorization:
		// Same authorization, new scopes: the next token comes from it
		// now; the current one is served until then.
		if err := w.store(ctx, s); err != nil {
			return err
		}
		e.RotateOrRecord(ctx, s, name, role, w.st)
		return nil
	case rotateNow && userGrant:
		return e.awaitAuthorization(ctx, s, w)
	case rotateNow:
		// The first token (or one for the new config or scopes) is minted
		// before the role is stored: a role that cannot mint, or whose
		// rotation_period does not fit the token, stores nothing.
		if err := e.RotateStatic(ctx, s, name, role, RotationCheck{Entry: w.entry}); err != nil {
			return err
		}
		return e.dropIfChanged(ctx, s, w)
	default:
		return e.reschedule(ctx, s, w)
	}
}

// planStaticWrite says what writing role changes: whether the token must
// be replaced now (a new config, grant or scopes); otherwise the current
// token must fit the new periods.
func (e *Statics) planStaticWrite(ctx context.Context, s logical.Storage, name string, existing, role *lifecycle.StaticRole,
	limited bool) (*staticWrite, bool, error) {
	w := &staticWrite{name: name, existing: existing, role: role}
	changed := existing != nil && (existing.Config != role.Config || existing.Grant() != role.Grant())
	w.dropAuthorization = changed
	rotateNow := existing == nil || changed || strings.Join(existing.Scopes, " ") != strings.Join(role.Scopes, " ")
	var err error
	if w.st, err = e.LoadStaticToken(ctx, s, name); err != nil {
		return nil, false, err
	}
	if !rotateNow {
		if err := CheckRotationPeriod(role, w.st); err != nil {
			return nil, false, err
		}
		if err := CheckGracePeriod(role, w.st, limited); err != nil {
			return nil, false, err
		}
	}
	if w.entry, err = logical.StorageEntryJSON(lifecycle.StaticRolePrefix+name, role); err != nil {
		return nil, false, err
	}
	return w, rotateNow, nil
}

func (w *staticWrite) store(ctx context.Context, s logical.Storage) error {
	if err := s.Put(ctx, w.entry); err != nil {
		return fmt.Errorf("storing static role %q: %w", w.name, err)
	}
	return nil
}

// awaitAuthorization stores a role that has nothing to mint before a user
// authorizes it: the first token comes with the callback of
// authorize/<name>. The tokens of what it was are retired.
func (e *Statics) awaitAuthorization(ctx context.Context, s logical.Storage, w *staticWrite) error {
	if w.existing != nil {
		if err := e.RetireStatic(ctx, s, w.name, w.existing); err != nil {
			return err
		}
	}
	if err := w.store(ctx, s); err != nil {
		return err
	}
	return e.dropIfChanged(ctx, s, w)
}

func (e *Statics) dropIfChanged(ctx context.Context, s logical.Storage, w *staticWrite) error {
	if !w.dropAuthorization {
		return nil
	}
	return e.DropRoleToken(ctx, s, lifecycle.StaticHolder(w.name))
}

// reschedule stores a role whose token stays, and moves its next rotation
// to the new rotation_period.
func (e *Statics) reschedule(ctx context.Context, s logical.Storage, w *staticWrite) error {
	if err := w.store(ctx, s); err != nil {
		return err
	}
	if w.st == nil {
		// No token yet (an authorization_code role waiting for its user):
		// the first one is scheduled when it is minted.
		return nil
	}
	w.st.NextRotation = w.st.LastRotated.Add(w.role.Period(w.st.Lifetime()))
	return e.StoreStaticToken(ctx, s, w.name, w.st)
}
