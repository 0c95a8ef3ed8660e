package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-retryablehttp"
)

// Retry policy: capped exponential backoff with full jitter, Retry-After
// honoured, all of it bounded by the call's context (request_timeout).
const (
	retryMax     = 4
	retryWaitMin = 200 * time.Millisecond
	retryWaitMax = 5 * time.Second
	// maxRetryAfter caps how long one Retry-After may make us wait; the
	// request_timeout deadline bounds it further.
	maxRetryAfter = 30 * time.Second
)

// maxConnsPerHost bounds the connections one config holds to one upstream
// host, open or idle. Vault revokes expired and prefix-revoked leases with
// up to 200 workers at once (vault lease revoke -prefix queues them so by
// default): unbounded, a mass revoke on a slow HTTP/1.1 upstream opened a
// connection (a TLS handshake) for nearly every lease and held up to 200
// at once against the config's account, and kept only GOMAXPROCS+1 of
// them idle afterwards. Calls beyond the bound wait for a free connection
// within their request_timeout. HTTP/2 upstreams carry them all on one.
const maxConnsPerHost = 32

// CertPool returns the system roots plus the PEM certificates in caPEM.
func CertPool(caPEM string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caPEM != "" && !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, fmt.Errorf("ca_cert holds no PEM certificate")
	}
	return pool, nil
}

// httpClients are the two clients one config uses: idempotent calls retry
// on transport errors and 5xx; calls that create something upstream retry
// only on answers that say nothing was done (429, 503).
type httpClients struct {
	retrying *http.Client
	creating *http.Client
}

func newHTTPClients(c Config, o Options) (*httpClients, error) {
	pool, err := CertPool(c.CACert)
	if err != nil {
		return nil, err
	}
	tr := cleanhttp.DefaultPooledTransport()
	tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost = maxConnsPerHost, maxConnsPerHost
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	var rt http.RoundTripper = noRedirects{next: &loggingTransport{next: tr, log: o.logger()}}
	if c.UsesAssertion() {
		// Under the retrying client, so each attempt signs anew, and
		// under the metrics, which see answers with echoes redacted.
		if rt, err = newAssertionTransport(rt, c, o); err != nil {
			return nil, err
		}
	}
	if o.Metrics != nil {
		// Under the retrying client, so each attempt is reported.
		rt = &metricsTransport{next: rt, rec: o.Metrics, secrets: c.Secrets()}
	}
	base := &http.Client{Transport: rt, CheckRedirect: refuseRedirect}
	mk := func(policy retryablehttp.CheckRetry) *http.Client {
		rc := &retryablehttp.Client{
			HTTPClient:   base,
			Logger:       nil, // loggingTransport logs each attempt, without URLs' queries
			RetryWaitMin: retryWaitMin,
			RetryWaitMax: retryWaitMax,
			RetryMax:     retryMax,
			CheckRetry:   policy,
			Backoff:      backoff,
			// Hand the last answer back so its status and error code
			// reach the operator.
			ErrorHandler: retryablehttp.PassthroughErrorHandler,
		}
		return &http.Client{Transport: &retryCounter{next: &retryablehttp.RoundTripper{Client: rc}}, CheckRedirect: refuseRedirect}
	}
	return &httpClients{retrying: mk(retryIdempotent), creating: mk(retryCreating)}, nil
}

// readAndClose reads at most limit bytes of resp's body and closes it. An
// error reading or closing leaves the bytes read so far: the caller judges
// the answer by its status and those.
func readAndClose(resp *http.Response, limit int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
	_ = resp.Body.Close()
	return b
}

// retryCounter gives each logical request its own attempt counter, so the
// retry policy can tell whether the next wait still fits the deadline.
type retryCounter struct{ next http.RoundTripper }

type attemptsKey struct{}

func (t *retryCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	n := 0
	return t.next.RoundTrip(req.WithContext(context.WithValue(req.Context(), attemptsKey{}, &n)))
}

// nextWaitFits counts an attempt and reports whether the longest wait before
// the next one still leaves time before the deadline. If not, the caller
// gives up now with the upstream's last answer rather than later with a
// bare timeout.
func nextWaitFits(ctx context.Context, resp *http.Response) bool {
	attempt := 0
	if n, ok := ctx.Value(attemptsKey{}).(*int); ok {
		attempt = *n
		*n++
	}
	wait, ok := retryAfter(resp)
	if ok && wait > maxRetryAfter {
		return false
	}
	if !ok {
		wait = backoffCeiling(retryWaitMin, retryWaitMax, attempt)
	}
	if dl, has := ctx.Deadline(); has && time.Until(dl) < wait+retryWaitMin {
		return false
	}
	return true
}

func retryIdempotent(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	var redirect *RedirectError
	if errors.As(err, &redirect) {
		return false, nil
	}
	retry, perr := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	if !retry || perr != nil {
		return retry, perr
	}
	return nextWaitFits(ctx, resp), nil
}

// retryCreating retries only where the upstream said it did nothing: a
// transport error or a 500 might have created a token we would never see.
func retryCreating(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil || resp == nil {
		return false, nil
	}
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return false, nil
	}
	return nextWaitFits(ctx, resp), nil
}

// retryAfter parses Retry-After as seconds or an HTTP date.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		// Seconds in the billions would overflow a Duration into a
		// negative wait: such a wait is the longest there is.
		if int64(s) > int64(math.MaxInt64/time.Second) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := time.Until(t)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func backoffCeiling(minWait, maxWait time.Duration, attempt int) time.Duration {
	if attempt > 30 {
		return maxWait
	}
	c := minWait << uint(attempt)
	if c > maxWait || c <= 0 {
		c = maxWait
	}
	return c
}

func backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if d, ok := retryAfter(resp); ok {
		return d
	}
	// Full jitter: many Vault nodes or leases retrying together must not
	// hit the upstream in lock-step.
	return rand.N(backoffCeiling(minWait, maxWait, attempt)) + 1
}

// loggingTransport logs each upstream attempt at debug level: method, host,
// path, status and duration. Never a header, a query or a body: they carry
// credentials and tokens.
type loggingTransport struct {
	next http.RoundTripper
	log  hclog.Logger
}

func (t *loggingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if t.log.IsDebug() {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.log.Debug("upstream call", "method", req.Method, "host", req.URL.Host,
			"path", req.URL.Path, "status", status, "duration", time.Since(start).Round(time.Millisecond),
			"failed", err != nil)
	}
	return resp, err
}
