package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/emulator"
)

func cloudAt(t *testing.T, base, id, secret string) *cloudClient {
	t.Helper()
	c, err := New(Config{Provider: "cloud", ClientID: id, ClientSecret: secret,
		TokenURL: base + "/api/auth/oauth/token", APIURL: base + "/api"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*cloudClient)
}

// Against the emulator, under each reading of the key API: a key is
// created, found by its label, works, deletes the old key, and deleting a
// gone or unknown key is done.
func TestCloudKeyRotation(t *testing.T) {
	for _, v := range []emulator.CloudKeyVariants{{}, {SelfHrefItem: true}, {UUIDIsClientID: true}, {LegacyFieldsOnly: true}} {
		t.Run(fmt.Sprintf("%+v", v), func(t *testing.T) { testCloudKeyRotation(t, v) })
	}
}

func testCloudKeyRotation(t *testing.T, v emulator.CloudKeyVariants) {
	e := emulator.New()
	e.AddDemo()
	e.SetCloudKeyVariants(v)
	base, err := e.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	old := cloudAt(t, base, emulator.DemoCloudClientID, emulator.DemoCloudClientSecret)

	key, err := old.CreateKey(ctx, "vault test")
	if err != nil {
		t.Fatal(err)
	}
	if key.UUID != "" || key.ClientID == "" || key.ClientSecret == "" {
		t.Fatalf("key %+v", key)
	}
	keys, err := old.ListKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("list: %+v, %v", keys, err)
	}
	for _, k := range keys {
		if k.Label == "vault test" {
			key.UUID = k.UUID
		}
	}
	if !IsUUID(key.UUID) || (key.UUID == key.ClientID) != v.UUIDIsClientID {
		t.Fatalf("listed uuid %q for client id %q", key.UUID, key.ClientID)
	}
	byID, err := old.GetKey(ctx, key.ClientID)
	if err != nil || (byID != nil) != v.UUIDIsClientID {
		t.Errorf("GET by client id: %+v, %v", byID, err)
	}
	next := cloudAt(t, base, key.ClientID, key.ClientSecret)
	if _, err := next.Token(ctx, nil); err != nil {
		t.Fatalf("the new key does not work: %v", err)
	}
	for _, uuid := range []string{emulator.DemoCloudKeyUUID, emulator.DemoCloudKeyUUID, "00000000-0000-4000-8000-000000000000"} {
		if err := next.DeleteKey(ctx, uuid); err != nil {
			t.Errorf("delete %s: %v", uuid, err)
		}
	}
	if _, err := old.Token(ctx, nil); !HasCode(err, "invalid_client") {
		t.Errorf("the old key still works: %v", err)
	}
	if err := next.DeleteKey(ctx, "../../account"); err == nil {
		t.Error("a path was taken for a uuid")
	}
}

// keyServer answers the token endpoint, and hands key API requests to api,
// counting them.
func keyServer(t *testing.T, api http.HandlerFunc) (*cloudClient, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprint(w, `{"access_token":"the-access-token","token_type":"Bearer","expires_in":300}`)
			return
		}
		n.Add(1)
		api(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Provider: "cloud", ClientID: "id", ClientSecret: "old+secret", TokenURL: srv.URL + "/token",
		APIURL: srv.URL + "/api"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*cloudClient), &n
}

func respondWith(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = fmt.Fprint(w, body)
	}
}

func TestCloudCreateKeyAnswers(t *testing.T) {
	const uuid = "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	for _, tc := range []struct {
		name     string
		api      http.HandlerFunc
		attempts int64
		status   int
		code     string
		hint     string
	}{
		{"201 as the spec shows it", respondWith(201, `{"client_id":"new-id","client_secret":"new+secret=","api_key":"new-id","api_secret":"new+secret=",`+
			`"_links":{"self":{"href":"https://x/api/account/tokens"}}}`), 1, 0, "", ""},
		{"201 with a self link naming the key", respondWith(201, `{"client_id":"new-id","client_secret":"new+secret=","_links":{"self":{"href":"https://x/api/account/tokens/`+uuid+`"}}}`),
			1, 0, "", ""},
		{"201 with the deprecated names only", respondWith(201, `{"api_key":"new-id","api_secret":"new+secret="}`), 1, 0, "", ""},
		{"201 without credentials", respondWith(201, `{"_links":{"self":{"href":"https://x/api/account/tokens"}}}`), 1, 201, "malformed_response", "may have been created"},
		{"201 without a secret", respondWith(201, `{"client_id":"new-id"}`), 1, 201, "malformed_response", "may have been created"},
		{"500 is not retried", respondWith(500, `{"error":"system","message":"boom"}`), 1, 500, "system", ""},
		{"503 is retried", func() http.HandlerFunc {
			var first atomic.Bool
			return func(w http.ResponseWriter, r *http.Request) {
				if !first.Swap(true) {
					respondWith(503, `{"error":"system"}`)(w, r)
					return
				}
				respondWith(201, `{"client_id":"new-id","client_secret":"s","_links":{"self":{"href":"/api/account/tokens"}}}`)(w, r)
			}
		}(), 2, 0, "", ""},
		{"no answer is not retried", func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, 1, 0, "", "may have been created"},
		{"403", respondWith(403, `{"error":"forbidden","message":"the-access-token is not allowed"}`), 1, 403, "forbidden", "may not manage API tokens"},
		{"federated", respondWith(403, `{"error":"additional_authentication_required","message":"x"}`), 1, 403, "additional_authentication_required", "scopes=organization:<uuid>"},
		{"404", respondWith(404, `<html>not here</html>`), 1, 404, "", "check api_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, n := keyServer(t, tc.api)
			key, err := c.CreateKey(context.Background(), "label")
			if n.Load() != tc.attempts {
				t.Errorf("%d attempts, want %d", n.Load(), tc.attempts)
			}
			if tc.code == "" && tc.hint == "" {
				// The uuid is never taken from the answer, not even from a
				// self link that names it.
				if err != nil || key.UUID != "" || key.ClientID != "new-id" || key.ClientSecret == "" {
					t.Fatalf("key %+v, err %v", key, err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Status != tc.status || pe.Code != tc.code || !strings.Contains(pe.Hint, tc.hint) {
				t.Fatalf("err %#v, want status %d code %q hint with %q", err, tc.status, tc.code, tc.hint)
			}
			for _, s := range []string{"the-access-token", "old+secret", "new+secret"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q holds %s", err, s)
				}
			}
		})
	}
}

