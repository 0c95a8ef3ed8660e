package emulator

import (
	"bytes"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Operations counts the requests that reached the emulator by service and
// operation, faulted ones included (a request is counted before any fault
// or storm answers it) and admin API calls excluded. The operation names
// are the plugin's (provider.Op*, the operation label of its
// vault_acquia_upstream_requests_total), so a test can compare the two
// exactly:
//
//	operation      service  request
//	token          cloud    POST /api/auth/oauth/token, /api/token (any grant)
//	token          source   POST /oauth/token, grant_type=client_credentials
//	token          acronis  POST /bc/idp/token, /api/2/idp/token
//	token          oauth2   POST /oauth2/token, grant_type=client_credentials
//	token          cdp      POST /token?action=create
//	code_exchange  source, oauth2  POST the token endpoint, grant_type=authorization_code
//	refresh        source, oauth2  POST the token endpoint, grant_type=refresh_token
//	device_authorization  oauth2  POST /oauth2/device_authorization
//	device_token   oauth2   POST /oauth2/token, grant_type=urn:ietf:params:oauth:grant-type:device_code
//	revoke         source   POST /oauth/revoke
//	revoke         acronis  POST /api/2/idp/revoke_token
//	revoke         oauth2   POST /oauth2/revoke
//	account_check  cloud    GET /api/account
//	key_create     cloud    POST /api/account/tokens
//	key_list       cloud    GET /api/account/tokens
//	key_read       cloud    GET /api/account/tokens/{uuid}
//	key_delete     cloud    DELETE /api/account/tokens/{uuid}
//	client_check   acronis  GET /api/2/clients/{id}, /clients/{id}
//	retrieve       cdp      GET /token (the plugin's retrieve and its credential check)
//	extend         cdp      POST /token?action=extend
//	delete         cdp      DELETE /token with a Bearer token
//	delete_all     cdp      DELETE /token with Basic credentials
//	login          cdp      POST /authentication?action=login
//	logout         cdp      POST /authentication?action=logout
//
// Requests the plugin never sends are counted too, under names of their
// own: authorize (a browser's), discovery (metadata documents), resource
// and jsonapi (a consumer's use of a token), and unknown, under the
// service "unknown", for a path no service serves.
func (e *Emulator) Operations() map[string]map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]map[string]int, len(e.operations))
	for s, ops := range e.operations {
		out[s] = maps.Clone(ops)
	}
	return out
}

// Operation names the emulator and the plugin share.
const (
	opToken        = "token"
	opCodeExchange = "code_exchange"
	opRefresh      = "refresh"
	opRevoke       = "revoke"
	opAuthorize    = "authorize"
	opDiscovery    = "discovery"
	opUnknown      = "unknown"
)

// operationNamer is a service that names the operation of a request to one
// of its routes; "" means the request is not the service's. form is the
// request's form body (POSTed application/x-www-form-urlencoded), or nil.
type operationNamer interface {
	operation(r *http.Request, form url.Values) string
}

// grantOperation names a token endpoint request by its grant.
func grantOperation(form url.Values) string {
	switch form.Get("grant_type") {
	case "authorization_code":
		return opCodeExchange
	case "refresh_token":
		return opRefresh
	case OAuth2DeviceGrant:
		return opDeviceToken
	}
	return opToken
}

// peekForm reads a form body without consuming it: the handler reads it
// again. Anything else is left alone.
func peekForm(r *http.Request) url.Values {
	if r.Method != http.MethodPost || r.Body == nil {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil
	}
	buf, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	form, _ := url.ParseQuery(string(buf))
	return form
}

// countOperationLocked counts r under its service and operation. e.mu
// must be held.
func (e *Emulator) countOperationLocked(r *http.Request, form url.Values) {
	service, op := "unknown", opUnknown
	for name, s := range e.services {
		n, ok := s.(operationNamer)
		if !ok {
			continue
		}
		if o := n.operation(r, form); o != "" {
			service, op = name, o
			break
		}
	}
	if e.operations[service] == nil {
		e.operations[service] = map[string]int{}
	}
	e.operations[service][op]++
}

// bearer reports whether r authenticates with a Bearer token.
func bearer(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "bearer ")
}

func (e *Emulator) adminOperations(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, e.Operations())
}
