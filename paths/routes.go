package paths

import "github.com/hashicorp/vault/sdk/framework"

// Paths are every path of the plugin.
func (e *Env) Paths() []*framework.Path {
	return framework.PathAppend(
		e.configPaths(),
		e.rolePaths(),
		e.credsPaths(),
		e.authorizePaths(),
		e.staticRolePaths(),
		e.staticCredsPaths(),
	)
}

// Secrets are the secret types the plugin issues.
func (e *Env) Secrets() []*framework.Secret {
	return []*framework.Secret{e.tokenSecret()}
}

// Unauthenticated lists the paths a caller without a Vault token may use:
// the provider redirects a browser to callback.
func Unauthenticated() []string {
	return []string{"callback"}
}
