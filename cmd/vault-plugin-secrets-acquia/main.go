// Command vault-plugin-secrets-acquia is the Vault plugin binary.
package main

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/plugin"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/backend"
)

func main() {
	// Vault connects with AutoMTLS; the plugin takes no flags of its own.
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{BackendFactoryFunc: backend.Factory}); err != nil {
		hclog.New(&hclog.LoggerOptions{}).Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}
