package metrics_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/metrics"
	"github.com/acquia-vault/vault-plugin-secrets-acquia/provider"
)

// A config's recorder is what provider.Options.Metrics takes.
var _ provider.CallRecorder = (*metrics.Upstream)(nil)

// It also hears each attempt's status and code, for config/:name/status.
var _ provider.AnswerRecorder = (*metrics.Upstream)(nil)

// parse reads a scrape back with Prometheus' own parser, so a test sees
// what a Prometheus server would.
func parse(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v\n%s", err, b)
	}
	return mfs
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string, v float64) {
	t.Helper()
	got, ok := value(t, mfs, name, want)
	if !ok {
		t.Fatalf("%s%v: no such series", name, want)
	}
	if got != v {
		t.Errorf("%s%v = %v, want %v", name, want, got, v)
	}
}

func TestRender(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := metrics.New(func() time.Time { return now })
	up := m.Upstream("cdp", "prod")
	up.UpstreamCall("token", "ok", 120*time.Millisecond)
	up.UpstreamCall("token", "5xx", 30*time.Second)
	up.UpstreamCall("revoke", "401", time.Millisecond)
	m.Minted("cdp", "prod")
	m.Minted("cdp", "prod")
	m.Renewed("cdp", "prod")
	m.Revoked("cdp", "prod")
	m.RevokeFailed("cdp", "prod")
	m.HeldTokens("cdp", "prod", 2, 3)
	m.PendingAuthorizations("source", "site", 4)
	m.StaticRole("cdp", "prod", "nightly", time.Hour, now.Add(-90*time.Minute), now.Add(-30*time.Minute))
	m.RotationFailed("cdp", "prod", "nightly", now.Add(time.Minute))
	m.Rollback("upstream_token", metrics.OutcomeOK)
	m.Rollback("api_key", metrics.OutcomeFailed)
	m.PanicRecovered()

	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("# TYPE vault_acquia_upstream_request_duration_seconds histogram")) {
		t.Errorf("no histogram TYPE line:\n%s", b)
	}
	mfs := parse(t, m)
	call := func(op, outcome string) map[string]string {
		return map[string]string{"provider": "cdp", "config": "prod", "operation": op, "outcome": outcome}
	}
	mustValue(t, mfs, "vault_acquia_upstream_requests_total", call("token", "ok"), 1)
	mustValue(t, mfs, "vault_acquia_upstream_requests_total", call("token", "5xx"), 1)
	mustValue(t, mfs, "vault_acquia_upstream_requests_total", call("revoke", "401"), 1)
	mustValue(t, mfs, "vault_acquia_upstream_request_duration_seconds", map[string]string{"operation": "token"}, 2)
	pc := map[string]string{"provider": "cdp", "config": "prod"}
	mustValue(t, mfs, "vault_acquia_tokens_minted_total", pc, 2)
	mustValue(t, mfs, "vault_acquia_tokens_renewed_total", pc, 1)
	mustValue(t, mfs, "vault_acquia_tokens_revoked_total", pc, 1)
	mustValue(t, mfs, "vault_acquia_token_revoke_failures_total", pc, 1)
	mustValue(t, mfs, "vault_acquia_held_tokens", pc, 2)
	mustValue(t, mfs, "vault_acquia_max_tokens", pc, 3)
	mustValue(t, mfs, "vault_acquia_pending_authorizations", map[string]string{"config": "site"}, 4)
	role := map[string]string{"provider": "cdp", "config": "prod", "role": "nightly"}
	mustValue(t, mfs, "vault_acquia_static_seconds_since_rotation", role, 5400)
	mustValue(t, mfs, "vault_acquia_static_seconds_to_rotation", role, 60)
	mustValue(t, mfs, "vault_acquia_static_rotation_period_seconds", role, 3600)
	mustValue(t, mfs, "vault_acquia_static_rotations_total", map[string]string{"role": "nightly", "outcome": "failed"}, 1)
	mustValue(t, mfs, "vault_acquia_static_rotations_total", map[string]string{"role": "nightly", "outcome": "ok"}, 0)
	mustValue(t, mfs, "vault_acquia_wal_rollbacks_total", map[string]string{"kind": "api_key", "outcome": "failed"}, 1)
	mustValue(t, mfs, "vault_acquia_panics_recovered_total", nil, 1)

	// A success moves the last rotation, and the clock moves the gauges.
	m.Rotated("cdp", "prod", "nightly", now, now.Add(time.Hour))
	now = now.Add(10 * time.Minute)
	mfs = parse(t, m)
	mustValue(t, mfs, "vault_acquia_static_seconds_since_rotation", role, 600)
	mustValue(t, mfs, "vault_acquia_static_seconds_to_rotation", role, 3000)
	mustValue(t, mfs, "vault_acquia_static_rotations_total", map[string]string{"role": "nightly", "outcome": "ok"}, 1)
}