func TestCloudGetAndListKeyAnswers(t *testing.T) {
	const uuid = "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	item := `{"uuid":"` + uuid + `","label":"l","active":true,"revocation":null,"flags":{"active":true},"created_at":"2026-01-01T00:00:00Z","_links":{}}`
	gone := `{"uuid":"` + uuid + `","label":"l","flags":{"active":false}}`
	for _, tc := range []struct {
		name   string
		api    http.HandlerFunc
		get    *APIKey // nil: none
		getErr string
		list   []APIKey
		lstErr string
	}{
		{"the spec's shapes", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/account/tokens" {
				respondWith(200, `{"total":1,"_links":{},"_embedded":{"items":[`+item+`]}}`)(w, r)
				return
			}
			respondWith(200, item)(w, r)
		}, &APIKey{UUID: uuid, Label: "l", Active: true}, "", []APIKey{{UUID: uuid, Label: "l", Active: true}}, ""},
		{"inactive by its flags", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/account/tokens" {
				respondWith(200, `{"total":1,"_embedded":{"items":[`+gone+`]}}`)(w, r)
				return
			}
			respondWith(200, gone)(w, r)
		}, &APIKey{UUID: uuid, Label: "l"}, "", []APIKey{{UUID: uuid, Label: "l"}}, ""},
		{"404 from the Cloud API", respondWith(404, `{"error":"not_found","message":"x"}`), nil, "", nil, "not_found"},
		{"404 from another server", respondWith(404, `<html>no</html>`), nil, "check api_url", nil, "check api_url"},
		{"not JSON", respondWith(200, `<html>`), nil, "malformed_response", nil, "malformed_response"},
		{"403", respondWith(403, `{"error":"forbidden","message":"x"}`), nil, "may not manage API tokens", nil, "may not manage API tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := keyServer(t, tc.api)
			got, err := c.GetKey(context.Background(), uuid)
			switch {
			case tc.getErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.getErr) {
					t.Errorf("get: %+v, %v; want an error with %q", got, err, tc.getErr)
				}
			case err != nil || (got == nil) != (tc.get == nil) || got != nil && *got != *tc.get:
				t.Errorf("get: %+v, %v; want %+v", got, err, tc.get)
			}
			list, err := c.ListKeys(context.Background())
			switch {
			case tc.lstErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.lstErr) {
					t.Errorf("list: %+v, %v; want an error with %q", list, err, tc.lstErr)
				}
			case err != nil || !slices.Equal(list, tc.list):
				t.Errorf("list: %+v, %v; want %+v", list, err, tc.list)
			}
		})
	}
	c, n := keyServer(t, respondWith(200, item))
	if _, err := c.GetKey(context.Background(), "../account"); err == nil || n.Load() != 0 {
		t.Error("a path was taken for a uuid")
	}
}

func TestCloudDeleteKeyAnswers(t *testing.T) {
	const uuid = "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	for _, tc := range []struct {
		name     string
		api      http.HandlerFunc
		attempts int64
		done     bool
		hint     string
	}{
		{"200", respondWith(200, `{"message":"revoked"}`), 1, true, ""},
		{"404 from the Cloud API", respondWith(404, `{"error":"not_found","message":"x"}`), 1, true, ""},
		{"409 already revoked", respondWith(409, `{"error":"conflict","message":"x"}`), 1, true, ""},
		{"404 from another server", respondWith(404, `<html>not here</html>`), 1, false, "check api_url"},
		{"403", respondWith(403, `{"error":"forbidden","message":"x"}`), 1, false, "by hand"},
		{"500 is retried", func() http.HandlerFunc {
			var first atomic.Bool
			return func(w http.ResponseWriter, r *http.Request) {
				if !first.Swap(true) {
					respondWith(500, `{"error":"system"}`)(w, r)
					return
				}
				respondWith(200, `{}`)(w, r)
			}
		}(), 2, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var method, path, auth string
			c, n := keyServer(t, func(w http.ResponseWriter, r *http.Request) {
				method, path, auth = r.Method, r.URL.Path, r.Header.Get("Authorization")
				tc.api(w, r)
			})
			err := c.DeleteKey(context.Background(), uuid)
			if method != http.MethodDelete || path != "/api/account/tokens/"+uuid || auth != "Bearer the-access-token" {
				t.Errorf("sent %s %s with %q", method, path, auth)
			}
			if n.Load() != tc.attempts {
				t.Errorf("%d attempts, want %d", n.Load(), tc.attempts)
			}
			var pe *Error
			switch {
			case tc.done && err != nil:
				t.Errorf("err %v, want done", err)
			case !tc.done && (!errors.As(err, &pe) || !strings.Contains(pe.Hint, tc.hint)):
				t.Errorf("err %#v, want an *Error hinting %q", err, tc.hint)
			}
		})
	}
}
