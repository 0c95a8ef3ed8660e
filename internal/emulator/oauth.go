package emulator

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// The OAuth 2.0 skeleton the token-issuing services share: reading a
// token request, authenticating its client, and answering it.

// oauthError is an RFC 6749 §5.2 token-endpoint error. hint is
// league/oauth2-server's optional extra field, sent only when set.
type oauthError struct {
	status int
	code   string
	desc   string
	hint   string
}

func (o *oauthError) Error() string { return o.code + ": " + o.desc }

func badRequest(code, desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, desc: desc}
}

// oauthStyle is how one service answers errors on its token and
// revocation endpoints; every such endpoint answers through it.
type oauthStyle struct {
	// realm names the Basic challenge a 401 carries (RFC 6749 §5.2).
	realm string
	// challengeAlways sends the challenge with every 401, as a server
	// that accepts Basic alone does; otherwise only a request that tried
	// an Authorization header gets it.
	challengeAlways bool
	// okta, when set and true, switches error bodies to Okta's shape
	// (the Acquia login service is Okta-backed and may answer that way).
	okta func() bool
}

// fail writes o in RFC 6749 shape, or in Okta's while st.okta says so.
func (st oauthStyle) fail(w http.ResponseWriter, r *http.Request, o *oauthError) {
	if o.status == http.StatusUnauthorized && (st.challengeAlways || r.Header.Get("Authorization") != "") {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+st.realm+`"`)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if st.okta != nil && st.okta() {
		writeJSON(w, o.status, map[string]any{
			"errorCode":    o.code,
			"errorSummary": o.desc,
			"errorLink":    o.code,
			"errorId":      "oae" + randomHex(11),
			"errorCauses":  []any{},
		})
		return
	}
	body := map[string]string{"error": o.code, "error_description": o.desc}
	if o.hint != "" {
		body["hint"] = o.hint
	}
	writeJSON(w, o.status, body)
}

// postOnly lets a POST through and answers anything else 405 with
// Allow: POST, in st's error shape. endpoint starts the message ("The
// token endpoint").
func (st oauthStyle) postOnly(w http.ResponseWriter, r *http.Request, endpoint string) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", http.MethodPost)
	st.fail(w, r, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: endpoint + " only accepts POST."})
	return false
}

// serveToken is a token endpoint: POST only, then grant's token response
// or its error in st's shape.
func (st oauthStyle) serveToken(w http.ResponseWriter, r *http.Request, endpoint string,
	grant func(http.ResponseWriter, *http.Request) (map[string]any, *oauthError)) {
	if !st.postOnly(w, r, endpoint) {
		return
	}
	resp, oerr := grant(w, r)
	if oerr != nil {
		st.fail(w, r, oerr)
		return
	}
	writeTokenResponse(w, resp)
}

// revocationRequest reads an RFC 7009 request up to its token: POST only,
// a form body, the client authenticated by auth before the token is
// looked at (§2.1), then a non-empty token parameter, the missing error
// without one. On any failure it has answered in st's shape.
func revocationRequest[C any](w http.ResponseWriter, r *http.Request, st oauthStyle, endpoint string,
	auth func(*http.Request, url.Values) (C, *oauthError), missing *oauthError) (C, url.Values, bool) {
	var client C
	if !st.postOnly(w, r, endpoint) {
		return client, nil, false
	}
	form, oerr := tokenForm(w, r)
	if oerr == nil {
		client, oerr = auth(r, form)
	}
	if oerr == nil && form.Get("token") == "" {
		oerr = missing
	}
	if oerr != nil {
		st.fail(w, r, oerr)
		return client, nil, false
	}
	return client, form, true
}

// revocationAnswer ends an RFC 7009 revocation: 200 whether or not a
// token was revoked (§2.2), unless notFound asks for what some servers
// answer a token they did not revoke (unknown, expired, revoked already or
// another client's): 404 invalid_token.
func (st oauthStyle) revocationAnswer(w http.ResponseWriter, r *http.Request, revoked, notFound bool) {
	if !revoked && notFound {
		st.fail(w, r, &oauthError{status: http.StatusNotFound, code: "invalid_token",
			desc: "The token is unknown, expired or revoked already."})
		return
	}
	w.WriteHeader(http.StatusOK)
}

