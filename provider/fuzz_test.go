package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// Fuzz targets for every parser of an upstream answer. `make fuzz` runs
// each for a minute; `go test` runs their seed corpora (testdata/fuzz).
// Upstream answers may echo what they were sent: $SECRET in a fuzzed body
// becomes the client secret, which must never reach an error.

const fuzzSecret = "fz+Secret/With=:chars"

// fuzzStatus maps any int to a status a server may send.
func fuzzStatus(n int) int {
	if n < 0 {
		n = -n
	}
	return 200 + n%400
}

var fuzzContentTypes = []string{"application/json", "application/json; charset=utf-8", "text/plain",
	"application/x-www-form-urlencoded", "text/html", ""}

// checkErrorText holds for every error an upstream answer can cause: an
// *Error naming the host and status, without the secret, valid UTF-8
// when the answer was.
func checkErrorText(t *testing.T, err error, host string, status int, bodyUTF8 bool) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("not an *Error: %T %v", err, err)
	}
	text := err.Error()
	if strings.Contains(text, fuzzSecret) {
		t.Fatalf("the secret reached an error: %s", text)
	}
	if !strings.Contains(text, host) {
		t.Fatalf("the error does not name %s: %s", host, text)
	}
	if status != 0 && e.Status != 0 && !strings.Contains(text, fmt.Sprintf("HTTP %d", e.Status)) {
		t.Fatalf("the error does not name its status: %s", text)
	}
	if bodyUTF8 && !utf8.ValidString(text) {
		t.Fatalf("the error is not valid UTF-8: %q", text)
	}
}

// FuzzTokenAnswer: what a token endpoint answers, through each OAuth
// provider's whole client (x/oauth2's parsing, then convert or
// tokenError), over a loopback server.
func FuzzTokenAnswer(f *testing.F) {
	var mu sync.Mutex
	var status int
	var ctype string
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s, ct, b := status, ctype, body
		mu.Unlock()
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(s)
		_, _ = w.Write(b)
	}))
	f.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	clients := map[string]Client{}
	for _, name := range []string{"oauth2", "cloud", "source", "acronis"} {
		c, err := New(Config{Provider: name, ClientID: "fz-client", ClientSecret: fuzzSecret, TokenURL: srv.URL + "/token",
			BaseURL: srv.URL, APIURL: srv.URL + "/api", RequestTimeout: 100 * time.Millisecond}, Options{})
		if err != nil {
			f.Fatal(err)
		}
		clients[name] = c
	}
	names := []string{"oauth2", "cloud", "source", "acronis"}

	f.Add(0, 0, 0, []byte(`{"access_token":"abc","token_type":"Bearer","expires_in":300,"scope":"read write"}`))
	f.Add(3, 0, 0, []byte(`{"access_token":"abc","token_type":"bearer","expires_in":7200,"expires_on":1900000000,"id_token":"x.y.z"}`))
	f.Add(0, 2, 0, []byte(`access_token=abc&token_type=bearer&expires_in=300`))
	f.Add(1, 0, 201, []byte(`{"error":"invalid_client","error_description":"bad $SECRET"}`))
	f.Add(1, 0, 200, []byte(`{"errorCode":"E0000004","errorSummary":"Authentication failed"}`))
	f.Add(3, 0, 201, []byte(`{"error":{"code":"forbidden","message":"no"}}`))
	f.Add(2, 4, 300, []byte(`<html>503 Service Unavailable</html>`))
	f.Add(0, 0, 0, []byte(`{"access_token":"abc","token_type":"mac"}`))
	f.Add(0, 0, 0, []byte(`{"access_token":"trunc`))
	f.Fuzz(func(t *testing.T, provider, ct, st int, answer []byte) {
		name := names[abs(provider)%len(names)]
		mu.Lock()
		status, ctype = fuzzStatus(st), fuzzContentTypes[abs(ct)%len(fuzzContentTypes)]
		body = bytes.ReplaceAll(answer, []byte("$SECRET"), []byte(fuzzSecret))
		s := status
		mu.Unlock()
		start := time.Now()
		tok, err := clients[name].Token(context.Background(), []string{"read"})
		if err != nil {
			checkErrorText(t, err, host, s, utf8.Valid(answer))
			return
		}
		if s/100 != 2 {
			t.Fatalf("%s: HTTP %d taken for a token", name, s)
		}
		if tok.AccessToken == "" {
			t.Fatalf("%s: a token without access_token", name)
		}
		if !bytes.Contains(answer, []byte("expires_on")) && tok.ExpiresAt.Before(start) {
			t.Fatalf("%s: expires_at %s before the request was sent (%s)", name, tok.ExpiresAt, start)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n {
			return 0
		}
		return -n
	}
	return n
}

// FuzzConvertExpiry: expires_in and expires_on as numbers or strings, and
// token_type, straight into convert.
func FuzzConvertExpiry(f *testing.F) {
	c := &oauthClient{cfg: Config{TokenURL: "https://idp.example.com/token"}, lifetime: 5 * time.Minute}
	f.Add(int64(300), "", int64(0), "", "Bearer")
	f.Add(int64(7200), "", int64(1900000000), "", "bearer")
	f.Add(int64(0), "300", int64(0), "1900000000", "")
	f.Add(int64(0), "", int64(0), "", "MAC")
	f.Add(int64(-5), "-5", int64(-5), "-5", "Bearer")
	f.Fuzz(func(t *testing.T, in int64, rawIn string, on int64, rawOn string, tokenType string) {
		extra := map[string]any{}
		if rawIn != "" {
			extra["expires_in"] = rawIn
		} else if in != 0 {
			extra["expires_in"] = float64(in)
		}
		if rawOn != "" {
			extra["expires_on"] = rawOn
		} else if on != 0 {
			extra["expires_on"] = float64(on)
		}
		ot := (&oauth2.Token{AccessToken: "abc", TokenType: tokenType, ExpiresIn: in}).WithExtra(extra)
		start := time.Now()
		tok, err := c.convert(ot, []string{"read"}, start)
		if err != nil {
			checkErrorText(t, err, "idp.example.com", 0, utf8.ValidString(tokenType))
			return
		}
		if !strings.EqualFold(tokenType, "bearer") && tokenType != "" {
			t.Fatalf("token_type %q accepted", tokenType)
		}
		if _, hasOn := extra["expires_on"]; !hasOn && tok.ExpiresAt.Before(start) {
			t.Fatalf("expires_in %d / %q gives expires_at %s, before the request (%s)", in, rawIn, tok.ExpiresAt, start)
		}
	})
}

// FuzzErrorBody: every error shape (RFC 6749, Okta, CDP, Acronis, Cloud),
// and anything else, into parseErrorBody and answerError.
func FuzzErrorBody(f *testing.F) {
	f.Add(400, []byte(`{"error":"invalid_grant","error_description":"The refresh token is invalid."}`))
	f.Add(401, []byte(`{"errorCode":"E0000004","errorSummary":"Authentication failed","errorLink":"E0000004","errorId":"x"}`))
	f.Add(401, []byte(`{"errorCode":"INVALID_CREDENTIALS","userMessage":"Invalid credentials $SECRET","developerMessage":"x"}`))
	f.Add(403, []byte(`{"error":{"code":"forbidden","message":"Access denied","details":{}}}`))
	f.Add(400, []byte(`{"error":"multiple_errors","message":["first","second"]}`))
	f.Add(503, []byte(`{"error":"system","message":"A dependency is down."}`))
	f.Add(502, []byte(`<html><body>Bad Gateway</body></html>`))
	f.Add(400, []byte(`{"error":"x","error_description":"`+strings.Repeat("é", 150)+`"}`))
	f.Add(0, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		body = bytes.ReplaceAll(body, []byte("$SECRET"), []byte(fuzzSecret))
		code, desc := parseErrorBody(body)
		_ = code + desc
		st := fuzzStatus(status)
		e := answerError("token request", "idp.example.com", st, body, []string{fuzzSecret})
		checkErrorText(t, e, "idp.example.com", st, utf8.Valid(body))
		if len(e.Detail) > maxDetail+len("…") || len(e.Code) > maxDetail+len("…") {
			t.Fatalf("unbounded error text: %d, %d bytes", len(e.Detail), len(e.Code))
		}
	})
}

