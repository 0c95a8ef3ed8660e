package provider

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// oauthClient is the RFC 6749 token-endpoint client the cloud, source,
// acronis and oauth2 providers share: the client-credentials grant
// (golang.org/x/oauth2 does the exchange), reading its answer, RFC 7009
// revocation and other calls made with the config's HTTP clients.
type oauthClient struct {
	cfg      Config
	opts     Options
	http     *httpClients
	lifetime time.Duration // used when the answer carries no expiry
	// hints turns an upstream error code into advice for the operator.
	hints func(code string, status int) string
	// refine, where set, adjusts a token endpoint error of operation op
	// once hints have run: for advice that needs the operation or the
	// upstream's description.
	refine func(op string, e *Error)
	// rawBasic sends Basic credentials as they are, not form-encoded:
	// for servers that do not decode them. Where a server refuses them
	// raw as invalid_client, they are tried form-encoded once, and that
	// is remembered (basicEncodedServers).
	rawBasic bool
	// bearerRevoke retries a revocation refused with 401 once, with the
	// token itself as the Bearer credential.
	bearerRevoke bool
}

// noTokenTypeHosts are the token endpoints whose answers without
// token_type were logged: once per endpoint and process, since a config's
// clients are rebuilt on every write.
var noTokenTypeHosts sync.Map

func newOAuthClient(c Config, o Options, lifetime time.Duration) (*oauthClient, error) {
	h, err := newHTTPClients(c, o)
	if err != nil {
		return nil, err
	}
	return &oauthClient{cfg: c, opts: o, http: h, lifetime: lifetime}, nil
}

func (c *oauthClient) host() string { return hostOf(c.cfg.TokenURL) }

// AssumedLifetime is the lifetime a token is taken to have when the answer
// gives none: the documented one, or the provider's assumption.
func (c *oauthClient) AssumedLifetime() time.Duration { return c.lifetime }

func (c *oauthClient) authStyle() oauth2.AuthStyle {
	if c.cfg.AuthStyle == AuthStyleBasic {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}

// clientCredentials requests a new token with the given scopes.
func (c *oauthClient) clientCredentials(ctx context.Context, scopes []string) (*Token, error) {
	ctx, cancel := context.WithTimeout(withOperation(ctx, "token request"), c.cfg.RequestTimeout)
	defer cancel()
	cc := clientcredentials.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		TokenURL:     c.cfg.TokenURL,
		Scopes:       scopes,
		AuthStyle:    c.authStyle(),
	}
	// Where tokens can be revoked they are worth revoking, so a request
	// that may have minted one unseen is not sent twice; elsewhere the
	// upstream forgets unused tokens at expiry and retries are free.
	hc := c.http.retrying
	if c.cfg.RevocationURL != "" {
		hc = c.http.creating
	}
	if !c.rawBasic || c.cfg.AuthStyle != AuthStyleBasic {
		start := c.opts.now()
		t, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
		if err != nil {
			return nil, c.tokenError("token request", err)
		}
		return c.convert(t, scopes, start)
	}
	// Basic as the server was last seen to take it (raw unless learned
	// otherwise); refused as invalid_client, the other encoding once,
	// where the two differ. Nothing is minted on a refusal, so the retry
	// cannot leave a token behind.
	encoded := c.formBasic()
	var first error
	for attempt := 0; ; attempt++ {
		id, secret := c.basicCredentials(encoded)
		rc := &http.Client{Transport: rawBasic{next: hc.Transport, id: id, secret: secret}, CheckRedirect: hc.CheckRedirect}
		start := c.opts.now()
		t, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, rc))
		if err == nil {
			c.learnBasic(encoded)
			return c.convert(t, scopes, start)
		}
		err = c.tokenError("token request", err)
		if first == nil {
			first = err
		}
		if attempt > 0 || !c.basicEncodingMatters() || !HasCode(err, "invalid_client") || ctx.Err() != nil {
			if attempt > 0 && HasCode(err, "invalid_client") {
				var e *Error
				if errors.As(first, &e) {
					e.Hint += "; HTTP Basic was tried both raw and form-encoded (RFC 6749 §2.3.1)"
				}
			}
			return nil, first
		}
		encoded = !encoded
	}
}

