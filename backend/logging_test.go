package backend_test

import (
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// Config changes are one info line each; upstream calls are debug lines
// with method, host, path, status and duration, and never a header, a query
// or a body.
func TestLogLines(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/r", map[string]any{"config": "c"})
	h.MustRead("creds/r")

	logs := h.Logs.String()
	var written, calls []string
	for _, line := range strings.Split(logs, "\n") {
		switch {
		case strings.Contains(line, "config written"):
			written = append(written, line)
		case strings.Contains(line, "upstream call"):
			calls = append(calls, line)
		}
	}
	if len(written) != 1 || !strings.Contains(written[0], "[INFO]") || !strings.Contains(written[0], "config=c") {
		t.Errorf("config write logged as %q", written)
	}
	// verify: a token and the account check; creds: a token.
	if len(calls) != 3 {
		t.Fatalf("%d upstream call lines, want 3:\n%s", len(calls), logs)
	}
	for _, l := range calls {
		wants := []string{"[DEBUG]", "method=POST", "host=127.0.0.1:", "path=/api/auth/oauth/token", "status=200", "duration="}
		if strings.Contains(l, "/api/account") {
			// The harness's key is federated: the account check answers 403.
			wants = []string{"[DEBUG]", "method=GET", "host=127.0.0.1:", "path=/api/account", "status=403", "duration="}
		}
		for _, want := range wants {
			if !strings.Contains(l, want) {
				t.Errorf("upstream call line lacks %q: %s", want, l)
			}
		}
		for _, never := range []string{"Authorization", "Bearer", "grant_type", "client_id=" + plugintest.CloudID, "?"} {
			if strings.Contains(l, never) {
				t.Errorf("upstream call line holds %q: %s", never, l)
			}
		}
	}
}
