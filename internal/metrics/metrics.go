// Package metrics counts one mount's work in memory and renders it in
// Prometheus' text exposition format (version 0.0.4), for the mount's
// metrics path. Each mount has its own Metrics and its own registry: two
// mounts of the plugin in one process never share a series, and a Vault
// node answers only for its own work. Everything starts at zero when the
// mount is set up, as Prometheus expects of counters after a restart.
//
// Label values are the names an operator chose (config, role) or the
// plugin's own (provider, operation, outcome, kind): never a secret or a
// token. Every method is safe for concurrent use, and safe on a nil
// *Metrics, which counts nothing: code that runs without metrics (unit
// tests, a mount being set up) need not check.
package metrics

import (
	"bytes"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// ContentType is the Content-Type of Render's output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Namespace prefixes every metric name.
const Namespace = "vault_acquia"

// Outcomes of a static role's rotation and of a WAL rollback.
const (
	OutcomeOK     = "ok"
	OutcomeFailed = "failed"
)

// Label names.
const (
	labelProvider  = "provider"
	labelConfig    = "config"
	labelRole      = "role"
	labelOperation = "operation"
	labelOutcome   = "outcome"
	labelKind      = "kind"
)

// Kind is a metric's Prometheus type.
type Kind string

// The types this package outputs.
const (
	Counter   Kind = "counter"
	Gauge     Kind = "gauge"
	Histogram Kind = "histogram"
)

// Family describes one metric family this package outputs.
type Family struct {
	Name   string
	Kind   Kind
	Help   string
	Labels []string
}

// Series are the names of the samples a scrape holds for the family: a
// histogram's _bucket, _sum and _count, or the family's name.
func (f Family) Series() []string {
	if f.Kind == Histogram {
		return []string{f.Name + "_bucket", f.Name + "_sum", f.Name + "_count"}
	}
	return []string{f.Name}
}

func name(s string) string { return Namespace + "_" + s }

// The families, in the order Families lists them. Every collector below
// is built from one of these, so the list is what a scrape can hold.
var (
	famUpstreamCalls = Family{name("upstream_requests_total"), Counter,
		"Upstream HTTP requests, one per attempt (each retry counts), by operation and outcome: ok, the 4xx status, 5xx, timeout, canceled, network_error or redirect_refused.",
		[]string{labelProvider, labelConfig, labelOperation, labelOutcome}}
	famUpstreamLatency = Family{name("upstream_request_duration_seconds"), Histogram,
		"Time from sending an upstream HTTP request to its answer's headers (or its failure), per attempt.",
		[]string{labelProvider, labelConfig, labelOperation}}
	famMinted = Family{name("tokens_minted_total"), Counter,
		"Upstream tokens obtained (client credentials, code exchange, refresh, CDP create).",
		[]string{labelProvider, labelConfig}}
	famRenewed = Family{name("tokens_renewed_total"), Counter,
		"Leases renewed, by the upstream extending the token or within its lifetime.",
		[]string{labelProvider, labelConfig}}
	famRevoked = Family{name("tokens_revoked_total"), Counter,
		"Upstream tokens revoked, or found gone already.",
		[]string{labelProvider, labelConfig}}
	famRevokeFailed = Family{name("token_revoke_failures_total"), Counter,
		"Revocations of upstream tokens that failed (Vault or the plugin retries them).",
		[]string{labelProvider, labelConfig}}
	famHeld = Family{name("held_tokens"), Gauge,
		"Live upstream tokens the plugin holds for a config whose upstream caps them (CDP).",
		[]string{labelProvider, labelConfig}}
	famMax = Family{name("max_tokens"), Gauge,
		"The config's max_tokens: how many tokens the plugin may hold at once (CDP).",
		[]string{labelProvider, labelConfig}}
	famRotations = Family{name("static_rotations_total"), Counter,
		"Rotations of a static role's token, by outcome: ok or failed.",
		[]string{labelProvider, labelConfig, labelRole, labelOutcome}}
	famSinceRotation = Family{name("static_seconds_since_rotation"), Gauge,
		"Seconds since the static role's last successful rotation (or its first token).",
		[]string{labelProvider, labelConfig, labelRole}}
	famToRotation = Family{name("static_seconds_to_rotation"), Gauge,
		"Seconds until the static role's next rotation or retry; negative when overdue.",
		[]string{labelProvider, labelConfig, labelRole}}
	famRotationPeriod = Family{name("static_rotation_period_seconds"), Gauge,
		"The static role's rotation period.",
		[]string{labelProvider, labelConfig, labelRole}}
	famRollbacks = Family{name("wal_rollbacks_total"), Counter,
		"WAL rollbacks run by Vault for the mount, by WAL entry kind and outcome: ok or failed (kept for the next try).",
		[]string{labelKind, labelOutcome}}
	famPending = Family{name("pending_authorizations"), Gauge,
		"Authorizations started (authorize) and not yet completed by their callback.",
		[]string{labelProvider, labelConfig}}
	famPanics = Family{name("panics_recovered_total"), Counter,
		"Panics recovered in the mount's requests and background work.",
		nil}
)

// Families lists every metric family a scrape may hold.
func Families() []Family {
	return []Family{famUpstreamCalls, famUpstreamLatency, famMinted, famRenewed, famRevoked, famRevokeFailed,
		famHeld, famMax, famRotations, famSinceRotation, famToRotation, famRotationPeriod, famRollbacks, famPending,
		famPanics}
}

// Names lists the name of every sample a scrape may hold, sorted:
// histograms' _bucket, _sum and _count included.
func Names() []string {
	var out []string
	for _, f := range Families() {
		out = append(out, f.Series()...)
	}
	sort.Strings(out)
	return out
}

// LatencyBuckets are the upstream latency histogram's upper bounds, in
// seconds: request_timeout is 25 s by default and bounds an attempt.
var LatencyBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25}