// basicEncodedServers remembers, per token endpoint and client, that the
// server took Basic credentials form-encoded where they are otherwise sent
// raw (rawBasic): a config's clients are rebuilt on every write, and the
// next one should not be refused first.
var basicEncodedServers sync.Map

func (c *oauthClient) basicKey() string { return c.cfg.TokenURL + "\x00" + c.cfg.ClientID }

// formBasic reports whether Basic credentials go form-encoded: always
// unless rawBasic, and there only once the server refused them raw and
// took them encoded.
func (c *oauthClient) formBasic() bool {
	if !c.rawBasic {
		return true
	}
	v, _ := basicEncodedServers.Load(c.basicKey())
	enc, _ := v.(bool)
	return enc
}

// learnBasic records which encoding the server took.
func (c *oauthClient) learnBasic(encoded bool) {
	if !c.rawBasic || encoded == c.formBasic() {
		return
	}
	if encoded {
		basicEncodedServers.Store(c.basicKey(), true)
	} else {
		basicEncodedServers.Delete(c.basicKey())
	}
}

// basicEncodingMatters reports whether raw and form-encoded Basic
// credentials differ, which they do when id or secret holds a character
// form encoding changes (+ / = : and others).
func (c *oauthClient) basicEncodingMatters() bool {
	return c.rawBasic && (url.QueryEscape(c.cfg.ClientID) != c.cfg.ClientID || url.QueryEscape(c.cfg.ClientSecret) != c.cfg.ClientSecret)
}

// basicCredentials are the client's id and secret as Basic sends them.
func (c *oauthClient) basicCredentials(encoded bool) (id, secret string) {
	if encoded {
		return url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret)
	}
	return c.cfg.ClientID, c.cfg.ClientSecret
}

// rawBasic replaces the form-encoded Basic credentials x/oauth2 sends
// (RFC 6749 §2.3.1) with the raw ones, for a server that does not decode
// them: there a secret holding + / = or : would not match.
type rawBasic struct {
	next       http.RoundTripper
	id, secret string
}

func (t rawBasic) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.SetBasicAuth(t.id, t.secret)
	return t.next.RoundTrip(r)
}

// convert maps an oauth2 token to ours. Expiry is counted from when the
// request was sent, so it is never later than the upstream's.
func (c *oauthClient) convert(t *oauth2.Token, requested []string, start time.Time) (*Token, error) {
	if !strings.EqualFold(t.TokenType, "bearer") && t.TokenType != "" {
		return nil, &Error{Op: "token request", Host: c.host(), Detail: "unsupported token_type " + strconv.Quote(t.TokenType),
			Hint: "the plugin hands out bearer tokens only"}
	}
	if t.TokenType == "" {
		// RFC 6749 §5.1 requires it, but many servers leave it out: taken
		// as bearer, and said once.
		if _, logged := noTokenTypeHosts.LoadOrStore(c.cfg.TokenURL, true); !logged {
			c.opts.logger().Debug("the token endpoint's answers carry no token_type (RFC 6749 §5.1 requires one); "+
				"their tokens are taken as bearer tokens", "host", c.host())
		}
	}
	tok := &Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken}
	tok.ExpiresAt = tokenExpiry(t, start, c.lifetime)
	if s, ok := t.Extra("scope").(string); ok && s != "" {
		tok.Scopes = SplitScopes(s)
	} else {
		tok.Scopes = append([]string(nil), requested...)
	}
	if id, ok := t.Extra("id_token").(string); ok && id != "" {
		tok.Data = map[string]string{"id_token": id}
	}
	return tok, nil
}

// tokenError turns an oauth2 failure into an *Error without secrets; also
// is what the request carried besides them (a code, a verifier, a refresh
// token), which an upstream may echo.
func (c *oauthClient) tokenError(op string, err error, also ...string) error {
	secrets := append(c.cfg.Secrets(), nonEmpty(also...)...)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code, desc := re.ErrorCode, re.ErrorDescription
		if code == "" {
			code, desc = parseErrorBody(re.Body)
		}
		e := upstreamError(op, c.host(), re.Response.StatusCode, code, desc, secrets)
		if c.hints != nil {
			e.Hint = c.hints(code, e.Status)
		}
		if e.Hint == "" {
			e.Hint = genericHint(code, e.Status, c.host())
		}
		if code == "invalid_client" && c.cfg.UsesAssertion() {
			e.Hint = assertionHint(c.host())
		}
		if c.refine != nil {
			c.refine(op, e)
		}
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return transportError(op, c.host(), err, c.cfg.RequestTimeout.String(), secrets)
	}
	// x/oauth2's own parse failures: a 2xx answer that is not a token.
	return &Error{Op: op, Host: c.host(), Status: 200, Code: "malformed_response",
		Detail: scrub(strings.TrimPrefix(err.Error(), "oauth2: "), secrets),
		Hint:   "the token endpoint answered with something that is not an OAuth 2.0 token; check token_url", Retryable: true}
}