// A config's token counters are at zero from the moment its recorder
// exists, so an alert on their increase sees the first failure.
func TestUpstreamZeroes(t *testing.T) {
	m := metrics.New(nil)
	m.Upstream("acronis", "dc1")
	mfs := parse(t, m)
	for _, n := range []string{"vault_acquia_tokens_minted_total", "vault_acquia_tokens_renewed_total",
		"vault_acquia_tokens_revoked_total", "vault_acquia_token_revoke_failures_total"} {
		mustValue(t, mfs, n, map[string]string{"provider": "acronis", "config": "dc1"}, 0)
	}
	mustValue(t, mfs, "vault_acquia_panics_recovered_total", nil, 0)
}

func TestForget(t *testing.T) {
	now := time.Now()
	m := metrics.New(func() time.Time { return now })
	for _, c := range []string{"a", "b"} {
		m.Upstream("cdp", c).UpstreamCall("token", "ok", time.Millisecond)
		m.HeldTokens("cdp", c, 1, 2)
		m.StaticRole("cdp", c, "r", time.Hour, now, now.Add(time.Hour))
		m.StaticRole("cdp", c, "s", time.Hour, now, now.Add(time.Hour))
	}
	m.ForgetStaticRole("b", "s")
	m.ForgetConfig("a")
	mfs := parse(t, m)
	for name, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, lp := range s.GetLabel() {
				if lp.GetName() == "config" && lp.GetValue() == "a" {
					t.Errorf("%s still has config a", name)
				}
				if lp.GetName() == "role" && lp.GetValue() == "s" {
					t.Errorf("%s still has role s", name)
				}
			}
		}
	}
	mustValue(t, mfs, "vault_acquia_held_tokens", map[string]string{"config": "b"}, 1)
	mustValue(t, mfs, "vault_acquia_static_rotation_period_seconds", map[string]string{"config": "b", "role": "r"}, 3600)
}

