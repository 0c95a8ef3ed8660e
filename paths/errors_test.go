package paths

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/lifecycle"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// TestRespondMapsEachErrorOnce: the one place errors become statuses.
func TestRespondMapsEachErrorOnce(t *testing.T) {
	upstream := &provider.Error{Op: "token request", Host: "idp.example.com", Status: 401, Code: "invalid_client"}
	cases := []struct {
		name   string
		err    error
		status int // 400 as an error response; else the coded status; 0 for the error itself (500)
	}{
		{"bad field", lifecycle.BadField("ttl", "must not be negative"), 400},
		{"user error", lifecycle.UserErr("role %q does not exist", "x"), 400},
		{"wrapped user error", fmt.Errorf("storing: %w", lifecycle.BadField("name", "too long")), 400},
		{"upstream", upstream, 502},
		{"wrapped upstream", fmt.Errorf("revoking upstream token of config %q: %w", "c", upstream), 502},
		{"user error about an upstream refusal", lifecycle.UserErr("verify: %s", upstream), 400},
		{"read-only", fmt.Errorf("storing: %w", logical.ErrReadOnly), -1},
		{"anything else", errors.New("storage is down"), 0},
	}
	for _, c := range cases {
		resp, err := respond(nil, c.err)
		switch c.status {
		case 400:
			if err != nil || resp == nil || !resp.IsError() || resp.Error().Error() != c.err.Error() {
				t.Errorf("%s: resp=%v err=%v, want a 400 response with the message", c.name, resp, err)
			}
		case 502:
			var coded logical.HTTPCodedError
			if !errors.As(err, &coded) || coded.Code() != 502 {
				t.Errorf("%s: err=%v, want a 502", c.name, err)
			}
		case -1:
			if err != logical.ErrReadOnly {
				t.Errorf("%s: err=%v, want logical.ErrReadOnly itself, so Vault forwards", c.name, err)
			}
		case 0:
			if err != c.err || resp != nil {
				t.Errorf("%s: resp=%v err=%v, want the error unchanged (500)", c.name, resp, err)
			}
		}
	}
	if resp, err := respond(&logical.Response{}, nil); err != nil || resp == nil {
		t.Error("success passes through")
	}
}