// call sends one request that creates nothing upstream (retried on
// transport errors, 429 and 5xx within request_timeout) and returns the
// status and body. A failure without an HTTP answer is an *Error.
func (c *oauthClient) call(ctx context.Context, op string, req *http.Request, secrets []string) (int, []byte, error) {
	a, err := c.send(ctx, c.http.retrying, op, req, secrets)
	return a.status, a.body, err
}

// answer is an upstream's HTTP answer, read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// send is call with the HTTP client of the caller's choosing (creating for
// a request that makes something upstream), keeping the answer's headers.
func (c *oauthClient) send(ctx context.Context, hc *http.Client, op string, req *http.Request, secrets []string) (answer, error) {
	ctx, cancel := context.WithTimeout(withOperation(ctx, op), c.cfg.RequestTimeout)
	defer cancel()
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		return answer{}, transportError(op, req.URL.Host, err, c.cfg.RequestTimeout.String(), secrets)
	}
	body := readAndClose(resp, 64<<10)
	return answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func genericHint(code string, status int, host string) string {
	switch code {
	case "invalid_client":
		return "client_id/client_secret rejected by " + host + "; check them or write new ones to the config"
	case "invalid_scope":
		return "the client may not request these scopes; fix scopes on the role or config"
	case "unsupported_grant_type", "unauthorized_client":
		return "the client is not allowed this grant type upstream"
	case "invalid_grant":
		return "the grant was refused"
	}
	switch {
	case status == 429:
		return "rate limited by " + host + "; try again later"
	case status >= 500:
		return host + " is failing; Vault retries, or try again later"
	case status == 404 || status == 405:
		return "no token endpoint there; check token_url"
	}
	return ""
}

// revokeToken calls the RFC 7009 revocation endpoint with the config's
// client authentication. 200 means revoked, also for a token the server
// does not know (§2.2), and 400 invalid_token that the token is unusable
// already. Some servers answer an unknown or already revoked token with
// 404 instead: that counts as gone only when the answer is the server's
// JSON error naming the token (invalid_token or invalid_grant, see
// goneAnswer). A bare or HTML 404, or a JSON one of another kind (what a
// wrong or disabled revocation_url gets), fails the revoke, naming the
// URL: counting it as revoked would report live tokens gone.
// unsupported_token_type (§2.2.1) comes back as an *Error NotRevocable
// recognises. Where the server may instead take the token itself as a
// Bearer credential (bearerRevoke), a 401 to the client's credentials is
// tried once more that way; a 401 invalid_token to that is not taken on
// trust (confirmGone).
func (c *oauthClient) revokeToken(ctx context.Context, token, hint string) error {
	return c.revoke(ctx, token, hint, true)
}

// revoke is revokeToken; confirm says whether a Bearer invalid_token is
// confirmed before it counts as gone.
func (c *oauthClient) revoke(ctx context.Context, token, hint string, confirm bool) error {
	secrets := append(c.cfg.Secrets(), token)
	encoded := c.formBasic()
	a, err := c.sendRevocation(ctx, token, hint, revokeAuth{encoded: encoded}, secrets)
	if err != nil || a.status/100 == 2 {
		return err
	}
	host := hostOf(c.cfg.RevocationURL)
	var done bool
	if a.status == http.StatusUnauthorized && c.bearerRevoke {
		if a, done, err = c.revokeAsBearer(ctx, token, hint, a, secrets, host, confirm); done {
			return err
		}
	}
	if a.status == http.StatusUnauthorized && c.cfg.AuthStyle == AuthStyleBasic && c.basicEncodingMatters() {
		// The client's credentials refused as sent: the other Basic
		// encoding, once (see clientCredentials).
		if a, done, err = c.revokeEncodedOtherwise(ctx, token, hint, a, !encoded, secrets); done {
			return err
		}
	}
	return c.revocationRefused(a, host, secrets)
}

