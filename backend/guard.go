package backend

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// Every call Vault makes into the plugin recovers from a panic: the SDK's
// gRPC server does not, and one process serves every mount of the plugin,
// so a panic in one handler would end them all. The panic becomes an error
// (a 500 for a request), its stack is logged (paths.Env.Panicked), and the
// process keeps serving. Background work is guarded per task, so that one
// task's panic does not skip the others: each periodic task, each WAL
// entry's rollback, the rotation ticker (staticrole/rotation.go).

// passPanic, set by tests only (export_test.go), says which recovered
// panics are panicked again: a test that stops an operation at a step, as
// a killed process would, must see it stop, not answer a 500.
var passPanic func(v any) bool

// guard runs f; a panic in it becomes the error it returns.
func (b *Backend) guard(where string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if passPanic != nil && passPanic(v) {
				panic(v)
			}
			err = b.env.Panicked(where, v)
		}
	}()
	if b.hook != nil {
		b.hook(where)
	}
	return f()
}

// HandleRequest serves every request: paths, lease renew and revoke,
// Vault's periodic call and WAL rollback, the rotation manager's calls.
func (b *Backend) HandleRequest(ctx context.Context, req *logical.Request) (resp *logical.Response, err error) {
	where := "a request"
	if req != nil {
		where = string(req.Operation) + " " + req.Path
	}
	err = b.guard(where, func() error {
		var err error
		resp, err = b.Backend.HandleRequest(ctx, req)
		return err
	})
	return resp, err
}

// HandleExistenceCheck is the framework's, guarded.
func (b *Backend) HandleExistenceCheck(ctx context.Context, req *logical.Request) (checkFound, exists bool, err error) {
	where := "an existence check"
	if req != nil {
		where += " of " + req.Path
	}
	err = b.guard(where, func() error {
		var err error
		checkFound, exists, err = b.Backend.HandleExistenceCheck(ctx, req)
		return err
	})
	return checkFound, exists, err
}

// walRollback rolls back one WAL entry; a panic keeps the entry for the
// next try, and the others still roll back.
func (b *Backend) walRollback(ctx context.Context, req *logical.Request, kind string, data any) error {
	err := b.guard("WAL rollback", func() error { return b.env.WALRollback(ctx, req, kind, data) })
	b.env.RollbackDone(kind, data, err)
	return err
}

func (b *Backend) invalidate(ctx context.Context, key string) {
	_ = b.guard("invalidate", func() error {
		b.env.Invalidate(ctx, key)
		return nil
	})
}

// cleanupForgetWait bounds how long Cleanup waits for the records of
// revoked tokens to be deleted.
const cleanupForgetWait = time.Second

func (b *Backend) clean(context.Context) {
	_ = b.guard("cleanup", func() error {
		b.env.StopRotation()
		b.env.StopDevicePolling()
		// The records of tokens revoked just before are deleted while
		// the storage is there, for a moment at most: Vault holds its
		// router, and the SDK every mount of this process, during
		// Cleanup. Where storage cannot be written, not at all.
		d := cleanupForgetWait
		if b.env.EnsureWritable() != nil {
			d = 0
		}
		wait, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		b.env.StopForgets(wait)
		b.env.Reset()
		return nil
	})
}

func (b *Backend) initialize(ctx context.Context, req *logical.InitializationRequest) error {
	return b.guard("initialize", func() error {
		// Device authorizations a restart or a fail-over left pending are
		// polled for again, where storage can be written.
		prune := b.env.PruneStates(ctx, &logical.Request{Storage: req.Storage})
		return errors.Join(b.env.StartRotation(ctx, req.Storage), prune)
	})
}
