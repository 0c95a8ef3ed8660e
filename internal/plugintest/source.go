package plugintest

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	SourceID       = "site-app"
	SourceSecret   = "src+Se/cr=et=="
	SourceCallback = "https://vault.example.com/v1/acquia/callback"
)

func (h *Harness) SourceSetup(extra map[string]any) {
	h.T.Helper()
	h.Emu.AddSourceClient(emulator.SourceClient{ID: SourceID, Secret: SourceSecret,
		Scopes: []string{"content:read", "content:write"}, RedirectURIs: []string{SourceCallback}})
	h.Secrets = append(h.Secrets, SourceSecret)
	d := map[string]any{"provider": "source", "client_id": SourceID, "client_secret": SourceSecret, "base_url": h.Emu.URL()}
	for k, v := range extra {
		d[k] = v
	}
	h.MustWrite("config/site", d)
	h.T.Cleanup(func() { h.Secrets = append(h.Secrets, h.Emu.SourceCredentials()...) })
}

// browse follows the authorize URL as the user's browser would, up to the
// redirect to Vault, and returns the callback's query.
func (h *Harness) Browse(authURL string) url.Values {
	h.T.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		h.T.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), SourceCallback) {
		h.T.Fatalf("authorize answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

func (h *Harness) Callback(q url.Values, op logical.Operation) (*logical.Response, error) {
	data := map[string]any{}
	for k := range q {
		data[k] = q.Get(k)
	}
	req := &logical.Request{Operation: op, Path: "callback", Data: data, Storage: h.Storage, Unauthenticated: true}
	return h.B.HandleRequest(context.Background(), req)
}

func (h *Harness) CodeRole() {
	h.T.Helper()
	h.MustWrite("roles/user", map[string]any{"config": "site", "grant_type": "authorization_code",
		"redirect_url": SourceCallback, "scopes": "content:read,content:write", "ttl": "5m"})
}

func (h *Harness) AuthorizeRole() url.Values {
	h.T.Helper()
	resp := h.MustWrite("authorize/user", nil)
	return h.Browse(resp.Data["url"].(string))
}

func (h *Harness) StoredRefreshToken() string {
	h.T.Helper()
	e, err := h.Storage.Get(context.Background(), "role-tokens/user")
	if err != nil || e == nil {
		h.T.Fatalf("no stored authorization: %v", err)
	}
	var rt struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := e.DecodeJSON(&rt); err != nil || rt.RefreshToken == "" {
		h.T.Fatalf("decoding the authorization: %v", err)
	}
	return rt.RefreshToken
}
