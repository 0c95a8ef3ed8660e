package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
	"github.com/hashicorp/vault/sdk/logical"
)

// phantomStorage lists keys whose entries cannot be decrypted, as Vault's
// file storage does after being killed between writing a new entry to a
// temporary file and renaming it: the temporary file lists as a key of
// its own, encrypted for another.
type phantomStorage struct {
	logical.Storage
	phantoms []string
}

func (p *phantomStorage) List(ctx context.Context, prefix string) ([]string, error) {
	keys, err := p.Storage.List(ctx, prefix)
	for _, k := range p.phantoms {
		if rest, ok := strings.CutPrefix(k, prefix); ok && !strings.Contains(rest, "/") {
			keys = append(keys, rest)
		}
	}
	return keys, err
}

func (p *phantomStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if slices.Contains(p.phantoms, key) {
		return nil, errors.New("decryption failed: cipher: message authentication failed")
	}
	return p.Storage.Get(ctx, key)
}

// TestUnreadableEntriesAfterACrash: such a key under the token records or
// the authorization states must not break every later creds read, config
// delete or authorize that lists them.
func TestUnreadableEntriesAfterACrash(t *testing.T) {
	h := plugintest.New(t)
	h.CDPSetup(3, h.Clock.Now().AddDate(1, 0, 0))
	h.SourceSetup(nil)
	h.CodeRole()
	h.Storage = &phantomStorage{Storage: h.Storage, phantoms: []string{
		"tokens/cdp/" + strings.Repeat("ab", 32) + "2718281828", "oauth-state/" + "c2VjcmV0" + "3141592653"}}
	h.B.Env().Invalidate(context.Background(), "tokens/cdp/x") // the index is read again from storage

	resp := h.MustRead("creds/sync")
	if _, err := h.Revoke(resp); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	h.MustWrite("authorize/user", nil)
	if _, err := h.Do(logical.DeleteOperation, "roles/sync", nil); err != nil {
		t.Fatal(err)
	}
	if resp, err := h.Do(logical.DeleteOperation, "config/cdp", nil); err != nil || resp.IsError() {
		t.Fatalf("deleting the config: %v %v", err, plugintest.ErrText(resp))
	}
	if !strings.Contains(h.Logs.String(), "cannot be read") {
		t.Error("the skipped entries are not logged")
	}
}
