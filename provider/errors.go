package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Error is an upstream call that failed. Its text names the operation, the
// upstream host, the HTTP status and the upstream error code, and says what
// to do; it never holds a secret or a token.
type Error struct {
	Op     string // what the plugin tried, e.g. "token request"
	Host   string
	Status int    // 0 when no HTTP answer came back
	Code   string // upstream error code (RFC 6749 error, Okta errorCode, ...)
	Detail string // upstream description or transport failure, scrubbed
	Hint   string // what the operator can do
	// Retryable marks failures worth trying again later: no answer, 429,
	// 5xx. Vault retries a failed lease revoke; the plugin retries inside
	// one call already.
	Retryable bool
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s to %s failed", e.Op, e.Host)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, " (%s)", e.Hint)
	}
	return b.String()
}

// IsStatus reports whether err is an upstream answer with one of codes.
func IsStatus(err error, codes ...int) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if e.Status == c {
			return true
		}
	}
	return false
}

// AnswerLost reports whether err ends a request that creates something
// (a token) without a usable answer: none came (a transport failure, a
// timeout), a success came that could not be read, or a 5xx came that a
// gateway may send after the work was done (all but 503, which says the
// server did nothing, as the creating client's retry policy takes it).
// The upstream may have created it all the same, and nothing the client
// holds names it.
func AnswerLost(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == 0 || e.Status/100 == 2 ||
		e.Status >= 500 && e.Status != http.StatusServiceUnavailable)
}

// IsRefusal reports whether err is the upstream refusing the request (a 4xx
// other than 429): retrying will not help, the input or credentials must
// change.
func IsRefusal(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status >= 400 && e.Status < 500 && e.Status != 429
}

// errorBody understands the error shapes the four services use: RFC 6749
// {"error","error_description"}, Okta {"errorCode","errorSummary"}, CDP
// {"errorCode","userMessage"}, Acronis {"error":{"code","message"}} and Cloud
// API {"error","message"}.
type errorBody struct {
	Error            json.RawMessage `json:"error"`
	ErrorDescription string          `json:"error_description"`
	Message          json.RawMessage `json:"message"`
	ErrorCode        string          `json:"errorCode"`
	ErrorSummary     string          `json:"errorSummary"`
	UserMessage      string          `json:"userMessage"`
}

// parseErrorBody returns the upstream error code and description, if body
// holds one of the known shapes.
func parseErrorBody(body []byte) (code, desc string) {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil {
		return "", ""
	}
	if len(eb.Error) > 0 {
		var s string
		if json.Unmarshal(eb.Error, &s) == nil {
			code = s
		} else {
			var nested struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}
			if json.Unmarshal(eb.Error, &nested) == nil {
				code, desc = nested.Code, nested.Message
			}
		}
	}
	if code == "" {
		code = eb.ErrorCode
	}
	for _, d := range []string{eb.ErrorDescription, eb.ErrorSummary, eb.UserMessage, rawString(eb.Message)} {
		if desc == "" && d != "" {
			desc = d
		}
	}
	return code, desc
}

// rawString reads a JSON string, or joins a list of strings (Cloud API's
// multiple_errors).
func rawString(m json.RawMessage) string {
	if len(m) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(m, &s) == nil {
		return s
	}
	var l []string
	if json.Unmarshal(m, &l) == nil {
		return strings.Join(l, "; ")
	}
	return ""
}

// answerError turns a refusing answer into an *Error: status, upstream
// error code and description, scrubbed of secrets. Callers add the hint.
func answerError(op, host string, status int, body []byte, secrets []string) *Error {
	code, desc := parseErrorBody(body)
	return upstreamError(op, host, status, code, desc, secrets)
}

// upstreamError is answerError for a code and description already parsed:
// x/oauth2 parses token endpoint errors itself.
func upstreamError(op, host string, status int, code, desc string, secrets []string) *Error {
	return &Error{Op: op, Host: host, Status: status, Code: scrub(code, secrets), Detail: scrub(desc, secrets),
		Retryable: status == http.StatusTooManyRequests || status >= 500}
}

// hostOf names an upstream in an error by the host of its URL.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the upstream"
	}
	return u.Host
}

// maxDetail keeps error text readable; upstream descriptions can be pages.
const maxDetail = 200

// scrub removes every secret from s and bounds its length.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		s = strings.ReplaceAll(s, sec, "[redacted]")
		// Form and query encodings of the secret too.
		if enc := url.QueryEscape(sec); enc != sec {
			s = strings.ReplaceAll(s, enc, "[redacted]")
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxDetail {
		// Cut between characters, or the error is not valid UTF-8.
		cut := maxDetail
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// opURLField names the config field whose URL each operation calls, so an
// error can say which one to fix.
var opURLField = map[string]string{
	"token request":     "token_url",
	"code exchange":     "token_url",
	"token refresh":     "token_url",
	"token revocation":  "revocation_url",
	"account check":     "api_url",
	"key create":        "api_url",
	"key delete":        "api_url",
	"client check":      "base_url",
	"token create":      "base_url",
	"token extend":      "base_url",
	"token delete":      "base_url",
	"credential check":  "base_url",
	"delete all tokens": "base_url",
	"login":             "base_url",
	"logout":            "base_url",
}

// transportError describes a call that got no usable HTTP answer.
func transportError(op, host string, err error, timeout string, secrets []string) *Error {
	var redirect *RedirectError
	if errors.As(err, &redirect) {
		field := opURLField[op]
		if field == "" {
			field = "the URL"
		}
		return &Error{Op: op, Host: host, Status: redirect.Status, Code: "redirect",
			Detail: scrub("answered with a redirect to "+redirect.Location, secrets),
			Hint:   "redirects are not followed; point " + field + " at the final URL"}
	}
	e := &Error{Op: op, Host: host, Retryable: true}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		e.Detail = "no answer within request_timeout " + timeout
		e.Hint = "the upstream is slow or unreachable; raise request_timeout or try again"
	case errors.Is(err, context.Canceled):
		e.Detail = "request canceled"
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is known from Host; keep the cause
		}
		e.Detail = scrub(err.Error(), secrets)
		e.Hint = "check the URL and the network path to it"
	}
	return e
}

// HasCode reports whether err is an upstream answer carrying one of the
// error codes, e.g. invalid_grant.
func HasCode(err error, codes ...string) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}
