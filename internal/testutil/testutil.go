// Package testutil holds the helpers the backend and e2e tests share:
// test packages cannot import each other's unexported code.
package testutil

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// SyncBuffer collects output from concurrent writers (handlers' log lines,
// a child process's stdout and stderr) and can be read while they write.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ClientTimeout bounds every request of a NewClient client, so a server
// that hangs fails the test instead of stalling it.
const ClientTimeout = 30 * time.Second

// NewClient returns an HTTP client whose requests give up after
// ClientTimeout.
func NewClient() *http.Client { return &http.Client{Timeout: ClientTimeout} }

// BearerStatus calls url with token as its Bearer credential, as an app
// would, and returns the status. A request that cannot be sent, or gets no
// answer, fails t.
func BearerStatus(t testing.TB, c *http.Client, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only the status is read
	return resp.StatusCode
}

// HookStorage runs After once, when a Get has read its value and before it
// returns: the moment a write from elsewhere can land.
type HookStorage struct {
	logical.Storage
	After func()
}

func (h *HookStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	e, err := h.Storage.Get(ctx, key)
	if h.After != nil {
		f := h.After
		h.After = nil
		f()
	}
	return e, err
}
