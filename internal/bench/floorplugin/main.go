// Command floorplugin is the floor `make bench` measures the Acquia plugin
// against: a minimal external Vault secrets plugin written with the SDK's
// defaults. creds/<name> returns a fixed secret with a lease (renew and
// revoke do nothing); static/<name> returns it without one; tracked/<name>
// is creds/<name> for a plugin that remembers what it issued: one storage
// record written per lease, under held/<name>/, deleted by its revoke (as
// the Acquia plugin keeps a record of each upstream token, under its
// config, until the token is revoked). calling/<name> is tracked/<name>
// whose revoke first makes one upstream call, given at the read as the
// JSON field revoke ({"method", "url", "header", "body"}), with plain
// net/http, and fails unless it answers 2xx: the least an external
// plugin does to revoke an upstream token it tracks. Reading revokes
// returns when each revoke since the last such read ran, and forgets
// them: the bench times runs of revokes by them.
//
// With the SDK's defaults the framework asks Vault for the replication
// state before every request it routes, a gRPC round trip; the Acquia
// plugin answers that from a snapshot. Mounted with -options=lean=true the
// floor answers it once for the mount's life as well, which is the least an
// external plugin can do for a read; the bench reports against both.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
)

func factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	f := &floor{revokes: &stamps{}}
	f.b = &framework.Backend{
		Help:        "The floor of a leased read.",
		BackendType: logical.TypeLogical,
		Secrets:     f.secrets(),
		Paths:       f.paths(),
	}
	if conf.Config["lean"] == "true" && conf.System != nil {
		lean := *conf
		lean.System = &onceSystemView{SystemView: conf.System}
		conf = &lean
	}
	if err := f.b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return f.b, nil
}

// floor is one mount of the floor plugin.
type floor struct {
	b       *framework.Backend
	revokes *stamps
}

var nameField = map[string]*framework.FieldSchema{"name": {Type: framework.TypeString, Description: "Any name."}}

// fixedValue is the data of every read, a new map each time.
func fixedValue() map[string]any {
	return map[string]any{"access_token": "floor", "token_type": "Bearer"}
}

// secrets are the floor's three kinds of lease: plain, tracked, calling.
func (f *floor) secrets() []*framework.Secret {
	fields := map[string]*framework.FieldSchema{"access_token": {Type: framework.TypeString, Description: "A fixed value."}}
	renew := func(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
		return &logical.Response{Secret: req.Secret}, nil
	}
	// forget deletes a tracked lease's record, the last step of its revoke.
	forget := func(ctx context.Context, req *logical.Request) (*logical.Response, error) {
		id, _ := req.Secret.InternalData["id"].(string)
		err := req.Storage.Delete(ctx, "held/"+id)
		if err == nil {
			f.revokes.add()
		}
		return nil, err
	}
	return []*framework.Secret{{
		Type: "floor", Fields: fields, Renew: renew,
		Revoke: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
			f.revokes.add()
			return nil, nil
		},
	}, {
		Type: "floor-tracked", Fields: fields, Renew: renew,
		Revoke: func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
			return forget(ctx, req)
		},
	}, {
		Type: "floor-calling", Fields: fields, Renew: renew,
		Revoke: func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
			call, _ := req.Secret.InternalData["revoke"].(string)
			if err := callUpstream(ctx, call); err != nil {
				return nil, err
			}
			return forget(ctx, req)
		},
	}}
}

// read is a path whose read callback is cb.
func read(pattern string, fields map[string]*framework.FieldSchema, cb framework.OperationFunc) *framework.Path {
	return &framework.Path{Pattern: pattern, Fields: fields,
		Operations: map[logical.Operation]framework.OperationHandler{logical.ReadOperation: &framework.PathOperation{Callback: cb}}}
}

