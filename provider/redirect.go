package provider

import (
	"fmt"
	"io"
	"net/http"
)

// RedirectError is a 3xx answer. No upstream call follows a redirect: a
// replayed form body (client_secret, code and verifier, refresh_token, the
// token being revoked) or Basic credentials would reach a URL that never
// passed the config's URL rules. The answer is turned into this error at
// the transport, under every client (x/oauth2's included), so no http.Client
// above it ever sees a Location to follow.
type RedirectError struct {
	Status int
	// Host is the upstream that answered; Location names only the scheme
	// and host it pointed at (its path and query are the upstream's and
	// may echo what was sent).
	Host, Location string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("%s answered %d (a redirect to %s)", e.Host, e.Status, e.Location)
}

type noRedirects struct{ next http.RoundTripper }

func (t noRedirects) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 300 || resp.StatusCode > 399 {
		return resp, err
	}
	loc := "an unnamed location"
	if raw := resp.Header.Get("Location"); raw != "" {
		if u, perr := req.URL.Parse(raw); perr == nil && u.Host != "" {
			loc = u.Scheme + "://" + u.Host
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return nil, &RedirectError{Status: resp.StatusCode, Host: req.URL.Host, Location: loc}
}

// refuseRedirect backs noRedirects up on every http.Client: were a 3xx to
// reach one, it is an error, never a second request.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("refusing to follow a redirect to %s", req.URL.Host)
}
