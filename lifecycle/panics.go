package lifecycle

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"

	"github.com/hashicorp/vault/sdk/logical"
)

// A panic must not end the plugin process: the SDK's gRPC server does not
// recover, and one process serves every mount of the plugin
// (ServeMultiplex). Each entry point recovers (backend.go for Vault's calls,
// the rotation ticker here) and hands what it caught to Panicked.

// Panicked logs a recovered panic with its stack and returns the error the
// entry point where reports: a 500 for a request. The panic's value is
// logged only when it is the runtime's own error (a nil dereference, an
// index out of range), whose text holds no data; any other value may carry
// a secret, so only its type is logged. The stack holds function names,
// files and lines, and argument words, never the bytes behind them.
func (e *Mount) Panicked(where string, v any) error {
	e.Metrics.PanicRecovered()
	what := fmt.Sprintf("a value of type %T", v)
	if re, ok := v.(runtime.Error); ok {
		what = re.Error()
	}
	if e.Logger != nil {
		e.Logger.Error("recovered from a panic; the operation failed and the plugin keeps serving",
			"in", where, "panic", what, "stack", string(debug.Stack()))
	}
	return logical.CodedError(http.StatusInternalServerError,
		fmt.Sprintf("internal error in %s (a panic, recovered); the Vault server log has its stack", where))
}