// revokeAsBearer follows a revocation refused with 401 to the client's
// credentials: the token itself is sent as the credential, once. done says
// that settles the revoke, with err; otherwise the answer to judge is
// returned: the new one, or refused (the first) where the token was
// refused as well.
func (c *oauthClient) revokeAsBearer(ctx context.Context, token, hint string, refused answer, secrets []string, host string, confirm bool) (answer, bool, error) {
	b, err := c.sendRevocation(ctx, token, hint, revokeAuth{bearer: true}, secrets)
	switch {
	case err != nil:
		return b, true, err
	case b.status/100 == 2:
		return b, true, nil
	case b.status == http.StatusUnauthorized && strings.Contains(b.header.Get("WWW-Authenticate"), "invalid_token"):
		if !confirm {
			return b, true, nil
		}
		return b, true, c.confirmGone(ctx, host)
	case b.status == http.StatusUnauthorized:
		return refused, false, nil
	}
	return b, false, nil
}

// revokeEncodedOtherwise follows a revocation refused with 401 to the
// client's Basic credentials: they are sent once more in the other
// encoding (encoded), which is learnt unless that is refused too. done
// says that settles the revoke, with err; otherwise the answer to judge is
// returned: the new one, or refused (the first) where it was refused too.
func (c *oauthClient) revokeEncodedOtherwise(ctx context.Context, token, hint string, refused answer, encoded bool, secrets []string) (answer, bool, error) {
	b, err := c.sendRevocation(ctx, token, hint, revokeAuth{encoded: encoded}, secrets)
	if err != nil {
		return b, true, err
	}
	if b.status == http.StatusUnauthorized {
		return refused, false, nil
	}
	c.learnBasic(encoded)
	return b, b.status/100 == 2, nil
}

// revocationRefused is the error of a revocation endpoint's final answer
// a, which is not a 2xx: nil where it says the token is gone already,
// otherwise an *Error with a hint at what to do.
func (c *oauthClient) revocationRefused(a answer, host string, secrets []string) error {
	e := answerError("token revocation", host, a.status, a.body, secrets)
	switch {
	case a.status == http.StatusBadRequest && e.Code == "invalid_token":
		return nil
	case a.status == http.StatusNotFound && goneAnswer(a):
		c.opts.logger().Debug("the revocation endpoint answered 404 "+e.Code+": the token is unknown there, or revoked already",
			"host", host)
		return nil
	case e.Code == "unsupported_token_type":
		e.Hint = "the server does not revoke this type of token; it stays valid until it expires"
	case (a.status == http.StatusUnauthorized || e.Code == "invalid_client") && c.cfg.UsesAssertion():
		e.Hint = assertionHint(e.Host) + "; Vault retries the revoke"
	case a.status == http.StatusUnauthorized || e.Code == "invalid_client":
		e.Hint = "client_id/client_secret rejected by " + e.Host + "; Vault retries the revoke, fix the config's credentials"
		if c.bearerRevoke {
			e.Hint = "the revocation endpoint refused the client's credentials and the token itself; Vault retries the revoke, " +
				"fix the config's credentials or revocation_url"
		}
	case a.status == http.StatusNotFound || a.status == http.StatusMethodNotAllowed:
		e.Hint = "no revocation endpoint at " + urlWithoutQuery(c.cfg.RevocationURL) +
			", or it is turned off (a 404 counts as revoked only with the server's JSON invalid_token error); check revocation_url"
	case e.Retryable:
		e.Hint = e.Host + " is failing; Vault retries the revoke"
	}
	return e
}

// goneAnswer reports whether a 404 from a revocation endpoint is the
// server saying it does not know the token: a JSON body whose error code,
// in RFC 6749's shape or Acronis' nested one, names the token as invalid.
// A wrong URL gets a bare 404, an HTML page or a generic not_found.
func goneAnswer(a answer) bool {
	mt, _, _ := mime.ParseMediaType(a.header.Get("Content-Type"))
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return false
	}
	code, _ := parseErrorBody(a.body)
	return code == "invalid_token" || code == "invalid_grant"
}

