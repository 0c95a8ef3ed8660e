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
// net/http, and fails unless it answers 2xx: the least an external plugin
// does to revoke an upstream token it tracks. Reading revokes returns when each
// revoke since the last such read ran, and forgets them: the bench times
// runs of revokes by them.
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
	revokes := &stamps{}
	secret := &framework.Secret{
		Type:   "floor",
		Fields: map[string]*framework.FieldSchema{"access_token": {Type: framework.TypeString, Description: "A fixed value."}},
		Renew: func(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
			return &logical.Response{Secret: req.Secret}, nil
		},
		Revoke: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
			revokes.add()
			return nil, nil
		},
	}
	tracked := &framework.Secret{
		Type:   "floor-tracked",
		Fields: secret.Fields,
		Renew:  secret.Renew,
		Revoke: func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
			id, _ := req.Secret.InternalData["id"].(string)
			err := req.Storage.Delete(ctx, "held/"+id)
			if err == nil {
				revokes.add()
			}
			return nil, err
		},
	}
	calling := &framework.Secret{
		Type:   "floor-calling",
		Fields: secret.Fields,
		Renew:  secret.Renew,
		Revoke: func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
			call, _ := req.Secret.InternalData["revoke"].(string)
			if err := callUpstream(ctx, call); err != nil {
				return nil, err
			}
			id, _ := req.Secret.InternalData["id"].(string)
			err := req.Storage.Delete(ctx, "held/"+id)
			if err == nil {
				revokes.add()
			}
			return nil, err
		},
	}
	var b *framework.Backend
	// track writes a record for a new lease of name and returns the lease,
	// of secret, with the record's id and internal.
	track := func(ctx context.Context, req *logical.Request, name string, secret string, internal map[string]any) (*logical.Response, error) {
		// Keyed under the lease's name, as a plugin keeps its records
		// under the config that issued them.
		id := name + "/" + rand.Text()
		if err := req.Storage.Put(ctx, &logical.StorageEntry{Key: "held/" + id, Value: []byte("{}")}); err != nil {
			return nil, err
		}
		internal["id"] = id
		resp := b.Secret(secret).Response(map[string]any{"access_token": "floor", "token_type": "Bearer"}, internal)
		resp.Secret.TTL = 4 * time.Minute
		return resp, nil
	}
	b = &framework.Backend{
		Help:        "The floor of a leased read.",
		BackendType: logical.TypeLogical,
		Secrets:     []*framework.Secret{secret, tracked, calling},
		Paths: []*framework.Path{{
			Pattern: "revokes",
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
						return &logical.Response{Data: map[string]any{"unix_micros": revokes.take()}}, nil
					},
				},
			},
		}, {
			// static/<name>: a plain read, no lease: the floor of static-creds.
			Pattern: "static/" + framework.GenericNameRegex("name"),
			Fields:  map[string]*framework.FieldSchema{"name": {Type: framework.TypeString, Description: "Any name."}},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
						return &logical.Response{Data: map[string]any{"access_token": "floor", "token_type": "Bearer"}}, nil
					},
				},
			},
		}, {
			Pattern: "creds/" + framework.GenericNameRegex("name"),
			Fields:  map[string]*framework.FieldSchema{"name": {Type: framework.TypeString, Description: "Any name."}},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
						resp := b.Secret("floor").Response(map[string]any{"access_token": "floor", "token_type": "Bearer"}, nil)
						resp.Secret.TTL = 4 * time.Minute // the bench's cloud role's
						return resp, nil
					},
				},
			},
		}, {
			Pattern: "tracked/" + framework.GenericNameRegex("name"),
			Fields:  map[string]*framework.FieldSchema{"name": {Type: framework.TypeString, Description: "Any name."}},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
						return track(ctx, req, d.Get("name").(string), "floor-tracked", map[string]any{})
					},
				},
			},
		}, {
			Pattern: "calling/" + framework.GenericNameRegex("name"),
			Fields: map[string]*framework.FieldSchema{
				"name":   {Type: framework.TypeString, Description: "Any name."},
				"revoke": {Type: framework.TypeString, Description: "The upstream call the lease's revoke makes, as JSON."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
						call := d.Get("revoke").(string)
						if err := json.Unmarshal([]byte(call), &upstreamCall{}); err != nil {
							return logical.ErrorResponse("revoke: not a JSON call: %v", err), nil
						}
						return track(ctx, req, d.Get("name").(string), "floor-calling", map[string]any{"revoke": call})
					},
				},
			},
		}},
	}
	if conf.Config["lean"] == "true" && conf.System != nil {
		lean := *conf
		lean.System = &onceSystemView{SystemView: conf.System}
		conf = &lean
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
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