// Metrics is one mount's counters, gauges and histogram.
type Metrics struct {
	reg *prometheus.Registry

	upstreamCalls   *prometheus.CounterVec
	upstreamLatency *prometheus.HistogramVec
	minted          *prometheus.CounterVec
	renewed         *prometheus.CounterVec
	revoked         *prometheus.CounterVec
	revokeFailed    *prometheus.CounterVec
	held            *prometheus.GaugeVec
	max             *prometheus.GaugeVec
	rotations       *prometheus.CounterVec
	rollbacks       *prometheus.CounterVec
	pending         *prometheus.GaugeVec
	panics          prometheus.Counter
	static          *staticCollector

	// last are each config's last upstream answers (LastCalls).
	lastMu sync.Mutex
	last   map[string]*lastCalls
}

// Call is how one upstream attempt ended, for config/:name/status: never
// a secret (the code is scrubbed of the config's secrets).
type Call struct {
	At        time.Time
	Operation string
	// Outcome is the attempt's outcome as the requests counter has it.
	Outcome string
	// Status is the HTTP status; 0 when no answer came.
	Status int
	// Code is the upstream's error code, when its answer named one.
	Code string
}

type lastCalls struct{ success, failure *Call }

// New returns a mount's metrics, all at zero. now is the clock the static
// roles' seconds since and to rotation are counted on; time.Now when nil.
func New(now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	counter := func(f Family) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: f.Name, Help: f.Help}, f.Labels)
	}
	gauge := func(f Family) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: f.Name, Help: f.Help}, f.Labels)
	}
	m := &Metrics{
		reg:           prometheus.NewPedanticRegistry(),
		upstreamCalls: counter(famUpstreamCalls),
		upstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: famUpstreamLatency.Name, Help: famUpstreamLatency.Help, Buckets: LatencyBuckets,
		}, famUpstreamLatency.Labels),
		minted:       counter(famMinted),
		renewed:      counter(famRenewed),
		revoked:      counter(famRevoked),
		revokeFailed: counter(famRevokeFailed),
		held:         gauge(famHeld),
		max:          gauge(famMax),
		rotations:    counter(famRotations),
		rollbacks:    counter(famRollbacks),
		pending:      gauge(famPending),
		panics:       prometheus.NewCounter(prometheus.CounterOpts{Name: famPanics.Name, Help: famPanics.Help}),
		static:       newStaticCollector(now),
		last:         map[string]*lastCalls{},
	}
	m.reg.MustRegister(m.upstreamCalls, m.upstreamLatency, m.minted, m.renewed, m.revoked, m.revokeFailed,
		m.held, m.max, m.rotations, m.rollbacks, m.pending, m.panics, m.static)
	return m
}

// label makes v a valid label value: Prometheus takes any UTF-8, and the
// text format escapes \, " and newlines itself.
func label(v string) string { return strings.ToValidUTF8(v, "\uFFFD") }

func labels(vs ...string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = label(v)
	}
	return out
}

// Upstream is the recorder of one config's upstream calls: the provider
// package's CallRecorder. Getting it also sets the config's token counters
// to zero, so the first failure shows as an increase.
func (m *Metrics) Upstream(provider, config string) *Upstream {
	if m == nil {
		return nil
	}
	l := labels(provider, config)
	for _, v := range []*prometheus.CounterVec{m.minted, m.renewed, m.revoked, m.revokeFailed} {
		v.WithLabelValues(l...)
	}
	return &Upstream{m: m, provider: l[0], config: l[1]}
}

