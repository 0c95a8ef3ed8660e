package provider

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

// TestCDPParse: the CDP token answer, whose fields beyond access_token are
// confirmed by one source only, in each form they may take.
func TestCDPParse(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &cdpClient{cfg: Config{BaseURL: "https://cs-auth.example"}}
	for _, tc := range []struct {
		name, body string
		expires    time.Time
		data       map[string]string
	}{
		{"vendor example",
			`{"access_token":"tok","token_type":"bearer","expires_in":15600000,"tenantId":1234,"username":"tracker_ABC",` +
				`"userType":"CLIENT","passwordExpiryDate":"2030-03-01T00:00:00"}`,
			start.Add(15600000 * time.Second),
			map[string]string{"tenant_id": "1234", "username": "tracker_ABC", "user_type": "CLIENT", "password_expiry_date": "2030-03-01T00:00:00"}},
		{"expires_in as string", `{"access_token":"tok","expires_in":"3600"}`, start.Add(time.Hour), map[string]string{}},
		{"expires_in missing", `{"access_token":"tok"}`, start.Add(cdpLifetime), map[string]string{}},
		{"expires_in null", `{"access_token":"tok","expires_in":null}`, start.Add(cdpLifetime), map[string]string{}},
		{"expires_in zero", `{"access_token":"tok","expires_in":0}`, start.Add(cdpLifetime), map[string]string{}},
		{"tenantId as string", `{"access_token":"tok","tenantId":"tenant-7"}`, start.Add(cdpLifetime), map[string]string{"tenant_id": "tenant-7"}},
		{"tenantId as large number", `{"access_token":"tok","tenantId":90071992547409931}`, start.Add(cdpLifetime),
			map[string]string{"tenant_id": "90071992547409931"}},
		{"tenantId null", `{"access_token":"tok","tenantId":null}`, start.Add(cdpLifetime), map[string]string{}},
		{"empty strings dropped", `{"access_token":"tok","tenantId":"","username":"","userType":""}`, start.Add(cdpLifetime), map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := c.parse("token create", []byte(tc.body), start)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "tok" || !tok.ExpiresAt.Equal(tc.expires) || !reflect.DeepEqual(tok.Data, tc.data) {
				t.Errorf("parse = {%s %s %v}, want {tok %s %v}", tok.AccessToken, tok.ExpiresAt, tok.Data, tc.expires, tc.data)
			}
		})
	}
}

func TestCDPParseRefusesAnswerWithoutToken(t *testing.T) {
	c := &cdpClient{cfg: Config{BaseURL: "https://cs-auth.example"}}
	for _, body := range []string{``, `{}`, `{"access_token":""}`, `{"token":"tok"}`, `<html>login</html>`, `{"access_token":"tok"`} {
		tok, err := c.parse("token create", []byte(body), time.Now())
		var e *Error
		if tok != nil || !errors.As(err, &e) || e.Code != "malformed_response" || e.Host != "cs-auth.example" || !e.Retryable {
			t.Errorf("parse(%q) = (%v, %v), want a retryable malformed_response *Error", body, tok, err)
		}
	}
}

// TestCDPLifetimeFallback: an answer without expires_in lives 90 days, the
// shortest documented lifetime (Customer Sandbox), not UAT/PROD's 180.
func TestCDPLifetimeFallback(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &cdpClient{cfg: Config{BaseURL: "https://auth.example"}}
	tok, err := c.parse("token create", []byte(`{"access_token":"tok"}`), start)
	if err != nil || !tok.ExpiresAt.Equal(start.AddDate(0, 0, 90)) {
		t.Fatalf("parse = (%v, %v), want expiry 90 days on", tok, err)
	}
}

// TestParseCDPDate: passwordExpiryDate in the ISO 8601 forms a tenant may
// use; a time without a zone reads as UTC.
func TestParseCDPDate(t *testing.T) {
	want := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"2025-01-06T00:00:00", "2025-01-06T00:00:00.000", "2025-01-06T00:00:00Z",
		"2025-01-06T00:00:00.123456Z", "2025-01-06T01:00:00+01:00", "2025-01-06T01:00:00+0100", "2025-01-06T01:00:00+01",
		"2025-01-06", "2025-01-06T00:00", "2025-01-06 00:00:00"} {
		got, ok := ParseCDPDate(s)
		if !ok || !got.Truncate(time.Second).Equal(want) {
			t.Errorf("ParseCDPDate(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "06/01/2025", "tomorrow", "2025-13-06"} {
		if _, ok := ParseCDPDate(s); ok {
			t.Errorf("ParseCDPDate(%q) accepted", s)
		}
	}
}

// TestCDPRenewAnswer: extend answers with the token it extended, as the
// vendor shows; another token replaced it (the caller adopts it); no body
// extended it to an unsaid expiry; an answer without a token is refused.
func TestCDPRenewAnswer(t *testing.T) {
	for _, tc := range []struct {
		body, token string
		ok, expiry  bool
	}{
		{`{"access_token":"tok","expires_in":60}`, "tok", true, true},
		{`{"access_token":"other","expires_in":60}`, "other", true, true},
		{``, "tok", true, false},
		{`{"expires_in":60}`, "", false, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(tc.body))
		}))
		c, err := New(Config{Provider: "cdp", Username: "u", Password: "p", BaseURL: srv.URL}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.(Renewer).Renew(context.Background(), "tok")
		switch {
		case tc.ok != (err == nil):
			t.Errorf("extend answering %q: err %v", tc.body, err)
		case tc.ok && (tok.AccessToken != tc.token || tok.ExpiresAt.IsZero() == tc.expiry):
			t.Errorf("extend answering %q: token %q, expiry %v", tc.body, tok.AccessToken, tok.ExpiresAt)
		}
		srv.Close()
	}
}
