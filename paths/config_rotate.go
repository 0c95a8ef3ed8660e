package paths

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func (e *Env) configRotatePath() *framework.Path {
	return configAction("rotate", "rotate", "root", strict(e.configRotate),
		"Replace the config's API key with a new one and delete the old one (cloud).",
		"Rotate the config's own credential: a new Acquia Cloud API key replaces the old one.",
		`Creates a new API key through the Cloud API (POST /account/tokens) with the
current key, under a label unique to the mount, the config and the attempt,
finds its uuid by that label, checks that it can fetch a token, stores it in
the config, then deletes the previous key: the one whose uuid is its client_id
where the API shows that, else the one key_uuid names (rotate needs key_uuid
then). A WAL entry written before the create, and kept until the previous key
is gone, lets Vault's rollback or the next rotate finish a rotation that
stopped half way: no key is left behind. Answers the new client_id, key_uuid
and rotated_at, never the secret. Automated rotation: rotation_period (and,
with Vault's rotation manager, rotation_schedule) on the config.`)
}

func (e *Env) configRotate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := e.EnsureWritable(); err != nil {
		return nil, err
	}
	r, err := e.Keys.RotateRoot(ctx, req.Storage, name, nil)
	if err != nil {
		return nil, err
	}
	e.Keys.LogRotation(name, r, "request")
	return &logical.Response{
		Data: map[string]any{
			fClientID:    r.ClientID,
			fKeyUUID:     r.KeyUUID,
			"rotated_at": r.RotatedAt.Format(time.RFC3339),
		},
		Warnings: r.Warnings,
	}, nil
}
