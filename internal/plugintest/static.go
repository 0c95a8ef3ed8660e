package plugintest

import (
	"context"
	"time"
)

func (h *Harness) RotateDue() { h.B.Env().RotateDue(context.Background(), h.Storage) }

func (h *Harness) StaticToken(name string) string {
	h.T.Helper()
	tok := h.MustRead("static-creds/" + name).Data["access_token"].(string)
	h.Secrets = append(h.Secrets, tok)
	return tok
}

// retiredRevokeAt is when the rotation loop next tries to revoke the
// static role's retired tokens, as stored.
func (h *Harness) RetiredRevokeAt(name string) []time.Time {
	h.T.Helper()
	e, err := h.Storage.Get(context.Background(), "static-tokens/"+name)
	if err != nil || e == nil {
		h.T.Fatal("no token state", err)
	}
	var st struct {
		Retired []struct {
			RevokeAt time.Time `json:"revoke_at"`
		} `json:"retired"`
	}
	if err := e.DecodeJSON(&st); err != nil {
		h.T.Fatal(err)
	}
	var at []time.Time
	for _, g := range st.Retired {
		at = append(at, g.RevokeAt)
	}
	return at
}