// Upstream records one config's upstream calls.
type Upstream struct {
	m                *Metrics
	provider, config string
}

// UpstreamCall records one upstream HTTP attempt: its operation, its
// outcome and how long it took.
func (u *Upstream) UpstreamCall(operation, outcome string, d time.Duration) {
	if u == nil || u.m == nil {
		return
	}
	op := label(operation)
	u.m.upstreamCalls.WithLabelValues(u.provider, u.config, op, label(outcome)).Inc()
	u.m.upstreamLatency.WithLabelValues(u.provider, u.config, op).Observe(d.Seconds())
}

// UpstreamAnswer records how an attempt ended, for LastCalls (the
// provider package's AnswerRecorder).
func (u *Upstream) UpstreamAnswer(operation, outcome string, status int, code string, at time.Time) {
	if u == nil || u.m == nil {
		return
	}
	c := &Call{At: at, Operation: operation, Outcome: outcome, Status: status, Code: code}
	u.m.lastMu.Lock()
	defer u.m.lastMu.Unlock()
	l := u.m.last[u.config]
	if l == nil {
		l = &lastCalls{}
		u.m.last[u.config] = l
	}
	if outcome == "ok" {
		l.success = c
	} else {
		l.failure = c
	}
}

// LastCalls are config's last successful and last failed upstream
// attempts on this node since the mount started; nil where none.
func (m *Metrics) LastCalls(config string) (success, failure *Call) {
	if m == nil {
		return nil, nil
	}
	m.lastMu.Lock()
	defer m.lastMu.Unlock()
	if l := m.last[label(config)]; l != nil {
		return l.success, l.failure
	}
	return nil, nil
}

// Minted counts a token this config's client obtained upstream.
func (u *Upstream) Minted() {
	if u != nil {
		u.m.Minted(u.provider, u.config)
	}
}

// Revoked counts a token this config's client revoked, or found gone.
func (u *Upstream) Revoked() {
	if u != nil {
		u.m.Revoked(u.provider, u.config)
	}
}

// RevokeFailed counts a revocation by this config's client that failed.
func (u *Upstream) RevokeFailed() {
	if u != nil {
		u.m.RevokeFailed(u.provider, u.config)
	}
}

// Minted counts a token obtained upstream.
func (m *Metrics) Minted(provider, config string) {
	if m != nil {
		m.minted.WithLabelValues(labels(provider, config)...).Inc()
	}
}

// Renewed counts a lease renewed.
func (m *Metrics) Renewed(provider, config string) {
	if m != nil {
		m.renewed.WithLabelValues(labels(provider, config)...).Inc()
	}
}

// Revoked counts a token revoked upstream, or found gone already.
func (m *Metrics) Revoked(provider, config string) {
	if m != nil {
		m.revoked.WithLabelValues(labels(provider, config)...).Inc()
	}
}

// RevokeFailed counts a revocation that failed.
func (m *Metrics) RevokeFailed(provider, config string) {
	if m != nil {
		m.revokeFailed.WithLabelValues(labels(provider, config)...).Inc()
	}
}

// HeldTokens sets how many tokens the plugin holds for config, and its
// max_tokens.
func (m *Metrics) HeldTokens(provider, config string, held, max int) {
	if m == nil {
		return
	}
	l := labels(provider, config)
	m.held.WithLabelValues(l...).Set(float64(held))
	m.max.WithLabelValues(l...).Set(float64(max))
}

// PendingAuthorizations sets how many authorizations of config's roles
// wait for their callback.
func (m *Metrics) PendingAuthorizations(provider, config string, n int) {
	if m != nil {
		m.pending.WithLabelValues(labels(provider, config)...).Set(float64(n))
	}
}

// StaticRole sets what is known of a static role's schedule: its rotation
// period, its last successful rotation (zero if unknown) and its next
// rotation (zero if none is scheduled). Call it when the role is written
// or loaded; Rotated and RotationFailed keep it current.
func (m *Metrics) StaticRole(provider, config, role string, period time.Duration, last, next time.Time) {
	if m == nil {
		return
	}
	l := labels(provider, config, role)
	m.initRotations(l)
	m.static.set(l, func(s *roleState) {
		s.period, s.last, s.next = period, last, next
	})
}

// Rotated counts a successful rotation of a static role at at, the next
// one due at next.
func (m *Metrics) Rotated(provider, config, role string, at, next time.Time) {
	if m == nil {
		return
	}
	l := labels(provider, config, role)
	m.initRotations(l)
	m.rotations.WithLabelValues(append(l, OutcomeOK)...).Inc()
	m.static.set(l, func(s *roleState) { s.last, s.next = at, next })
}

