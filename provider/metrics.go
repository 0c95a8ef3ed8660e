package provider

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"time"
)

// CallRecorder receives one report per upstream HTTP attempt: every retry
// is an attempt, and so is a request the transport sent again on a new
// connection after the old one failed. Options.Metrics holds it; nil
// records nothing. It must be safe for concurrent use.
type CallRecorder interface {
	// UpstreamCall reports one attempt of operation (an Op* name), its
	// outcome (an Outcome* name, or a 4xx status such as "401") and the
	// time from its start to the answer's headers or its failure.
	UpstreamCall(operation, outcome string, d time.Duration)
}

// Operation names of upstream calls, as CallRecorder receives them. They
// name what the request is on the wire, so the emulator can count the
// same (internal/emulator Operations): CDP's retrieve and its credential
// check are one request, retrieve; a token request sent to prove
// credentials (verify) is a token request.
const (
	OpToken        = "token"         // client credentials grant; CDP's token create
	OpCodeExchange = "code_exchange" // authorization code grant
	OpRefresh      = "refresh"       // refresh token grant, and verify's refresh probe
	OpRevoke       = "revoke"        // RFC 7009 revocation (source, oauth2, acronis)
	// OpDeviceAuth and OpDeviceToken are the device grant's (RFC 8628,
	// oauth2): the device authorization request, and each poll of the
	// token endpoint with the device code.
	OpDeviceAuth   = "device_authorization"
	OpDeviceToken  = "device_token"
	OpAccountCheck = "account_check" // cloud GET {api_url}/account
	OpKeyCreate    = "key_create"    // cloud POST {api_url}/account/tokens
	OpKeyList      = "key_list"      // cloud GET {api_url}/account/tokens
	OpKeyRead      = "key_read"      // cloud GET {api_url}/account/tokens/{uuid}
	OpKeyDelete    = "key_delete"    // cloud DELETE {api_url}/account/tokens/{uuid}
	OpClientCheck  = "client_check"  // acronis GET /api/2/clients/{client_id}
	OpRetrieve     = "retrieve"      // cdp GET /token (retrieve, credential check)
	OpExtend       = "extend"        // cdp POST /token?action=extend
	OpDelete       = "delete"        // cdp DELETE /token, Bearer: one token
	OpDeleteAll    = "delete_all"    // cdp DELETE /token, Basic: every token of the user
	OpLogin        = "login"         // cdp POST /authentication?action=login
	OpLogout       = "logout"        // cdp POST /authentication?action=logout
	// OpOther is a request sent without an operation: a bug, which
	// TestEveryOperationIsNamed catches.
	OpOther = "other"
)

// Outcomes of an upstream attempt besides a 4xx, which is its status
// ("400", "401", "429", ...).
const (
	OutcomeOK = "ok" // a 2xx answer
	// Outcome5xx is any 5xx answer.
	Outcome5xx = "5xx"
	// OutcomeTimeout: no answer within request_timeout (or a dial or TLS
	// handshake timeout).
	OutcomeTimeout = "timeout"
	// OutcomeCanceled: the caller gave up (Vault canceled the request).
	OutcomeCanceled = "canceled"
	// OutcomeNetworkError: no HTTP answer for another reason (connection
	// refused or reset, a TLS failure).
	OutcomeNetworkError = "network_error"
	// OutcomeRedirectRefused: a 3xx, which is never followed.
	OutcomeRedirectRefused = "redirect_refused"
)

// operations maps the operation an *Error names (its Op) to the name the
// CallRecorder gets.
var operations = map[string]string{
	"token request":        OpToken,
	"token create":         OpToken,
	"code exchange":        OpCodeExchange,
	"token refresh":        OpRefresh,
	"device authorization": OpDeviceAuth,
	"device token":         OpDeviceToken,
	"token revocation":     OpRevoke,
	"account check":        OpAccountCheck,
	"key create":           OpKeyCreate,
	"key list":             OpKeyList,
	"key read":             OpKeyRead,
	"key delete":           OpKeyDelete,
	"client check":         OpClientCheck,
	"token retrieve":       OpRetrieve,
	"credential check":     OpRetrieve,
	"token extend":         OpExtend,
	"token delete":         OpDelete,
	"delete all tokens":    OpDeleteAll,
	"login":                OpLogin,
	"logout":               OpLogout,
}

type operationKey struct{}

// withOperation marks the requests sent with ctx as operation op (an
// *Error's Op), for the CallRecorder.
func withOperation(ctx context.Context, op string) context.Context {
	name, ok := operations[op]
	if !ok {
		name = OpOther
	}
	return context.WithValue(ctx, operationKey{}, name)
}

