package paths_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// narrowRead reads creds/<role> with parameters, by read or by write.
func narrowRead(h *plugintest.Harness, op logical.Operation, role string, data map[string]any) (*logical.Response, error) {
	h.T.Helper()
	return h.Do(op, "creds/"+role, data)
}

func mustNarrow(t *testing.T, h *plugintest.Harness, op logical.Operation, role string, data map[string]any) *logical.Response {
	t.Helper()
	resp, err := narrowRead(h, op, role, data)
	if err != nil || resp == nil || resp.IsError() {
		t.Fatalf("%s creds/%s %v: err=%v resp=%v", op, role, data, err, plugintest.ErrText(resp))
	}
	return resp
}

// wantBad checks a 400 whose message holds every want.
func wantBad(t *testing.T, what string, resp *logical.Response, err error, want ...string) {
	t.Helper()
	msg, ok := plugintest.BadRequest(resp, err)
	if !ok {
		t.Fatalf("%s: want a 400, got %s", what, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: message %q lacks %q", what, msg, w)
		}
	}
}

func upstreamScope(t *testing.T, h *plugintest.Harness, resp *logical.Response) string {
	t.Helper()
	tok, ok := h.Emu.Token(resp.Data["access_token"].(string))
	if !ok {
		t.Fatal("the emulator does not know the token")
	}
	return tok.Scope
}

func TestCredsNarrowOAuth2(t *testing.T) {
	h := plugintest.New(t)
	h.OAuth2Client()
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"scopes": "read,write,admin"}))
	h.MustWrite("roles/rw", map[string]any{"config": "gen", "scopes": "read,write"})
	h.MustWrite("roles/all", map[string]any{"config": "gen"}) // the config's scopes

	plain := h.MustRead("creds/rw")
	if got := upstreamScope(t, h, plain); got != "read write" {
		t.Errorf("plain read: upstream scope %q, want the role's", got)
	}
	for _, k := range []string{"requested_scopes", "requested_organization"} {
		if _, ok := plain.Secret.InternalData[k]; ok {
			t.Errorf("a plain read's lease has %s", k)
		}
	}
	for _, op := range []logical.Operation{logical.ReadOperation, logical.UpdateOperation} {
		resp := mustNarrow(t, h, op, "rw", map[string]any{"scopes": "read"})
		if got := upstreamScope(t, h, resp); got != "read" {
			t.Errorf("%s: upstream scope %q, want read", op, got)
		}
		if !slices.Equal(resp.Data["scopes"].([]string), []string{"read"}) {
			t.Errorf("%s: response scopes %v", op, resp.Data["scopes"])
		}
		if resp.Secret.InternalData["requested_scopes"] != "read" {
			t.Errorf("%s: lease internal data %v lacks requested_scopes", op, resp.Secret.InternalData)
		}
	}
	// Comma and space separated, the config's scopes when the role has none.
	resp := mustNarrow(t, h, logical.ReadOperation, "all", map[string]any{"scopes": "admin, read"})
	if got := upstreamScope(t, h, resp); got != "admin read" {
		t.Errorf("upstream scope %q, want admin read", got)
	}
	resp, err := narrowRead(h, logical.ReadOperation, "rw", map[string]any{"scopes": "read admin delete"})
	wantBad(t, "scope outside the role", resp, err, "scopes", `"admin"`, `"delete"`, "read write")
	resp, err = narrowRead(h, logical.UpdateOperation, "rw", map[string]any{"scope": "read"})
	wantBad(t, "unknown parameter", resp, err, "scope")
	resp, err = narrowRead(h, logical.ReadOperation, "rw", map[string]any{"organization": plugintest.OrgUUID})
	wantBad(t, "organization on oauth2", resp, err, "organization", "cloud")

	h.MustWrite("roles/rw", map[string]any{"allow_narrowing": false})
	if v := h.MustRead("roles/rw").Data["allow_narrowing"]; v != false {
		t.Errorf("role read allow_narrowing %v", v)
	}
	resp, err = narrowRead(h, logical.UpdateOperation, "rw", map[string]any{"scopes": "read"})
	wantBad(t, "allow_narrowing=false", resp, err, "allow_narrowing=false")
	// Without parameters, as before; an empty scopes asks nothing.
	if got := upstreamScope(t, h, mustNarrow(t, h, logical.UpdateOperation, "rw", map[string]any{"scopes": ""})); got != "read write" {
		t.Errorf("empty scopes: upstream scope %q", got)
	}
}

func TestCredsNarrowSourceAndAcronis(t *testing.T) {
	h := plugintest.New(t)
	h.SourceSetup(map[string]any{"scopes": "content:read,content:write"})
	h.MustWrite("roles/src", map[string]any{"config": "site"})
	resp := mustNarrow(t, h, logical.ReadOperation, "src", map[string]any{"scopes": "content:read"})
	if got := upstreamScope(t, h, resp); got != "content:read" {
		t.Errorf("source: upstream scope %q", got)
	}
	resp, err := narrowRead(h, logical.ReadOperation, "src", map[string]any{"scopes": "content:admin"})
	wantBad(t, "source scope outside", resp, err, `"content:admin"`)
	// A user's authorization keeps the scopes the user granted.
	h.CodeRole()
	resp, err = narrowRead(h, logical.ReadOperation, "user", map[string]any{"scopes": "content:read"})
	wantBad(t, "authorization_code role", resp, err, "scopes", "authorization_code")

	h.AcronisSetup(nil)
	h.MustWrite("roles/acr-narrow", map[string]any{"config": "acr", "scopes": "openid,offline_access"})
	resp = mustNarrow(t, h, logical.UpdateOperation, "acr-narrow", map[string]any{"scopes": "openid"})
	if got := upstreamScope(t, h, resp); got != "openid" {
		t.Errorf("acronis: upstream scope %q", got)
	}
	// A role without scopes has nothing to narrow.
	resp, err = narrowRead(h, logical.ReadOperation, "backup", map[string]any{"scopes": "openid"})
	wantBad(t, "no scopes to narrow", resp, err, "scopes", "no scopes")
}