// writeTokenResponse sends a successful token answer; RFC 6749 §5.1 forbids
// caching it.
func writeTokenResponse(w http.ResponseWriter, resp map[string]any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// onlyClientCredentials checks the grant_type of a server that offers the
// client credentials grant alone.
func onlyClientCredentials(form url.Values) *oauthError {
	switch form.Get("grant_type") {
	case "":
		return badRequest("invalid_request", "The request is missing the grant_type parameter.")
	case "client_credentials":
		return nil
	default:
		return badRequest("unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
	}
}

// clientCredentialsRequest reads a token request of a server that offers
// the client credentials grant alone, checking in the order common OAuth
// servers do (league/oauth2-server, for one): the body, the grant type,
// then the client, by auth. Which error a doubly-wrong request gets is
// therefore predictable.
func clientCredentialsRequest[C any](w http.ResponseWriter, r *http.Request,
	auth func(*http.Request, url.Values) (C, *oauthError)) (C, url.Values, *oauthError) {
	var client C
	form, oerr := tokenForm(w, r)
	if oerr == nil {
		oerr = onlyClientCredentials(form)
	}
	if oerr == nil {
		client, oerr = auth(r, form)
	}
	return client, form, oerr
}

// maxFormBytes bounds a token request body; real ones are a few hundred
// bytes.
const maxFormBytes = 64 << 10

// tokenForm reads a token request's parameters the strict way RFC 6749 asks
// for: form-encoded body only (§3.2: never the URI for credentials), each
// parameter at most once.
func tokenForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("invalid_request", "The request body must be application/x-www-form-urlencoded.")
	}
	if q := r.URL.Query(); q.Has("client_secret") || q.Has("client_id") {
		return nil, badRequest("invalid_request", "Client credentials must not be sent in the request URI.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &oauthError{status: http.StatusRequestEntityTooLarge, code: "invalid_request", desc: "The request body is too large."}
		}
		return nil, badRequest("invalid_request", "The request body is not valid form encoding.")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, badRequest("invalid_request", "The "+safeName(k)+" parameter was sent more than once.")
		}
	}
	return r.PostForm, nil
}

// safeName keeps a client-chosen parameter name out of a response unless
// it is a plain identifier, so nothing odd is echoed back.
func safeName(k string) string {
	if len(k) > 40 || strings.ContainsFunc(k, func(c rune) bool { return !identRune(c) }) {
		return "a"
	}
	return k
}

// identRune reports whether c is an ASCII letter, digit or underscore.
func identRune(c rune) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// bearerToken extracts an RFC 6750 §2.1 bearer token; the scheme name is
// case-insensitive (RFC 7235 §2.1).
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// bearerLive finds the live token of service that r presents as its
// Bearer credential.
func (e *Emulator) bearerLive(r *http.Request, service string) (Token, bool) {
	value, ok := bearerToken(r)
	if !ok {
		return Token{}, false
	}
	return e.liveToken(service, value)
}

// clientCredentials takes the client's id and secret from the form body or
// HTTP Basic, never both (RFC 6749 §2.3: one method per request).
//
// Basic credentials are compared exactly as base64-decoded, WITHOUT the
// form-url-decoding RFC 6749 §2.3.1 prescribes: that is what the real
// server does, so a spec-following client whose secret holds + / = fails.
func clientCredentials(r *http.Request, form map[string][]string) (id, secret string, oerr *oauthError) {
	get := func(k string) (string, bool) {
		v, ok := form[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	bodyID, hasID := get("client_id")
	bodySecret, hasSecret := get("client_secret")

	if r.Header.Get("Authorization") != "" {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return "", "", &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: cloudClientFailed}
		}
		if hasSecret {
			return "", "", badRequest("invalid_request", "The client used more than one authentication method.")
		}
		if hasID && bodyID != user {
			return "", "", badRequest("invalid_request", "The client_id parameter does not match the authenticated client.")
		}
		return user, pass, nil
	}
	if !hasID || bodyID == "" || !hasSecret || bodySecret == "" {
		return "", "", badRequest("invalid_request", "The request is missing client credentials.")
	}
	return bodyID, bodySecret, nil
}
