package provider

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestConvertExpiry: expires_in counts from when the request was sent,
// expires_on is absolute, the earlier of the two wins, and without either
// the provider's default lifetime applies.
func TestConvertExpiry(t *testing.T) {
	const lifetime = 7 * time.Minute
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &oauthClient{cfg: Config{TokenURL: "https://idp.example/oauth/token"}, lifetime: lifetime}
	on := func(d time.Duration) float64 { return float64(start.Add(d).Unix()) }
	for _, tc := range []struct {
		name      string
		expiresIn int64 // as x/oauth2 fills it from a code or refresh answer
		extra     map[string]any
		want      time.Time
	}{
		{"expires_in only", 0, map[string]any{"expires_in": float64(300)}, start.Add(300 * time.Second)},
		{"expires_in from x/oauth2", 600, nil, start.Add(600 * time.Second)},
		{"expires_in as string", 0, map[string]any{"expires_in": "300"}, start.Add(300 * time.Second)},
		{"expires_in as json.Number", 0, map[string]any{"expires_in": json.Number("300")}, start.Add(300 * time.Second)},
		{"expires_on only", 0, map[string]any{"expires_on": on(2 * time.Hour)}, start.Add(2 * time.Hour)},
		{"expires_on as string", 0, map[string]any{"expires_on": strconv.FormatInt(start.Add(time.Hour).Unix(), 10)}, start.Add(time.Hour)},
		{"expires_on as json.Number", 0, map[string]any{"expires_on": json.Number(strconv.FormatInt(start.Add(time.Hour).Unix(), 10))},
			start.Add(time.Hour)},
		{"both, expires_on earlier", 0, map[string]any{"expires_in": float64(7200), "expires_on": on(time.Hour)}, start.Add(time.Hour)},
		{"both, expires_in earlier", 0, map[string]any{"expires_in": float64(600), "expires_on": on(time.Hour)}, start.Add(600 * time.Second)},
		{"both, expires_in from x/oauth2 earlier", 600, map[string]any{"expires_on": on(time.Hour)}, start.Add(600 * time.Second)},
		{"neither", 0, nil, start.Add(lifetime)},
		{"neither, other fields", 0, map[string]any{"scope": "read"}, start.Add(lifetime)},
		{"expires_in zero", 0, map[string]any{"expires_in": float64(0)}, start.Add(lifetime)},
		{"expires_in negative", 0, map[string]any{"expires_in": float64(-30)}, start.Add(lifetime)},
		{"expires_in garbage", 0, map[string]any{"expires_in": "soon"}, start.Add(lifetime)},
		{"expires_in null", 0, map[string]any{"expires_in": nil}, start.Add(lifetime)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ot := &oauth2.Token{AccessToken: "at", TokenType: "Bearer", ExpiresIn: tc.expiresIn}
			if tc.extra != nil {
				ot = ot.WithExtra(tc.extra)
			}
			tok, err := c.convert(ot, nil, start)
			if err != nil {
				t.Fatal(err)
			}
			if !tok.ExpiresAt.Equal(tc.want) {
				t.Errorf("ExpiresAt %s, want %s", tok.ExpiresAt.UTC(), tc.want)
			}
		})
	}
}

// TestConvertTokenType: token_type compares case-insensitively (RFC 6749
// §5.1); a missing one is taken as bearer; any other type is refused.
func TestConvertTokenType(t *testing.T) {
	c := &oauthClient{cfg: Config{TokenURL: "https://idp.example/oauth/token"}, lifetime: time.Minute}
	for _, tc := range []struct {
		typ string
		ok  bool
	}{
		{"Bearer", true},
		{"bearer", true},
		{"BEARER", true},
		{"bEaReR", true},
		{"", true},
		{"mac", false},
		{"DPoP", false},
		{"N_A", false},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			tok, err := c.convert(&oauth2.Token{AccessToken: "at", TokenType: tc.typ}, nil, time.Now())
			if tc.ok {
				if err != nil || tok == nil || tok.AccessToken != "at" {
					t.Fatalf("token_type %q: (%+v, %v), want the token", tc.typ, tok, err)
				}
				return
			}
			var e *Error
			if tok != nil || !errors.As(err, &e) || e.Host != "idp.example" || !strings.Contains(e.Detail, "unsupported token_type") || e.Hint == "" {
				t.Fatalf("token_type %q: (%+v, %v), want an *Error naming the type", tc.typ, tok, err)
			}
		})
	}
}

// TestConvertFields: scopes come from the answer when it names them, from
// the request otherwise; the refresh token and id_token are kept.
func TestConvertFields(t *testing.T) {
	c := &oauthClient{cfg: Config{TokenURL: "https://idp.example/oauth/token"}, lifetime: time.Minute}
	ot := (&oauth2.Token{AccessToken: "at", TokenType: "bearer", RefreshToken: "rt"}).
		WithExtra(map[string]any{"scope": "a b,c", "id_token": "idt"})
	tok, err := c.convert(ot, []string{"asked"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := &Token{AccessToken: "at", RefreshToken: "rt", Scopes: []string{"a", "b", "c"},
		Data: map[string]string{"id_token": "idt"}, ExpiresAt: tok.ExpiresAt}
	if !reflect.DeepEqual(tok, want) {
		t.Errorf("convert = %+v, want %+v", tok, want)
	}
	tok, err = c.convert(&oauth2.Token{AccessToken: "at"}, []string{"asked"}, time.Now())
	if err != nil || !reflect.DeepEqual(tok.Scopes, []string{"asked"}) || tok.Data != nil {
		t.Errorf("convert without scope or id_token = (%+v, %v), want the requested scopes and no data", tok, err)
	}
}
