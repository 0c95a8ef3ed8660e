// Command vault-plugin-secrets-acquia is the Vault plugin binary.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/plugin"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/backend"
)

// Environment variables that set the plugin's log level, first match
// wins. ACQUIA_PLUGIN_LOG_LEVEL is the plugin's own (set it with `vault
// plugin register -env`); VAULT_LOG_LEVEL is Vault's, which the plugin
// inherits from the server's environment. With neither, the plugin logs
// everything and Vault drops what its level excludes, as for any plugin.
const (
	envPluginLogLevel = "ACQUIA_PLUGIN_LOG_LEVEL"
	envVaultLogLevel  = "VAULT_LOG_LEVEL"
)

func main() {
	logger, warning := pluginLogger(os.Getenv)
	if warning != "" {
		logger.Warn(warning)
	}
	// Vault connects with AutoMTLS; the plugin takes no flags of its own.
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{BackendFactoryFunc: backend.Factory, Logger: logger}); err != nil {
		logger.Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}

// pluginLogger is the logger the plugin serves with: JSON on stderr, which
// Vault reads and logs under its own name for the plugin, at the level
// the environment gives (getenv). A line below that level is never
// written, so Vault never parses it only to drop it. An unknown level is
// reported in warning and the plugin logs everything.
func pluginLogger(getenv func(string) string) (hclog.Logger, string) {
	level, warning := hclog.Trace, ""
	for _, name := range []string{envPluginLogLevel, envVaultLogLevel} {
		v := getenv(name)
		if v == "" {
			continue
		}
		if l, ok := parseLevel(v); ok {
			level = l
		} else {
			warning = fmt.Sprintf("%s=%q is not a log level (trace, debug, info, warn, error): logging everything", name, v)
		}
		break
	}
	return hclog.New(&hclog.LoggerOptions{Level: level, Output: os.Stderr, JSONFormat: true}), warning
}

// parseLevel reads a level as Vault reads its own -log-level.
func parseLevel(s string) (hclog.Level, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace":
		return hclog.Trace, true
	case "debug":
		return hclog.Debug, true
	case "notice", "info":
		return hclog.Info, true
	case "warn", "warning":
		return hclog.Warn, true
	case "err", "error":
		return hclog.Error, true
	}
	return hclog.NoLevel, false
}
