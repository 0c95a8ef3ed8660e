package plugintest

import (
	"context"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/backend"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// readOnlyStorage is the storage of a node that cannot write: a Vault
// Enterprise performance standby, or a performance secondary for a
// replicated mount.
type ReadOnlyStorage struct{ logical.Storage }

// node is a second backend on the harness's storage, as another node of
// the cluster in the given replication state sees it.
type Node struct {
	H       *Harness
	B       *backend.Backend
	Storage logical.Storage
}

func (h *Harness) Node(state consts.ReplicationState, local bool) *Node {
	h.T.Helper()
	conf := logical.TestBackendConfig()
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: h.Logs, Level: hclog.Trace})
	s := h.Storage
	if state.HasState(consts.ReplicationPerformanceStandby) || state.HasState(consts.ReplicationPerformanceSecondary) && !local {
		s = ReadOnlyStorage{h.Storage}
	}
	conf.StorageView = s
	conf.System = &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour,
		ReplicationStateVal: state, LocalMountVal: local}
	b, err := backend.Factory(context.Background(), conf)
	if err != nil {
		h.T.Fatal(err)
	}
	bk := b.(*backend.Backend)
	bk.Env().Now = h.Clock.Now
	return &Node{H: h, B: bk, Storage: s}
}

func (n *Node) Handle(req *logical.Request) (*logical.Response, error) {
	req.Storage = n.Storage
	return n.B.HandleRequest(context.Background(), req)
}
