package lifecycle

import (
	"context"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

type configMeta struct {
	PasswordExpiryDate string `json:"password_expiry_date,omitempty"`
}

func (e *Mount) LoadMeta(ctx context.Context, s logical.Storage, config string) (configMeta, error) {
	m, err := e.Metas.load(ctx, s, config, "config meta")
	if err != nil || m == nil {
		return configMeta{}, err
	}
	return *m, nil
}

// PasswordExpiry records the password expiry a token answer carried and
// returns warnings when it is near. The server log says so once a day per
// config; never the password.
func (e *Mount) PasswordExpiry(ctx context.Context, s logical.Storage, config string, tok *provider.Token) []string {
	date := tok.Data["password_expiry_date"]
	if date == "" {
		return nil
	}
	if m, err := e.LoadMeta(ctx, s, config); err == nil && m.PasswordExpiryDate != date {
		m.PasswordExpiryDate = date
		err := PutJSON(ctx, s, MetaPrefix+config, "config meta", m)
		e.Metas.Drop(config)
		if err != nil {
			e.Logger.Warn("could not record the password expiry date", "config", config, "error", err)
		}
	}
	warnings := provider.PasswordExpiryWarnings(date, e.Now())
	if _, readable := provider.ParseCDPDate(date); !readable && e.firstToday(config+"\x00unreadable") {
		// Not silently: without a date there is no warning ahead of it.
		e.Logger.Warn("cannot read the integration user's passwordExpiryDate; no password expiry warning is given",
			"config", config, "password_expiry_date", date)
	}
	if len(warnings) > 0 && e.firstToday(config) {
		e.Logger.Warn("integration user password expires soon", "config", config, "password_expiry_date", date)
	}
	return warnings
}
