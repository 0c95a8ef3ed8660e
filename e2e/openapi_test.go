//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPIDocumentsEverything reads the OpenAPI document the real Vault
// builds from the plugin's schema, and fails on any path, operation,
// parameter or field without a description (fields also need display
// attributes), and on creds without a declared response.
func TestOpenAPIDocumentsEverything(t *testing.T) {
	v := startVault(t)
	req, _ := http.NewRequest(http.MethodGet, v.addr+"/v1/sys/internal/specs/openapi", nil)
	req.Header.Set("X-Vault-Token", v.token)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sys/internal/specs/openapi answered %d", resp.StatusCode)
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Type         string          `json:"type"`
					Description  string          `json:"description"`
					DisplayAttrs json.RawMessage `json:"x-vault-displayAttrs"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}

	var paths []string
	for p := range doc.Paths {
		if strings.HasPrefix(p, "/acquia/") {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, want := range []string{"/acquia/config/{name}", "/acquia/config/", "/acquia/config/{name}/revoke-all",
		"/acquia/roles/{name}", "/acquia/roles/", "/acquia/creds/{name}", "/acquia/authorize/{name}", "/acquia/callback",
		"/acquia/static-roles/{name}", "/acquia/static-roles/", "/acquia/static-creds/{name}", "/acquia/rotate-role/{name}",
		"/acquia/metrics", "/acquia/config/{name}/status", "/acquia/config/{name}/jwks"} {
		if _, ok := doc.Paths[want]; !ok {
			t.Errorf("the OpenAPI document lacks %s (has %v)", want, paths)
		}
	}
	for _, p := range paths {
		item := doc.Paths[p]
		var desc string
		_ = json.Unmarshal(item["description"], &desc)
		if strings.TrimSpace(desc) == "" {
			t.Errorf("%s: no description (HelpSynopsis)", p)
		}
		var params []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		}
		_ = json.Unmarshal(item["parameters"], &params)
		for _, prm := range params {
			if strings.TrimSpace(prm.Description) == "" {
				t.Errorf("%s: parameter %s has no description", p, prm.Name)
			}
		}
		for _, method := range []string{"get", "post", "delete"} {
			raw, ok := item[method]
			if !ok {
				continue
			}
			var op struct {
				Summary    string `json:"summary"`
				Parameters []struct {
					Name        string `json:"name"`
					Description string `json:"description"`
				} `json:"parameters"`
			}
			_ = json.Unmarshal(raw, &op)
			if strings.TrimSpace(op.Summary) == "" {
				t.Errorf("%s %s: no summary", method, p)
			}
			for _, prm := range op.Parameters {
				if strings.TrimSpace(prm.Description) == "" {
					t.Errorf("%s %s: parameter %s has no description", method, p, prm.Name)
				}
			}
		}
	}

	var schemas []string
	for name, s := range doc.Components.Schemas {
		if !strings.HasPrefix(name, "Acquia") {
			continue
		}
		schemas = append(schemas, name)
		for field, prop := range s.Properties {
			if strings.TrimSpace(prop.Description) == "" {
				t.Errorf("%s.%s: no description", name, field)
			}
			if prop.Type == "" {
				t.Errorf("%s.%s: no type", name, field)
			}
			if strings.HasSuffix(name, "Request") && len(prop.DisplayAttrs) == 0 {
				t.Errorf("%s.%s: no display attributes", name, field)
			}
		}
	}
	creds, ok := doc.Components.Schemas["AcquiaGenerateCredentialsResponse"]
	if !ok {
		t.Fatalf("creds declares no response schema (have %v)", schemas)
	}
	for _, f := range []string{"access_token", "token_type", "expires_at", "expires_at_unix", "scopes", "id_token", "tenant_id"} {
		if _, ok := creds.Properties[f]; !ok {
			t.Errorf("creds response schema lacks %s", f)
		}
	}
	if typ := creds.Properties["expires_at_unix"].Type; typ != "integer" {
		t.Errorf("creds expires_at_unix has type %q, want integer (Unix seconds)", typ)
	}
	static, ok := doc.Components.Schemas["AcquiaReadStaticCredentialsResponse"]
	if !ok {
		t.Fatalf("static-creds declares no response schema (have %v)", schemas)
	}
	for _, f := range []string{"access_token", "token_type", "expires_at", "expires_at_unix", "last_rotated", "ttl"} {
		if _, ok := static.Properties[f]; !ok {
			t.Errorf("static-creds response schema lacks %s", f)
		}
	}
	// Types follow the fields: a list, an integer, a duration, a boolean.
	cfg := doc.Components.Schemas["AcquiaWriteConfigRequest"].Properties
	for field, typ := range map[string]string{"scopes": "array", "max_tokens": "integer", "request_timeout": "string", "verify": "boolean",
		"private_key": "string", "generate_key": "boolean", "private_key_id": "string", "assertion_audience": "string", "issuer": "string"} {
		if cfg[field].Type != typ {
			t.Errorf("config %s has type %q, want %q", field, cfg[field].Type, typ)
		}
	}

	// The role's narrowing fields, and the creds parameters by read and
	// by write.
	role := doc.Components.Schemas["AcquiaWriteRoleRequest"].Properties
	for field, typ := range map[string]string{"organizations": "array", "allow_narrowing": "boolean"} {
		if role[field].Type != typ {
			t.Errorf("role %s has type %q, want %q", field, role[field].Type, typ)
		}
	}
	credsWrite := doc.Components.Schemas["AcquiaGenerateCredentialsWithParametersRequest"].Properties
	var credsGet struct {
		Parameters []struct {
			Name string `json:"name"`
		} `json:"parameters"`
	}
	_ = json.Unmarshal(doc.Paths["/acquia/creds/{name}"]["get"], &credsGet)
	for _, param := range []string{"scopes", "organization"} {
		if _, ok := credsWrite[param]; !ok {
			t.Errorf("a creds write does not describe %s (have %v)", param, schemas)
		}
		if !slices.ContainsFunc(credsGet.Parameters, func(p struct {
			Name string `json:"name"`
		}) bool {
			return p.Name == param
		}) {
			t.Errorf("a creds read does not describe the query parameter %s", param)
		}
	}
	if _, ok := doc.Components.Schemas["AcquiaReadConfigJwksResponse"].Properties["keys"]; !ok {
		t.Errorf("config/{name}/jwks declares no keys in its response (have %v)", schemas)
	}

	// path-help reads well for the path a consumer uses.
	help := v.mustCLI("path-help", "acquia/creds/x")
	for _, want := range []string{"Mint a new upstream access token", "lease", "revokes the token upstream"} {
		if !strings.Contains(help, want) {
			t.Errorf("path-help acquia/creds/x lacks %q:\n%s", want, help)
		}
	}
}
