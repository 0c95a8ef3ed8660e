package provider

import (
	"fmt"
	"net/url"
)

// FieldError is a config value a provider refuses, naming the field.
type FieldError struct {
	Field, Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// refuseEncodedBasic refuses auth_style=basic for a provider whose server
// does not url-decode Basic credentials: golang.org/x/oauth2 form-encodes
// them (RFC 6749 §2.3.1), so a secret holding + / = or : would be
// refused as invalid_client, which would blame the secret.
func refuseEncodedBasic(provider, server string) func(Config) error {
	return func(c Config) error {
		if c.AuthStyle == AuthStyleBasic {
			return &FieldError{Field: "auth_style", Msg: fmt.Sprintf("basic is refused for %s: %s does not url-decode Basic "+
				"credentials, so a secret holding + / = would be rejected; use body (the default)", provider, server)}
		}
		return nil
	}
}

// validateCloud adds to refuseEncodedBasic the Cloud docs' rule "You must
// not include unauthorized ports like 443 in your endpoint calls": no
// explicit port on token_url or api_url, but on loopback (the emulator).
func validateCloud(c Config) error {
	if err := refuseEncodedBasic("cloud", "accounts.acquia.com")(c); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{{"token_url", c.TokenURL}, {"api_url", c.APIURL}} {
		u, err := url.Parse(f.value)
		if err == nil && u.Port() != "" && !IsLoopback(u.Hostname()) {
			return &FieldError{Field: f.name, Msg: fmt.Sprintf("must not name a port (%s): Acquia refuses calls that do; "+
				"use https://%s%s", u.Port(), u.Hostname(), u.EscapedPath())}
		}
	}
	return nil
}
