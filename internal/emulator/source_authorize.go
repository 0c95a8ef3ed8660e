package emulator

import (
	"html"
	"net/http"
	"net/url"
	"strings"
)

// authzRequest is an authorization request (RFC 6749 §4.1.1) whose
// client and redirect_uri are known good: from here on, errors go back to
// the redirect_uri.
type authzRequest[C any] struct {
	q           url.Values
	client      C
	rawRedirect string
	back        *url.URL
	state       string
}

// startAuthorize checks what the Source and generic servers' authorize
// endpoints share: one client_id naming a known client and one
// redirect_uri it allows (until then an error must not redirect: an
// attacker could otherwise bounce users anywhere), no repeated parameter,
// response_type=code. nil means it answered the request itself.
func startAuthorize[C codeClient](w http.ResponseWriter, r *http.Request,
	lookup func(string) (C, bool), unknownClient string) *authzRequest[C] {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return nil
	}
	q := r.URL.Query()
	if len(q["client_id"]) != 1 || q.Get("client_id") == "" {
		sourceAuthorizePage(w, r, "invalid_request", "The client_id parameter is missing or repeated.")
		return nil
	}
	client, ok := lookup(q.Get("client_id"))
	if !ok {
		sourceAuthorizePage(w, r, "invalid_client", unknownClient)
		return nil
	}
	if len(q["redirect_uri"]) != 1 {
		sourceAuthorizePage(w, r, "invalid_request", "The redirect_uri parameter is missing or repeated.")
		return nil
	}
	a := &authzRequest[C]{q: q, client: client, rawRedirect: q.Get("redirect_uri"), state: q.Get("state")}
	a.back, ok = sourceRedirectURI(a.rawRedirect)
	if !ok || !client.allowsRedirect(a.rawRedirect, a.back) {
		sourceAuthorizePage(w, r, "invalid_request", "The redirect_uri is not valid for this client.")
		return nil
	}
	for k, v := range q {
		if len(v) > 1 {
			if k == "state" {
				a.state = ""
			}
			a.fail(w, "invalid_request", "The "+safeName(k)+" parameter was sent more than once.")
			return nil
		}
	}
	switch q.Get("response_type") {
	case "code":
	case "":
		a.fail(w, "invalid_request", "The response_type parameter is missing.")
		return nil
	default:
		a.fail(w, "unsupported_response_type", "The authorization server does not support this response type.")
		return nil
	}
	return a
}

// fail sends an error back to the redirect_uri (RFC 6749 §4.1.2.1).
func (a *authzRequest[C]) fail(w http.ResponseWriter, code, desc string) {
	sourceRedirect(w, a.back, url.Values{"error": {code}, "error_description": {desc}}, a.state)
}

// pkce accepts no challenge, or an S256 one (RFC 7636) of the right
// shape; it sends a refusal itself.
func (a *authzRequest[C]) pkce(w http.ResponseWriter, challenge, method string) bool {
	switch {
	case challenge == "" && method == "":
	case challenge == "":
		a.fail(w, "invalid_request", "code_challenge_method was sent without code_challenge.")
		return false
	case method != "S256":
		// RFC 7636 §4.3 makes a missing method mean "plain", which this
		// server refuses, like any method but S256.
		a.fail(w, "invalid_request", "Only the S256 code_challenge_method is supported.")
		return false
	case !sourcePKCEValue(challenge) || len(challenge) != 43:
		a.fail(w, "invalid_request", "The code_challenge must be a base64url SHA-256 digest without padding.")
		return false
	}
	return true
}

func (s *sourceService) authorize(w http.ResponseWriter, r *http.Request) {
	a := startAuthorize(w, r, s.client, "Client authentication failed")
	if a == nil {
		return
	}
	scopes, ok := sourceParseScope(a.q.Get("scope"))
	if !ok || !a.client.allows(scopes) {
		a.fail(w, "invalid_scope", sourceDescInvalidScope)
		return
	}
	approve(w, s.flow, a, strings.Join(scopes, " "))
}

// sourceAuthorizePage answers an authorization request that must not redirect
// (RFC 6749 §4.1.2.1: unknown client or bad redirect_uri), as a page for a
// browser and as JSON for anything else.
func sourceAuthorizePage(w http.ResponseWriter, r *http.Request, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("<!DOCTYPE html>\n<title>Authorization failed</title>\n<h1>Authorization failed</h1>\n<p>" +
			html.EscapeString(desc) + "</p>\n"))
		return
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

// sourceRedirect sends the browser back to the client, keeping the
// redirect_uri's own query as RFC 6749 §3.1.2 requires.
func sourceRedirect(w http.ResponseWriter, u *url.URL, params url.Values, state string) {
	if state != "" {
		params.Set("state", state)
	}
	back := *u
	if back.RawQuery != "" {
		back.RawQuery += "&" + params.Encode()
	} else {
		back.RawQuery = params.Encode()
	}
	// Not http.Redirect: its HTML body would repeat the code.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", back.String())
	w.WriteHeader(http.StatusFound)
}

// sourceRedirectURI parses a redirect_uri as RFC 6749 §3.1.2 requires:
// absolute, http(s), no fragment.
func sourceRedirectURI(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" ||
		strings.Contains(raw, "#") {
		return nil, false
	}
	return u, true
}

func (c SourceClient) allowsRedirect(raw string, u *url.URL) bool {
	return redirectAllowed(c.RedirectURIs, raw, u)
}

func (c SourceClient) clientID() string { return c.ID }

// sourcePKCEValue checks RFC 7636's alphabet for verifiers and challenges.
func sourcePKCEValue(v string) bool {
	return !strings.ContainsFunc(v, func(c rune) bool { return !pkceRune(c) })
}

// pkceRune reports whether c is in RFC 7636's unreserved alphabet:
// ASCII letters and digits and "-._~".
func pkceRune(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)
}
