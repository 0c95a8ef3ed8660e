package paths_test

import (
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/hashicorp/vault/sdk/logical"
)

// FuzzCallback: whatever query reaches the unauthenticated callback, with
// an unknown state or with one Vault issued, the answer is a 400 with
// printable text, never a 500 or a panic, and the role stays
// unauthorized (no fuzzed code is one the site issued).
func FuzzCallback(f *testing.F) {
	h := plugintest.New(f)
	h.SourceSetup(nil)
	h.CodeRole()
	f.Add(false, "", "", "", "", false)
	f.Add(false, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "code", "", "", false)
	f.Add(true, "", "not-a-code", "", "", false)
	f.Add(true, "", "", "access_denied", "The user denied access", true)
	f.Add(true, "", "", "server_error", "line\nbreak\x00and\x1bescape", false)
	f.Add(true, "", "", "", "", true)
	f.Add(false, "../../role-tokens/user", "x", "", "", false)
	f.Fuzz(func(t *testing.T, fresh bool, state, code, perr, pdesc string, post bool) {
		h.T = t
		if fresh {
			state = h.MustWrite("authorize/user", nil).Data["state"].(string)
		}
		data := map[string]any{}
		for k, v := range map[string]string{"state": state, "code": code, "error": perr, "error_description": pdesc} {
			if v != "" {
				data[k] = v
			}
		}
		var op logical.Operation = logical.ReadOperation
		if post {
			op = logical.UpdateOperation
		}
		req := &logical.Request{Operation: op, Path: "callback", Data: data, Storage: h.Storage, Unauthenticated: true}
		resp, err := h.B.HandleRequest(t.Context(), req)
		msg, ok := plugintest.BadRequest(resp, err)
		if !ok {
			t.Fatalf("callback %v: not a 400: %s", data, msg)
		}
		for _, r := range msg {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("callback %v: control character in %q", data, msg)
			}
		}
		if h.MustRead("roles/user").Data["authorized"] != false {
			t.Fatalf("callback %v authorized the role", data)
		}
	})
}
