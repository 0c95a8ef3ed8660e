package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/metrics"
)

// A config's recorder counts its tokens under its labels and keeps its
// last success and failure, until the config is forgotten.
func TestUpstreamLastCallsAndTokenCounts(t *testing.T) {
	m := metrics.New(nil)
	up := m.Upstream("cdp", "c1")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	up.UpstreamAnswer("token", "ok", 200, "", at)
	up.UpstreamAnswer("delete", "401", 401, "INVALID_TOKEN", at.Add(time.Second))
	up.Minted()
	up.Revoked()
	up.RevokeFailed()
	ok, failed := m.LastCalls("c1")
	if ok == nil || ok.Operation != "token" || ok.Status != 200 || !ok.At.Equal(at) {
		t.Fatalf("last success %+v", ok)
	}
	if failed == nil || failed.Operation != "delete" || failed.Status != 401 || failed.Code != "INVALID_TOKEN" || failed.Outcome != "401" {
		t.Fatalf("last failure %+v", failed)
	}
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`vault_acquia_tokens_minted_total{config="c1",provider="cdp"} 1`,
		`vault_acquia_tokens_revoked_total{config="c1",provider="cdp"} 1`,
		`vault_acquia_token_revoke_failures_total{config="c1",provider="cdp"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	m.ForgetConfig("c1")
	if ok, failed := m.LastCalls("c1"); ok != nil || failed != nil {
		t.Fatal("a forgotten config keeps its last calls")
	}
	var none *metrics.Upstream
	none.Minted()
	none.UpstreamAnswer("token", "ok", 200, "", at)
	if ok, _ := (*metrics.Metrics)(nil).LastCalls("c1"); ok != nil {
		t.Fatal("nil metrics answer calls")
	}
}
