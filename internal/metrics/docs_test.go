package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/acquia-vault/vault-plugin-secrets-acquia/internal/metrics"
)

// The checked-in Grafana dashboard and Prometheus alert rules name only
// metrics a scrape of the metrics path can hold (metrics.Names, what the
// registry outputs), and the operations docs list every family.

const (
	dashboardFile = "../../docs/grafana/acquia-secrets.json"
	alertsFile    = "../../docs/prometheus/alerts.yml"
	operationsDoc = "../../docs/operations.md"
)

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\[\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true,
		"atan2": true,
		// Aggregations, whose by or without may stand before the parenthesis.
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
		"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true}
)

// metricNames returns the metric names a PromQL expression selects: its
// identifiers that are not functions, keywords, label names or values,
// durations, numbers or Grafana variables.
func metricNames(expr string) []string {
	e := promString.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, "")
	e = promRange.ReplaceAllString(e, "")
	e = promGrouping.ReplaceAllString(e, "$1")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		id := e[loc[0]:loc[1]]
		if promKeywords[strings.ToLower(id)] {
			continue
		}
		if loc[0] > 0 && strings.ContainsAny(e[loc[0]-1:loc[0]], "$0123456789.") {
			continue // a Grafana variable, or part of a number
		}
		if rest := strings.TrimLeft(e[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function
		}
		out = append(out, id)
	}
	return out
}

func TestMetricNamesOf(t *testing.T) {
	got := metricNames(`sum without (x) (d) + histogram_quantile(0.95, sum by (operation, le) (rate(a_bucket{config=~"$config", x="b c"}[$__rate_interval]))) / on(config) group_left b_total offset 5m > 1e3 and c`)
	if want := []string{"d", "a_bucket", "b_total", "c"}; !slices.Equal(got, want) {
		t.Errorf("metricNames = %q, want %q", got, want)
	}
}

// checkExpr fails t when expr names no metric or one a scrape cannot hold.
func checkExpr(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	names := metricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: %q names no metric", where, expr)
	}
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s: %q names %s, which no scrape holds", where, expr, n)
		}
	}
}

func known() map[string]bool {
	k := map[string]bool{}
	for _, n := range metrics.Names() {
		k[n] = true
	}
	return k
}

// labelsOf are the labels a series of metric may carry: its family's, and
// those Prometheus adds to every scraped series.
func labelsOf(metric string) map[string]bool {
	l := map[string]bool{"instance": true, "job": true}
	for _, f := range metrics.Families() {
		if slices.Contains(f.Series(), metric) {
			for _, n := range f.Labels {
				l[n] = true
			}
			if f.Kind == metrics.Histogram {
				l["le"] = true
			}
		}
	}
	return l
}

func TestDashboardNamesScrapedMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	k := known()
	exprs := 0
	// Every "expr" anywhere: panel targets, rows' panels.
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for key, c := range v {
				if s, ok := c.(string); ok && key == "expr" {
					exprs++
					checkExpr(t, path+"."+key, s, k)
					continue
				}
				walk(path+"."+key, c)
			}
		case []any:
			for _, c := range v {
				walk(path+"[]", c)
			}
		}
	}
	walk("dashboard", dash["panels"])
	if exprs < 10 {
		t.Errorf("only %d panel expressions found", exprs)
	}
	// Template variables: label_values(<selector>, <label>).
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
	tmpl, _ := dash["templating"].(map[string]any)
	list, _ := tmpl["list"].([]any)
	for _, v := range list {
		v, _ := v.(map[string]any)
		if v["type"] != "query" {
			continue
		}
		q := v["query"]
		if m, ok := q.(map[string]any); ok {
			q = m["query"]
		}
		s, _ := q.(string)
		m := labelValues.FindStringSubmatch(s)
		if m == nil {
			t.Errorf("variable %v: query %q is not label_values(<selector>, <label>)", v["name"], s)
			continue
		}
		checkExpr(t, "variable "+s, m[1], k)
		for _, n := range metricNames(m[1]) {
			if !labelsOf(n)[m[2]] {
				t.Errorf("variable %v: %s has no label %s", v["name"], n, m[2])
			}
		}
	}
}

func TestAlertRulesNameScrapedMetrics(t *testing.T) {
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string            `yaml:"alert"`
				Expr   string            `yaml:"expr"`
				For    string            `yaml:"for"`
				Labels map[string]string `yaml:"labels"`
				Notes  map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil { // an unknown key is a typo
		t.Fatalf("%s: %v", alertsFile, err)
	}
	k := known()
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.For == "" || r.Labels["severity"] == "" || r.Notes["summary"] == "" {
				t.Errorf("rule %q: needs alert, for, labels.severity and annotations.summary", r.Alert)
			}
			checkExpr(t, "alert "+r.Alert, r.Expr, k)
		}
	}
	if n < 3 {
		t.Errorf("%d alert rules, want the three of docs/operations.md", n)
	}
}

// The metrics table of docs/operations.md lists every family.
func TestOperationsDocListsEveryMetric(t *testing.T) {
	raw, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, f := range metrics.Families() {
		if !strings.Contains(doc, "`"+f.Name+"`") {
			t.Errorf("%s does not list %s", operationsDoc, f.Name)
		}
	}
}