// Label values hold what an operator named: the text format must escape
// backslashes, quotes and newlines, and a scrape must read them back as
// they were.
func TestLabelEscaping(t *testing.T) {
	m := metrics.New(nil)
	weird := []string{`back\slash`, `quo"te`, "new\nline", `all\"of` + "\n" + `them\n`, "ünï©ødé", "bad\xffutf8"}
	for _, c := range weird {
		m.HeldTokens("cdp", c, 1, 2)
	}
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`config="back\\slash"`, `config="quo\"te"`, `config="new\nline"`,
		`config="all\\\"of\nthem\\n"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("scrape lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "new\nline") {
		t.Errorf("a raw newline in a label value:\n%s", b)
	}
	mfs := parse(t, m)
	var got []string
	for _, s := range mfs["vault_acquia_held_tokens"].GetMetric() {
		for _, lp := range s.GetLabel() {
			if lp.GetName() == "config" {
				got = append(got, lp.GetValue())
			}
		}
	}
	want := append([]string(nil), weird...)
	want[len(want)-1] = "bad\uFFFDutf8"
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("label values read back %q, want %q", got, want)
	}
}

// Every method may be called at once from many goroutines, while scrapes
// run; run under -race.
func TestConcurrent(t *testing.T) {
	m := metrics.New(nil)
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := fmt.Sprintf("c%d", w%2)
			up := m.Upstream("cdp", cfg)
			for i := range each {
				up.UpstreamCall("token", "ok", time.Millisecond)
				m.Minted("cdp", cfg)
				m.HeldTokens("cdp", cfg, i, 2)
				m.Rotated("cdp", cfg, "r", time.Now(), time.Now().Add(time.Hour))
				m.RotationFailed("cdp", cfg, "r", time.Now())
				m.Rollback("upstream_token", metrics.OutcomeOK)
				m.PanicRecovered()
				if i%50 == 0 {
					if _, err := m.Bytes(); err != nil {
						t.Error(err)
					}
					m.ForgetStaticRole(cfg, "gone")
				}
			}
		}()
	}
	wg.Wait()
	mfs := parse(t, m)
	total := 0.0
	for _, c := range []string{"c0", "c1"} {
		v, _ := value(t, mfs, "vault_acquia_upstream_requests_total", map[string]string{"config": c})
		total += v
	}
	if total != workers*each {
		t.Errorf("%v upstream calls counted, want %d", total, workers*each)
	}
	mustValue(t, mfs, "vault_acquia_panics_recovered_total", nil, workers*each)
	mustValue(t, mfs, "vault_acquia_wal_rollbacks_total", map[string]string{"kind": "upstream_token"}, workers*each)
}

// A nil *Metrics counts nothing and does not panic.
func TestNil(t *testing.T) {
	var m *metrics.Metrics
	m.Upstream("cdp", "c").UpstreamCall("token", "ok", time.Second)
	m.Minted("cdp", "c")
	m.Renewed("cdp", "c")
	m.Revoked("cdp", "c")
	m.RevokeFailed("cdp", "c")
	m.HeldTokens("cdp", "c", 1, 2)
	m.PendingAuthorizations("cdp", "c", 1)
	m.StaticRole("cdp", "c", "r", time.Hour, time.Now(), time.Now())
	m.Rotated("cdp", "c", "r", time.Now(), time.Now())
	m.RotationFailed("cdp", "c", "r", time.Now())
	m.ForgetStaticRole("c", "r")
	m.ForgetConfig("c")
	m.Rollback("k", "ok")
	m.PanicRecovered()
	if b, err := m.Bytes(); err != nil || len(b) != 0 {
		t.Errorf("nil metrics rendered %q, %v", b, err)
	}
}

// Names is what the registry outputs: every family, once each has a
// sample, and nothing else.
func TestNamesAreRegistered(t *testing.T) {
	now := time.Now()
	m := metrics.New(func() time.Time { return now })
	m.Upstream("cdp", "c").UpstreamCall("token", "ok", time.Second)
	m.HeldTokens("cdp", "c", 1, 2)
	m.PendingAuthorizations("cdp", "c", 1)
	m.StaticRole("cdp", "c", "r", time.Hour, now, now)
	m.Rollback("k", "ok")
	mfs := parse(t, m)
	var got []string
	for name, mf := range mfs {
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			got = append(got, name+"_bucket", name+"_count", name+"_sum")
			continue
		}
		got = append(got, name)
	}
	slices.Sort(got)
	if want := metrics.Names(); !slices.Equal(got, want) {
		t.Errorf("a scrape holds %q,\nNames says %q", got, want)
	}
	for _, f := range metrics.Families() {
		if !strings.HasPrefix(f.Name, metrics.Namespace+"_") {
			t.Errorf("%s lacks the %s_ prefix", f.Name, metrics.Namespace)
		}
		if f.Kind == metrics.Counter && !strings.HasSuffix(f.Name, "_total") {
			t.Errorf("counter %s does not end in _total", f.Name)
		}
	}
}