func (f *floor) paths() []*framework.Path {
	name := framework.GenericNameRegex("name")
	return []*framework.Path{
		read("revokes", nil, func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
			return &logical.Response{Data: map[string]any{"unix_micros": f.revokes.take()}}, nil
		}),
		// static/<name>: a plain read, no lease: the floor of static-creds.
		read("static/"+name, nameField, func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
			return &logical.Response{Data: fixedValue()}, nil
		}),
		read("creds/"+name, nameField, func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
			resp := f.b.Secret("floor").Response(fixedValue(), nil)
			resp.Secret.TTL = 4 * time.Minute // the bench's cloud role's
			return resp, nil
		}),
		read("tracked/"+name, nameField, func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
			return f.track(ctx, req, d.Get("name").(string), "floor-tracked", map[string]any{})
		}),
		read("calling/"+name, map[string]*framework.FieldSchema{
			"name":   nameField["name"],
			"revoke": {Type: framework.TypeString, Description: "The upstream call the lease's revoke makes, as JSON."},
		}, func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
			call := d.Get("revoke").(string)
			if err := json.Unmarshal([]byte(call), &upstreamCall{}); err != nil {
				return logical.ErrorResponse("revoke: not a JSON call: %v", err), nil
			}
			return f.track(ctx, req, d.Get("name").(string), "floor-calling", map[string]any{"revoke": call})
		}),
	}
}

// track writes a record for a new lease of name and returns the lease, of
// secret, with the record's id and internal.
func (f *floor) track(ctx context.Context, req *logical.Request, name, secret string, internal map[string]any) (*logical.Response, error) {
	// Keyed under the lease's name, as a plugin keeps its records under
	// the config that issued them.
	id := name + "/" + rand.Text()
	if err := req.Storage.Put(ctx, &logical.StorageEntry{Key: "held/" + id, Value: []byte("{}")}); err != nil {
		return nil, err
	}
	internal["id"] = id
	resp := f.b.Secret(secret).Response(fixedValue(), internal)
	// The revoke bench's roles': none expires while a set is revoked,
	// and no expiry revokes one beside the revoke-prefix timed.
	resp.Secret.TTL = time.Hour
	return resp, nil
}

// upstreamCall is one HTTP request a calling lease's revoke makes.
type upstreamCall struct {
	Method string            `json:"method"`
	URL    string            `json:"url"`
	Header map[string]string `json:"header"`
	Body   string            `json:"body"`
}

// upstream is the client of every upstream call: one pool of connections
// kept alive, redirects not followed.
var upstream = &http.Client{
	Timeout:       30 * time.Second,
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// callUpstream makes the call raw (an upstreamCall as JSON) and fails
// unless it answers 2xx.
func callUpstream(ctx context.Context, raw string) error {
	var c upstreamCall
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, strings.NewReader(c.Body))
	if err != nil {
		return err
	}
	for k, v := range c.Header {
		req.Header.Set(k, v)
	}
	resp, err := upstream.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("upstream revoke: %d", resp.StatusCode)
	}
	return nil
}

// stamps are the times of a mount's revokes, in Unix microseconds.
type stamps struct {
	mu sync.Mutex
	at []int64
}

func (s *stamps) add() {
	now := time.Now().UnixMicro()
	s.mu.Lock()
	s.at = append(s.at, now)
	s.mu.Unlock()
}

// take returns the stamps so far and forgets them.
func (s *stamps) take() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.at
	s.at = nil
	if out == nil {
		out = []int64{}
	}
	return out
}

// onceSystemView asks Vault for the replication state once.
type onceSystemView struct {
	logical.SystemView
	once  sync.Once
	state consts.ReplicationState
	local bool
}

func (o *onceSystemView) ask() {
	o.once.Do(func() { o.state, o.local = o.SystemView.ReplicationState(), o.SystemView.LocalMount() })
}

func (o *onceSystemView) ReplicationState() consts.ReplicationState { o.ask(); return o.state }

func (o *onceSystemView) LocalMount() bool { o.ask(); return o.local }

func main() {
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{BackendFactoryFunc: factory}); err != nil {
		hclog.New(&hclog.LoggerOptions{}).Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}
