package paths_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/plugintest"
)

// The rules below are the consumers' own, restated from their source, and
// applied to the static-creds answer as it travels: JSON through Vault's
// API, decoded with json.Number as vault/api does.

// agentRerender is consul-template's leaseCheckWait (dependency/
// vault_common.go, v0.41.1 in Vault 1.21) for a secret with no lease: with
// rotation_period present and ttl a json.Number, it sleeps ttl+1 s and no
// jitter; otherwise it falls back to the default lease duration (5 m) times
// 0.85-0.95. A ttl of another type would panic there (a bare type
// assertion), which the test reports as an error.
func agentRerender(data map[string]any) (time.Duration, bool, error) {
	if _, ok := data["rotation_period"]; ok {
		if raw, ok := data["ttl"]; ok {
			n, isNumber := raw.(json.Number)
			if !isNumber {
				return 0, false, errors.New("ttl is not a json.Number: consul-template would panic")
			}
			ttl, err := n.Int64()
			if err != nil {
				return 0, false, err
			}
			return time.Duration(ttl+1) * time.Second, true, nil
		}
	}
	return 5 * time.Minute * 9 / 10, false, nil
}

// operatorStaticCreds is the Secrets Operator's vaultStaticCredsMetaDataFromData
// and isStaticCreds (controllers/vaultdynamicsecret_controller.go, v1.4.1):
// last_vault_rotation an RFC 3339 string, rotation_period a json.Number or
// int (anything else an error), ttl likewise; static when
// last_vault_rotation > 0 and (rotation_period >= 1 or a rotation_schedule).
// It resyncs at ttl + 0.5 s.
func operatorStaticCreds(data map[string]any) (bool, time.Duration, error) {
	var last, period, ttl int64
	if v, ok := data["last_vault_rotation"]; ok && v != nil {
		s, isString := v.(string)
		if !isString {
			return false, 0, errors.New("last_vault_rotation is not a string")
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return false, 0, err
		}
		last = ts.Unix()
	}
	number := func(key string) (int64, error) {
		v, ok := data[key]
		if !ok || v == nil {
			return 0, nil
		}
		n, isNumber := v.(json.Number)
		if !isNumber {
			return 0, errors.New("invalid " + key)
		}
		return n.Int64()
	}
	var err error
	if period, err = number("rotation_period"); err != nil {
		return false, 0, err
	}
	if ttl, err = number("ttl"); err != nil {
		return false, 0, err
	}
	schedule, _ := data["rotation_schedule"].(string)
	static := last > 0 && (period >= 1 || schedule != "")
	return static, time.Duration(ttl)*time.Second + 500*time.Millisecond, nil
}

// asVaultAPI sends data through JSON and decodes it as vault/api does.
func asVaultAPI(t *testing.T, data map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// static-creds answers what Vault Agent and the Secrets Operator need to
// re-read it before its token dies: rotation_period and an integer ttl
// (Agent re-renders at ttl+1 s), last_vault_rotation (the Operator treats
// it as static creds and resyncs at ttl+0.5 s).
func TestStaticCredsForVaultConsumers(t *testing.T) {
	h := plugintest.New(t)
	h.CloudConfig("c", nil)
	h.MustWrite("static-roles/s", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID, "rotation_period": "60s"})
	h.Clock.Advance(20 * time.Second)
	resp := h.MustRead("static-creds/s")
	h.Secrets = append(h.Secrets, resp.Data["access_token"].(string))
	if resp.Secret != nil {
		t.Fatal("static-creds answered a lease")
	}
	data := asVaultAPI(t, resp.Data)

	wait, rotating, err := agentRerender(data)
	if err != nil || !rotating || wait != 41*time.Second {
		t.Errorf("Vault Agent would re-render in %s (rotating secret %v, %v); want ttl+1 = 41s", wait, rotating, err)
	}
	static, resync, err := operatorStaticCreds(data)
	if err != nil || !static || resync != 40*time.Second+500*time.Millisecond {
		t.Errorf("the Secrets Operator: static %v, resync in %s, %v; want static creds resynced at 40.5s", static, resync, err)
	}
	if data["rotation_period"] != json.Number("60") {
		t.Errorf("rotation_period %v, want 60", data["rotation_period"])
	}
	if data["last_vault_rotation"] != data["last_rotated"] {
		t.Errorf("last_vault_rotation %v, last_rotated %v: want the same instant", data["last_vault_rotation"], data["last_rotated"])
	}
	// Without rotation_period, Agent would wait minutes: the rule is live.
	delete(data, "rotation_period")
	if wait, rotating, _ := agentRerender(data); rotating || wait < time.Minute {
		t.Errorf("without rotation_period Agent would wait %s", wait)
	}
	// A role without its own period answers the default one.
	h.MustWrite("static-roles/d", map[string]any{"config": "c", "scopes": "organization:" + plugintest.FedOrgUUID})
	d := asVaultAPI(t, h.MustRead("static-creds/d").Data)
	h.Secrets = append(h.Secrets, d["access_token"].(string))
	if d["rotation_period"] != json.Number("240") {
		t.Errorf("default rotation_period %v, want 240 (80%% of 300 s)", d["rotation_period"])
	}
}
