package main

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestPluginLoggerLevel(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		want    hclog.Level
		warning string
	}{
		{env: nil, want: hclog.Trace},
		{env: map[string]string{envVaultLogLevel: "info"}, want: hclog.Info},
		{env: map[string]string{envVaultLogLevel: " NOTICE "}, want: hclog.Info},
		{env: map[string]string{envVaultLogLevel: "warning"}, want: hclog.Warn},
		{env: map[string]string{envVaultLogLevel: "err"}, want: hclog.Error},
		{env: map[string]string{envVaultLogLevel: "debug"}, want: hclog.Debug},
		// The plugin's own setting wins over Vault's.
		{env: map[string]string{envVaultLogLevel: "info", envPluginLogLevel: "trace"}, want: hclog.Trace},
		{env: map[string]string{envVaultLogLevel: "trace", envPluginLogLevel: "error"}, want: hclog.Error},
		// A level no one can read logs everything, and says why.
		{env: map[string]string{envVaultLogLevel: "verbose"}, want: hclog.Trace, warning: `VAULT_LOG_LEVEL="verbose" is not a log level`},
		{env: map[string]string{envPluginLogLevel: "loud", envVaultLogLevel: "info"}, want: hclog.Trace,
			warning: `ACQUIA_PLUGIN_LOG_LEVEL="loud" is not a log level`},
	} {
		logger, warning := pluginLogger(func(k string) string { return tc.env[k] })
		if got := logger.GetLevel(); got != tc.want {
			t.Errorf("%v: level %v, want %v", tc.env, got, tc.want)
		}
		if (tc.warning == "") != (warning == "") || !strings.Contains(warning, tc.warning) {
			t.Errorf("%v: warning %q, want one with %q", tc.env, warning, tc.warning)
		}
	}
}
