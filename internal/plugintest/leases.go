package plugintest

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func (h *Harness) Renew(resp *logical.Response, issued time.Time) (*logical.Response, error) {
	h.T.Helper()
	s := *resp.Secret
	s.IssueTime = issued
	req := &logical.Request{Operation: logical.RenewOperation, Path: "creds/x", Secret: &s, Storage: h.Storage}
	return h.B.HandleRequest(context.Background(), req)
}

func (h *Harness) Revoke(resp *logical.Response) (*logical.Response, error) {
	h.T.Helper()
	s := *resp.Secret
	req := &logical.Request{Operation: logical.RevokeOperation, Path: "creds/x", Secret: &s, Storage: h.Storage}
	return h.B.HandleRequest(context.Background(), req)
}

// lostTokens is the config's lost_tokens as a read shows it.
func (h *Harness) LostTokens(config string) int {
	h.T.Helper()
	n, ok := h.MustRead("config/" + config).Data["lost_tokens"].(int)
	if !ok {
		h.T.Fatalf("config %s reads no lost_tokens", config)
	}
	return n
}