// urlWithoutQuery names an endpoint in an error: its query, if any, is
// left out in case it carries something private.
func urlWithoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return hostOf(raw)
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// confirmGone follows a Bearer revocation refused with 401 invalid_token:
// the token is gone, or its client is disabled, which makes the server
// refuse every token of the client, and those may work again once it is
// enabled. A token request tells which: a disabled client's is refused,
// and the revoke fails, so that Vault retries it (it succeeds at the
// token's expiry at the latest). An enabled client's is answered with a
// token, revoked at once, and the refused token counts as gone.
func (c *oauthClient) confirmGone(ctx context.Context, host string) error {
	probe, err := c.clientCredentials(ctx, c.cfg.Scopes)
	if err != nil {
		return &Error{Op: "token revocation", Host: host, Status: http.StatusUnauthorized, Code: "invalid_token",
			Detail: "the token was refused as its own credential, and so was a token request of its client (" + err.Error() +
				"), so the token may live on",
			Hint: "the API client may be disabled; Vault retries the revoke, which succeeds once the client is enabled again " +
				"or at the token's expiry"}
	}
	if err := c.revoke(ctx, probe.AccessToken, "access_token", false); err != nil && c.opts.Logger != nil {
		c.opts.Logger.Warn("could not revoke the token requested to confirm a revoke; it expires by itself",
			"host", host, "expires_at", probe.ExpiresAt, "error", err)
	}
	return nil
}

// revokeAuth is how one revocation request authenticates: by the token
// itself (bearer), or by the client's credentials as auth_style says, in
// HTTP Basic form-encoded or not (encoded; see basicCredentials).
type revokeAuth struct{ bearer, encoded bool }

// sendRevocation sends one revocation request, authenticated as auth says.
func (c *oauthClient) sendRevocation(ctx context.Context, token, hint string, auth revokeAuth, secrets []string) (answer, error) {
	bearer := auth.bearer
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	if !bearer && c.cfg.AuthStyle != AuthStyleBasic {
		// With private_key_jwt the transport adds the assertion.
		form.Set("client_id", c.cfg.ClientID)
		if !c.cfg.UsesAssertion() {
			form.Set("client_secret", c.cfg.ClientSecret)
		}
	}
	req, err := http.NewRequest(http.MethodPost, c.cfg.RevocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	switch {
	case bearer:
		req.Header.Set("Authorization", "Bearer "+token)
	case c.cfg.AuthStyle == AuthStyleBasic:
		req.SetBasicAuth(c.basicCredentials(auth.encoded))
	}
	// Revocation is idempotent, so transport errors and 5xx retry too.
	return c.send(ctx, c.http.retrying, "token revocation", req, secrets)
}

// NotRevocable reports whether err is a revocation endpoint saying it does
// not revoke this type of token (RFC 7009 unsupported_token_type): the
// token cannot be revoked and stays valid until it expires.
func NotRevocable(err error) bool { return HasCode(err, "unsupported_token_type") }

// maxLifetime bounds the lifetime an upstream's expires_in may claim.
// Seconds past about 292 years overflow a Duration, and the expiry would
// wrap into the past; a hundred years is as good as forever for a lease.
const maxLifetime = 100 * 365 * 24 * time.Hour

// expiresAfter is when a token answered at start with a lifetime of
// seconds (positive) expires.
func expiresAfter(start time.Time, seconds int64) time.Time {
	if seconds > int64(maxLifetime/time.Second) {
		return start.Add(maxLifetime)
	}
	return start.Add(time.Duration(seconds) * time.Second)
}

// tokenExpiry is when a token answered at start expires. Acronis sends
// expires_on (unix seconds), most others expires_in; with both, the
// earlier wins so a lease never outlives the token. x/oauth2's
// clientcredentials drops ExpiresIn and keeps only an Expiry on the wall
// clock, so the raw answer is read. Without either, the token lives
// fallback.
func tokenExpiry(t *oauth2.Token, start time.Time, fallback time.Duration) time.Time {
	var exp time.Time
	if in := max(t.ExpiresIn, extraInt(t, "expires_in")); in > 0 {
		exp = expiresAfter(start, in)
	}
	if on, ok := expiresOn(t); ok && (exp.IsZero() || on.Before(exp)) {
		exp = on
	}
	if exp.IsZero() {
		exp = start.Add(fallback)
	}
	return exp
}

func extraInt(t *oauth2.Token, key string) int64 {
	switch v := t.Extra(key).(type) {
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return 0
}