func operationOf(ctx context.Context) string {
	if op, ok := ctx.Value(operationKey{}).(string); ok {
		return op
	}
	return OpOther
}

// metricsTransport reports every attempt that goes out under it to a
// CallRecorder. It sits above noRedirects, so a refused redirect is seen
// as one, and below the retrying client, so each retry is an attempt.
// net/http itself sends a request again on a new connection when a reused
// one failed before any answer (a GET, or one nothing was written of):
// each connection taken (httptrace GetConn) is an attempt, the ones
// before the last a network_error, so the count matches what the
// upstream received. A request that never got as far as taking a
// connection (its deadline passed first) never left: it is not counted.
type metricsTransport struct {
	next http.RoundTripper
	rec  CallRecorder
	// secrets are scrubbed from an error code an AnswerRecorder gets.
	secrets []string
}

func (t *metricsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var (
		mu     sync.Mutex
		starts []time.Time
	)
	trace := &httptrace.ClientTrace{GetConn: func(string) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
	}}
	op := operationOf(req.Context())
	resp, err := t.next.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	end := time.Now()
	mu.Lock()
	attempts := append([]time.Time(nil), starts...)
	mu.Unlock()
	for i, start := range attempts {
		if i < len(attempts)-1 {
			t.rec.UpstreamCall(op, OutcomeNetworkError, attempts[i+1].Sub(start))
			continue
		}
		t.rec.UpstreamCall(op, outcomeOf(resp, err), end.Sub(start))
	}
	if ar, ok := t.rec.(AnswerRecorder); ok && len(attempts) > 0 {
		return t.answer(ar, op, end, resp, err), err
	}
	return resp, err
}

// AnswerRecorder is a CallRecorder that also hears how each attempt it
// counted ended: its outcome, the HTTP status (0 when no answer came) and,
// for a failure answer, the upstream error code its body names, scrubbed
// of the config's secrets. config/:name/status shows the last ones.
type AnswerRecorder interface {
	UpstreamAnswer(operation, outcome string, status int, code string, at time.Time)
}

// maxSniff bounds what is read of a failure answer's body for its code.
const maxSniff = 16 << 10

// answer reports an attempt's end to ar: at once, or for a failure answer
// with a body when whoever reads it closes it (its code is in the body).
func (t *metricsTransport) answer(ar AnswerRecorder, op string, at time.Time, resp *http.Response, err error) *http.Response {
	outcome := outcomeOf(resp, err)
	if err != nil || resp == nil {
		status := 0
		var redirect *RedirectError
		if errors.As(err, &redirect) {
			status = redirect.Status
		}
		ar.UpstreamAnswer(op, outcome, status, "", at)
		return resp
	}
	if resp.StatusCode < 400 || resp.Body == nil {
		ar.UpstreamAnswer(op, outcome, resp.StatusCode, "", at)
		return resp
	}
	resp.Body = &codeSniffer{ReadCloser: resp.Body, report: func(body []byte) {
		code, _ := parseErrorBody(body)
		ar.UpstreamAnswer(op, outcome, resp.StatusCode, scrub(code, t.secrets), at)
	}}
	return resp
}

// codeSniffer keeps the start of a body as it is read, and hands it to
// report once, when the body is closed.
type codeSniffer struct {
	io.ReadCloser
	buf    bytes.Buffer
	once   sync.Once
	report func([]byte)
}

func (c *codeSniffer) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if room := maxSniff - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(n, room)])
	}
	return n, err
}

func (c *codeSniffer) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(func() { c.report(c.buf.Bytes()) })
	return err
}

// RecorderOf is the CallRecorder a client of this package was built with
// (Options.Metrics); nil for none.
func RecorderOf(client any) CallRecorder {
	if c, ok := client.(interface{ recorder() CallRecorder }); ok {
		return c.recorder()
	}
	return nil
}

func (c *oauthClient) recorder() CallRecorder { return c.opts.Metrics }
func (c *cdpClient) recorder() CallRecorder   { return c.opts.Metrics }

// outcomeOf names how an attempt ended.
func outcomeOf(resp *http.Response, err error) string {
	if err == nil {
		switch s := resp.StatusCode; {
		case s >= 500:
			return Outcome5xx
		case s >= 400:
			return strconv.Itoa(s)
		case s >= 300:
			return OutcomeRedirectRefused
		}
		return OutcomeOK
	}
	var redirect *RedirectError
	var ne net.Error
	switch {
	case errors.As(err, &redirect):
		return OutcomeRedirectRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return OutcomeTimeout
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	}
	return OutcomeNetworkError
}