// RotationFailed counts a failed rotation of a static role, retried at
// next (zero if not scheduled).
func (m *Metrics) RotationFailed(provider, config, role string, next time.Time) {
	if m == nil {
		return
	}
	l := labels(provider, config, role)
	m.initRotations(l)
	m.rotations.WithLabelValues(append(l, OutcomeFailed)...).Inc()
	m.static.set(l, func(s *roleState) { s.next = next })
}

func (m *Metrics) initRotations(l []string) {
	m.rotations.WithLabelValues(append(l[:3:3], OutcomeOK)...)
	m.rotations.WithLabelValues(append(l[:3:3], OutcomeFailed)...)
}

// ForgetStaticRole drops a deleted static role's series.
func (m *Metrics) ForgetStaticRole(config, role string) {
	if m == nil {
		return
	}
	m.rotations.DeletePartialMatch(prometheus.Labels{labelConfig: label(config), labelRole: label(role)})
	m.static.forget(func(k roleKey) bool { return k.config == label(config) && k.role == label(role) })
}

// ForgetConfig drops every series of a deleted config.
func (m *Metrics) ForgetConfig(config string) {
	if m == nil {
		return
	}
	match := prometheus.Labels{labelConfig: label(config)}
	for _, v := range []*prometheus.MetricVec{m.upstreamCalls.MetricVec, m.upstreamLatency.MetricVec, m.minted.MetricVec,
		m.renewed.MetricVec, m.revoked.MetricVec, m.revokeFailed.MetricVec, m.held.MetricVec, m.max.MetricVec,
		m.rotations.MetricVec, m.pending.MetricVec} {
		v.DeletePartialMatch(match)
	}
	m.static.forget(func(k roleKey) bool { return k.config == label(config) })
	m.lastMu.Lock()
	delete(m.last, label(config))
	m.lastMu.Unlock()
}

// Rollback counts a WAL rollback of kind (the WAL entry's kind) with its
// outcome, OutcomeOK or OutcomeFailed.
func (m *Metrics) Rollback(kind, outcome string) {
	if m != nil {
		m.rollbacks.WithLabelValues(labels(kind, outcome)...).Inc()
	}
}

// PanicRecovered counts a recovered panic.
func (m *Metrics) PanicRecovered() {
	if m != nil {
		m.panics.Inc()
	}
}

// Render writes every series in Prometheus' text format (ContentType).
func (m *Metrics) Render(w io.Writer) error {
	if m == nil {
		return nil
	}
	mfs, err := m.reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}

// Bytes is Render into a byte slice.
func (m *Metrics) Bytes() ([]byte, error) {
	var b bytes.Buffer
	err := m.Render(&b)
	return b.Bytes(), err
}

// staticCollector reports the static roles' gauges computed at scrape
// time: seconds since and to a rotation move with the clock.
type staticCollector struct {
	now   func() time.Time
	since *prometheus.Desc
	to    *prometheus.Desc
	per   *prometheus.Desc

	mu    sync.Mutex
	roles map[roleKey]*roleState
}

type roleKey struct{ config, role string }

type roleState struct {
	provider   string
	period     time.Duration
	last, next time.Time
}

func newStaticCollector(now func() time.Time) *staticCollector {
	desc := func(f Family) *prometheus.Desc { return prometheus.NewDesc(f.Name, f.Help, f.Labels, nil) }
	return &staticCollector{now: now, since: desc(famSinceRotation), to: desc(famToRotation), per: desc(famRotationPeriod),
		roles: map[roleKey]*roleState{}}
}

// set changes the state of the role labelled l (provider, config, role).
func (c *staticCollector) set(l []string, change func(*roleState)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := roleKey{config: l[1], role: l[2]}
	s := c.roles[k]
	if s == nil {
		s = &roleState{}
		c.roles[k] = s
	}
	s.provider = l[0]
	change(s)
}

func (c *staticCollector) forget(match func(roleKey) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.roles {
		if match(k) {
			delete(c.roles, k)
		}
	}
}

func (c *staticCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.since
	ch <- c.to
	ch <- c.per
}

func (c *staticCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.roles {
		lv := []string{s.provider, k.config, k.role}
		if !s.last.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.since, prometheus.GaugeValue, now.Sub(s.last).Seconds(), lv...)
		}
		if !s.next.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.to, prometheus.GaugeValue, s.next.Sub(now).Seconds(), lv...)
		}
		if s.period > 0 {
			ch <- prometheus.MustNewConstMetric(c.per, prometheus.GaugeValue, s.period.Seconds(), lv...)
		}
	}
}