// FuzzCDPAnswer: CDP token answers (create, extend, retrieve) into parse,
// and the password expiry date they carry into the warnings.
func FuzzCDPAnswer(f *testing.F) {
	c := &cdpClient{cfg: Config{BaseURL: "https://auth.agilone.com", Password: fuzzSecret}}
	f.Add([]byte(`{"access_token":"tok","token_type":"bearer","expires_in":15551999,"tenantId":"abc","username":"tracker_1","userType":"CLIENT","passwordExpiryDate":"2027-01-01T00:00:00"}`))
	f.Add([]byte(`{"access_token":"tok","expires_in":"15551999","tenantId":1234}`))
	f.Add([]byte(`{"access_token":"tok","tenantId":null,"passwordExpiryDate":"2026-13-45T99:99:99"}`))
	f.Add([]byte(`{"errorCode":"E500_INTERNAL_SERVER_ERROR","userMessage":"x"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		start := time.Now()
		tok, err := c.parse("token create", body, start)
		if err != nil {
			checkErrorText(t, err, "auth.agilone.com", 200, true)
			return
		}
		if tok.AccessToken == "" {
			t.Fatal("a token without access_token")
		}
		if !tok.ExpiresAt.After(start) {
			t.Fatalf("expires_at %s is not after the request (%s)", tok.ExpiresAt, start)
		}
		for k, v := range tok.Data {
			if v == "" || v == "null" {
				t.Fatalf("data %s = %q", k, v)
			}
		}
		_ = PasswordExpiryWarnings(tok.Data["password_expiry_date"], start)
	})
}

// FuzzRetryAfter: Retry-After as seconds, an HTTP date or anything else.
func FuzzRetryAfter(f *testing.F) {
	f.Add("1")
	f.Add("120")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	f.Add("-1")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		resp := &http.Response{Header: http.Header{}}
		resp.Header.Set("Retry-After", v)
		d, ok := retryAfter(resp)
		if ok && d < 0 {
			t.Fatalf("Retry-After %q: a negative wait %s", v, d)
		}
		if w := backoff(retryWaitMin, retryWaitMax, 1, resp); w < 0 {
			t.Fatalf("Retry-After %q: backoff %s", v, w)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if nextWaitFits(ctx, resp) && ok && d > maxRetryAfter {
			t.Fatalf("Retry-After %q: a wait of %s fits", v, d)
		}
	})
}