func TestCredsCloudOrganizations(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("roles/orgs", map[string]any{"config": "c", "organizations": plugintest.OrgUUID + ", " + plugintest.FedOrgUUID})
	if got := h.MustRead("roles/orgs").Data["organizations"].([]string); len(got) != 2 {
		t.Errorf("role read organizations %v", got)
	}
	// A plain read keeps the role's (here the config's: none) scopes.
	if got := upstreamScope(t, h, h.MustRead("creds/orgs")); got != "" {
		t.Errorf("plain read: upstream scope %q", got)
	}
	for _, op := range []logical.Operation{logical.ReadOperation, logical.UpdateOperation} {
		resp := mustNarrow(t, h, op, "orgs", map[string]any{"organization": plugintest.FedOrgUUID})
		if got := upstreamScope(t, h, resp); got != "organization:"+plugintest.FedOrgUUID {
			t.Errorf("%s: upstream scope %q", op, got)
		}
		if resp.Secret.InternalData["requested_organization"] != plugintest.FedOrgUUID {
			t.Errorf("%s: lease internal data %v", op, resp.Secret.InternalData)
		}
		// The federated organization's API accepts the token.
		if code := cloudAccount(t, h, resp.Data["access_token"].(string)); code != http.StatusOK {
			t.Errorf("%s: the Cloud API answered %d to an organization-scoped token", op, code)
		}
	}
	other := "11111111-2222-4333-8444-555555555555"
	for _, c := range []struct {
		name string
		data map[string]any
		want []string
	}{
		{"not the role's", map[string]any{"organization": other}, []string{"organization", other, "not one of the role's organizations"}},
		{"not a uuid", map[string]any{"organization": "acme"}, []string{"organization", `"acme"`, "uuid"}},
		{"both", map[string]any{"organization": plugintest.OrgUUID, "scopes": "organization:" + plugintest.OrgUUID},
			[]string{"organization", "not both"}},
	} {
		resp, err := narrowRead(h, logical.ReadOperation, "orgs", c.data)
		wantBad(t, c.name, resp, err, c.want...)
	}
}

// cloudAccount calls the emulator's Cloud API with tok and returns the status.
func cloudAccount(t *testing.T, h *plugintest.Harness, tok string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.Emu.URL()+"/api/account", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCredsCloudOrganizationUpstreamRefuses(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	// The role allows an organization the API key may not request: the
	// emulator, strict like Cloud, refuses the scope.
	other := "11111111-2222-4333-8444-555555555555"
	h.MustWrite("roles/orgs", map[string]any{"config": "c", "organizations": other})
	resp, err := narrowRead(h, logical.ReadOperation, "orgs", map[string]any{"organization": other})
	msg, bad := plugintest.BadRequest(resp, err)
	if err == nil && (resp == nil || !resp.IsError()) {
		t.Fatalf("an organization the key may not request minted a token")
	}
	if !strings.Contains(msg+plugintest.ErrText(resp)+errString(err), "invalid_scope") {
		t.Errorf("want the upstream invalid_scope, got %q (400: %v)", msg, bad)
	}
	// A role with no organizations takes none.
	h.MustWrite("roles/plain", map[string]any{"config": "c"})
	resp, err = narrowRead(h, logical.ReadOperation, "plain", map[string]any{"organization": plugintest.OrgUUID})
	wantBad(t, "no organizations", resp, err, "organization", "allows no organizations")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestRoleNarrowingFieldsRefused(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.OAuth2Client()
	h.MustWrite("config/gen", h.OAuth2Data(map[string]any{"scopes": "read"}))
	for _, c := range []struct {
		name string
		data map[string]any
		want []string
	}{
		{"not a uuid", map[string]any{"config": "c", "organizations": plugintest.OrgUUID + ",acme"},
			[]string{"organizations", `"acme"`, "uuid"}},
		{"with an organization scope", map[string]any{"config": "c", "organizations": plugintest.OrgUUID,
			"scopes": "organization:" + plugintest.FedOrgUUID}, []string{"organizations", "not both"}},
		{"not cloud", map[string]any{"config": "gen", "organizations": plugintest.OrgUUID},
			[]string{"organizations", "only cloud"}},
		{"allow_narrowing not a bool", map[string]any{"config": "gen", "allow_narrowing": "perhaps"},
			[]string{"allow_narrowing"}},
	} {
		resp, err := h.Write("roles/bad", c.data)
		wantBad(t, c.name, resp, err, c.want...)
		if h.Stored("roles/bad") {
			t.Fatalf("%s: a failed role write stored the role", c.name)
		}
	}
	// An update of a stored role fails the same way and keeps the role.
	h.MustWrite("roles/one", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID})
	resp, err := h.Write("roles/one", map[string]any{"organizations": plugintest.OrgUUID})
	wantBad(t, "update with organizations", resp, err, "organizations")
	if got := h.MustRead("roles/one").Data["organizations"].([]string); len(got) != 0 {
		t.Errorf("a failed update changed the role: organizations %v", got)
	}
	// Static roles take neither field.
	resp, err = h.Write("static-roles/s", map[string]any{"config": "c", "allow_narrowing": false})
	wantBad(t, "static role", resp, err, "allow_narrowing")
}
