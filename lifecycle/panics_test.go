package lifecycle

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/testutil"
)

// TestPanickedLogsTheStackNotTheValue: a recovered panic is a 500 and a
// log line with its stack; a value other than the runtime's own error may
// carry a secret, so only its type is logged.
func TestPanickedLogsTheStackNotTheValue(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	e := NewMount(hclog.New(&hclog.LoggerOptions{Output: logs}), nil)
	err := e.Panicked("read creds/r", "token s3cr3t-value")
	var coded interface{ Code() int }
	if !errors.As(err, &coded) || coded.Code() != 500 || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error %v, want a 500 without the panic's value", err)
	}
	out := logs.String()
	if strings.Contains(out, "s3cr3t") || !strings.Contains(out, "a value of type string") ||
		!strings.Contains(out, "TestPanickedLogsTheStackNotTheValue") {
		t.Errorf("log: %s", out)
	}
	func() {
		defer func() { _ = e.Panicked("a test", recover()) }()
		var s []int
		at := func() int { return 3 }()
		_ = s[at]
	}()
	if !strings.Contains(logs.String(), "index out of range [3] with length 0") {
		t.Errorf("a runtime error's text is not logged: %s", logs.String())
	}
}
