package backend_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/backend"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// TestAcceptanceCloud talks to the real Acquia Cloud Platform. It runs only
// when ACQUIA_CLOUD_CLIENT_ID and ACQUIA_CLOUD_CLIENT_SECRET are set
// (ACQUIA_CLOUD_ORG_UUID adds the organization scope); see docs/development.md.
func TestAcceptanceCloud(t *testing.T) {
	id, secret := os.Getenv("ACQUIA_CLOUD_CLIENT_ID"), os.Getenv("ACQUIA_CLOUD_CLIENT_SECRET")
	if id == "" || secret == "" {
		t.Skip("set ACQUIA_CLOUD_CLIENT_ID and ACQUIA_CLOUD_CLIENT_SECRET to run against the real Acquia Cloud")
	}
	conf := logical.TestBackendConfig()
	conf.Logger = hclog.NewNullLogger()
	conf.StorageView = &logical.InmemStorage{}
	b, err := backend.Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	do := func(op logical.Operation, path string, data map[string]any) *logical.Response {
		t.Helper()
		resp, err := b.HandleRequest(context.Background(), &logical.Request{Operation: op, Path: path, Data: data, Storage: conf.StorageView})
		if err != nil || (resp != nil && resp.IsError()) {
			t.Fatalf("%s %s: %v %v", op, path, err, plugintest.ErrText(resp))
		}
		return resp
	}
	cfg := map[string]any{"provider": "cloud", "client_id": id, "client_secret": secret}
	if org := os.Getenv("ACQUIA_CLOUD_ORG_UUID"); org != "" {
		cfg["scopes"] = "organization:" + org
	}
	do(logical.CreateOperation, "config/real", cfg) // verify=true: token + GET /account
	do(logical.CreateOperation, "roles/real", map[string]any{"config": "real"})
	resp := do(logical.ReadOperation, "creds/real", nil)
	if resp.Data["access_token"] == "" || resp.Secret.TTL <= 0 || resp.Secret.TTL > 300*time.Second {
		t.Fatalf("creds: ttl %s", resp.Secret.TTL)
	}
}
