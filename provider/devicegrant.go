package provider

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The device authorization grant (RFC 8628) for oauth2: the user approves
// on any device at the server's verification URI while the plugin polls
// the token endpoint with the device code. The polling loop is the
// caller's (it must survive restarts and follow the mount's clock), so
// each DevicePoll is one token request.

// DeviceCodeGrant is RFC 8628's grant_type.
const DeviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"

// DefaultDeviceInterval is RFC 8628 §3.2's interval when the server names
// none.
const DefaultDeviceInterval = 5 * time.Second

// DeviceAuthorization is a device authorization endpoint's answer (RFC
// 8628 §3.2). DeviceCode is a secret: it goes to the token endpoint only.
type DeviceAuthorization struct {
	DeviceCode              string
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	ExpiresIn               time.Duration
	Interval                time.Duration
}

// DeviceGranter is a CodeGranter whose server offers the device grant.
type DeviceGranter interface {
	CodeGranter
	// DeviceAuthorize starts a device authorization for scopes.
	DeviceAuthorize(ctx context.Context, scopes []string) (*DeviceAuthorization, error)
	// DevicePoll asks the token endpoint once for deviceCode's tokens.
	// Until the user answers the *Error's Code is authorization_pending
	// or slow_down (RFC 8628 §3.5); access_denied and expired_token end it.
	DevicePoll(ctx context.Context, deviceCode string) (*Token, error)
}

var _ DeviceGranter = (*rfcClient)(nil)

// deviceClient is hc sending the client's credentials as the config says:
// HTTP Basic (form-encoded, RFC 6749 §2.3.1) in a header, or client_secret
// in the body (opts).
func (c *rfcClient) deviceClient(hc *http.Client) (*http.Client, []oauth2.AuthCodeOption) {
	if c.cfg.AuthStyle == AuthStyleBasic {
		id, secret := c.basicCredentials(c.formBasic())
		return &http.Client{Transport: rawBasic{next: hc.Transport, id: id, secret: secret}, CheckRedirect: hc.CheckRedirect}, nil
	}
	return hc, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("client_secret", c.cfg.ClientSecret)}
}

func (c *rfcClient) DeviceAuthorize(ctx context.Context, scopes []string) (*DeviceAuthorization, error) {
	if c.cfg.DeviceAuthorizationURL == "" {
		return nil, errors.New("the config has no device_authorization_url")
	}
	ctx, cancel := context.WithTimeout(withOperation(ctx, "device authorization"), c.cfg.RequestTimeout)
	defer cancel()
	// A lost answer leaves only an unused device code upstream, which
	// expires: retries are free.
	hc, opts := c.deviceClient(c.http.retrying)
	conf := &oauth2.Config{ClientID: c.cfg.ClientID, Scopes: scopes,
		Endpoint: oauth2.Endpoint{DeviceAuthURL: c.cfg.DeviceAuthorizationURL, TokenURL: c.cfg.TokenURL}}
	da, err := conf.DeviceAuth(context.WithValue(ctx, oauth2.HTTPClient, hc), opts...)
	if err != nil {
		return nil, c.deviceError("device authorization", err)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return nil, &Error{Op: "device authorization", Host: hostOf(c.cfg.DeviceAuthorizationURL), Status: 200, Code: "malformed_response",
			Detail: "the answer lacks device_code, user_code or verification_uri (RFC 8628 §3.2)",
			Hint:   "check device_authorization_url"}
	}
	out := &DeviceAuthorization{DeviceCode: da.DeviceCode, UserCode: da.UserCode, VerificationURI: da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete, Interval: time.Duration(da.Interval) * time.Second}
	if out.Interval <= 0 {
		out.Interval = DefaultDeviceInterval
	}
	if !da.Expiry.IsZero() {
		out.ExpiresIn = time.Until(da.Expiry).Round(time.Second)
	}
	return out, nil
}

// deviceError is tokenError for a call whose answer is not a token, with
// the device authorization endpoint's host.
func (c *rfcClient) deviceError(op string, err error) error {
	e := c.tokenError(op, err)
	var pe *Error
	if errors.As(e, &pe) {
		pe.Host = hostOf(c.cfg.DeviceAuthorizationURL)
	}
	return e
}

func (c *rfcClient) DevicePoll(ctx context.Context, deviceCode string) (*Token, error) {
	// One request, never repeated unless the server said nothing happened
	// (429, 503): a device code yields its tokens once.
	ctx, cancel := c.codeContext(ctx, "device token")
	defer cancel()
	hc, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	cc := clientcredentials.Config{
		ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, TokenURL: c.cfg.TokenURL, AuthStyle: c.authStyle(),
		// x/oauth2 lets grant_type be overridden: the device grant's
		// request is a client credentials request with another grant.
		EndpointParams: map[string][]string{"grant_type": {DeviceCodeGrant}, "device_code": {deviceCode}},
	}
	if c.cfg.AuthStyle == AuthStyleBasic && c.rawBasic {
		id, secret := c.basicCredentials(c.formBasic())
		hc = &http.Client{Transport: rawBasic{next: hc.Transport, id: id, secret: secret}, CheckRedirect: hc.CheckRedirect}
	}
	start := c.opts.now()
	t, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	if err != nil {
		return nil, c.tokenError("device token", err, deviceCode)
	}
	return c.convertKeepingRefresh(t, start)
}
