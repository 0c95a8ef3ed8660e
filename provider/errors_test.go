package provider

import (
	"strings"
	"testing"
)

// TestParseErrorBody covers every error shape the four services and RFC 6749 use, and
// answers that hold none.
func TestParseErrorBody(t *testing.T) {
	for _, tc := range []struct {
		name, body, code, desc string
	}{
		{"RFC 6749", `{"error":"invalid_client","error_description":"Client authentication failed"}`,
			"invalid_client", "Client authentication failed"},
		{"RFC 6749 without description", `{"error":"invalid_grant"}`, "invalid_grant", ""},
		{"RFC 6749 with Drupal hint", `{"error":"invalid_grant","error_description":"The refresh token is invalid.","hint":"Token has been revoked"}`,
			"invalid_grant", "The refresh token is invalid."},
		{"Okta", `{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorLink":"E0000011","errorId":"oae1"}`,
			"E0000011", "Invalid token provided"},
		{"CDP", `{"errorCode":"INVALID_TOKEN","userMessage":"Invalid token","developerMessage":"0b7c1a9e-7f4c-4c39-9d0e-52a1d7a3c111"}`,
			"INVALID_TOKEN", "Invalid token"},
		{"CDP without userMessage", `{"errorCode":"E500_INTERNAL_SERVER_ERROR","developerMessage":"0b7c1a9e"}`,
			"E500_INTERNAL_SERVER_ERROR", ""},
		{"Acronis nested", `{"error":{"code":"Unauthorized","domain":"PlatformAccountServer","message":"Access token is expired","context":{}}}`,
			"Unauthorized", "Access token is expired"},
		{"Acronis nested without message", `{"error":{"code":"NotFound","domain":"PlatformAccountServer"}}`, "NotFound", ""},
		{"Cloud API", `{"error":"additional_authentication_required","message":"This resource requires additional authentication."}`,
			"additional_authentication_required", "This resource requires additional authentication."},
		{"Cloud API multiple_errors", `{"error":"multiple_errors","message":["The label is required.","The label is too long."]}`,
			"multiple_errors", "The label is required.; The label is too long."},
		{"Cloud API without message", `{"error":"system"}`, "system", ""},
		{"error_description before message", `{"error":"x","error_description":"first","message":"second"}`, "x", "first"},
		{"error before errorCode", `{"error":"invalid_client","errorCode":"E0000004","errorSummary":"Authentication failed"}`,
			"invalid_client", "Authentication failed"},
		{"message neither string nor list", `{"error":"x","message":{"field":"bad"}}`, "x", ""},
		{"error neither string nor object", `{"error":42,"errorCode":"E1"}`, "E1", ""},
		{"empty object", `{}`, "", ""},
		{"JSON null", `null`, "", ""},
		{"JSON list", `[{"error":"x"}]`, "", ""},
		{"JSON string", `"invalid_client"`, "", ""},
		{"empty body", ``, "", ""},
		{"garbage", `invalid_client: bad secret`, "", ""},
		{"truncated JSON", `{"error":"invalid_cli`, "", ""},
		{"HTML", `<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, desc := parseErrorBody([]byte(tc.body))
			if code != tc.code || desc != tc.desc {
				t.Errorf("parseErrorBody(%s) = (%q, %q), want (%q, %q)", tc.body, code, desc, tc.code, tc.desc)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	const secret = "Zm9v+YmFy/cXV4=" // base64, as Cloud secrets are: + / = change under query escaping
	long := strings.Repeat("x", maxDetail)
	for _, tc := range []struct {
		name, in string
		secrets  []string
		want     string
	}{
		{"no secrets", "invalid client", nil, "invalid client"},
		{"raw", "secret " + secret + " rejected", []string{secret}, "secret [redacted] rejected"},
		{"query-escaped", "body client_secret=Zm9v%2BYmFy%2FcXV4%3D&grant_type=x", []string{secret},
			"body client_secret=[redacted]&grant_type=x"},
		{"raw and escaped", secret + " " + "Zm9v%2BYmFy%2FcXV4%3D", []string{secret}, "[redacted] [redacted]"},
		{"space escapes to plus", "password=pass+word", []string{"pass word"}, "password=[redacted]"},
		{"every occurrence, every secret", "a1 b2 a1 b2", []string{"a1", "b2"}, "[redacted] [redacted] [redacted] [redacted]"},
		{"empty secret ignored", "abc", []string{"", "zz"}, "abc"},
		{"whitespace folded", "  line one\n\tline two \r\n  ", nil, "line one line two"},
		{"whitespace folded after redaction", "a \n" + secret + "\n b", []string{secret}, "a [redacted] b"},
		{"at the cap", long, nil, long},
		{"over the cap", long + "y", nil, long + "…"},
		{"secret across the cap is redacted before the cut", long[:maxDetail-4] + secret, []string{secret},
			long[:maxDetail-4] + "[red…"},
		{"cap counts after folding", strings.Repeat("x ", maxDetail/2) + "\n\n\n", nil, strings.Repeat("x ", maxDetail/2-1) + "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := scrub(tc.in, tc.secrets)
			if got != tc.want {
				t.Errorf("scrub(%q) =\n %q, want\n %q", tc.in, got, tc.want)
			}
			for _, s := range tc.secrets {
				if s != "" && strings.Contains(got, s) {
					t.Errorf("secret %q left in %q", s, got)
				}
			}
		})
	}
}
