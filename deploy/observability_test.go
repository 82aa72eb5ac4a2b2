package deploy

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// The alert rules and the dashboard are checked with Prometheus's own code, and
// against the metrics a bridge built from this very tree exposes, so that a renamed
// metric or a broken query fails here instead of on an operator's screen.

const (
	rulesFile     = "prometheus/alerts.yml"
	dashboardFile = "grafana/audiospliter-bridge.json"
)

var promql = parser.NewParser(parser.Options{})

// metricNames returns the metric names an expression selects.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	var names []string
	for _, s := range selectors(t, where, expr) {
		names = append(names, s.metric)
	}
	return names
}

// selector is one vector selector of a query: the metric and its label matchers.
type selector struct {
	metric, where string
	matchers      []*labels.Matcher
}

// selectors returns the vector selectors of an expression.
func selectors(t *testing.T, where, expr string) []selector {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	var out []selector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			s := selector{metric: vs.Name, where: where}
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					if m.Type == labels.MatchEqual {
						s.metric = m.Value
					}
					continue
				}
				s.matchers = append(s.matchers, m)
			}
			if s.metric == "" {
				t.Errorf("%s: %q selects without a metric name", where, expr)
			}
			out = append(out, s)
		}
		return nil
	})
	if len(out) == 0 {
		t.Errorf("%s: %q names no metric", where, expr)
	}
	return out
}

// query is one PromQL expression of the rules or the dashboard, and where it is.
type query struct{ where, expr string }

// metricsOf returns the metrics the queries name, with where each is used.
func metricsOf(t *testing.T, qs []query) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for _, q := range qs {
		for _, n := range metricNames(t, q.where, q.expr) {
			used[n] = append(used[n], q.where)
		}
	}
	return used
}

// ruleMetrics loads the rules as Prometheus does and returns the metrics they name.
func ruleMetrics(t *testing.T) map[string][]string { return metricsOf(t, ruleQueries(t)) }

// ruleQueries loads the rules as Prometheus does and returns their expressions.
func ruleQueries(t *testing.T) []query {
	t.Helper()
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("rulefmt: %v", err)
	}
	if groups == nil {
		t.Fatal("no rule groups")
	}
	var qs []query
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			qs = append(qs, query{rulesFile + " " + r.Alert + r.Record, r.Expr})
		}
	}
	// The alerts operators were promised; the broker's three failures apart (a dead
	// broker, a slow one, one that refuses), and a sender with a wrong URL.
	for _, want := range []string{
		"AudioSpliterBridgeHigh5xxRatio", "AudioSpliterBridgeNotReady", "AudioSpliterBridgePublishP99High",
		"AudioSpliterBridgeRetriesRising", "AudioSpliterBridgeDedupCacheNearBound",
		"AudioSpliterBridgeBrokerUnavailable", "AudioSpliterBridgeBrokerSlow", "AudioSpliterBridgeBrokerRefused",
		"AudioSpliterBridgeWebhooksToAWrongPath", "AudioSpliterBridgeSignaturesOutOfTolerance",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("%s has no alert %s", rulesFile, want)
		}
	}
	return qs
}

// grafanaVars are what Grafana substitutes before a query reaches Prometheus.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$instance", ".*", "$sender", ".*",
)

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)

// dashboardMetrics returns the metrics the dashboard's queries name.
func dashboardMetrics(t *testing.T) map[string][]string { return metricsOf(t, dashboardQueries(t)) }

// dashboardQueries returns every query of the dashboard (panel targets and
// template variables), as Prometheus gets it.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var qs []query
	add := func(where, expr string) { qs = append(qs, query{where, grafanaVars.Replace(expr)}) }
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					t.Errorf("%s: panel %q has a target without expr", dashboardFile, p.Title)
					continue
				}
				add(dashboardFile+" panel "+p.Title, tg.Expr)
			}
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			_ = json.Unmarshal(v.Query, &q.Query) // the older form: a plain string
		}
		m := labelValues.FindStringSubmatch(strings.TrimSpace(q.Query))
		if m == nil {
			t.Errorf("%s: variable %s: %q is not label_values(selector, label)", dashboardFile, v.Name, q.Query)
			continue
		}
		add(dashboardFile+" variable "+v.Name, m[1])
	}
	if len(qs) == 0 {
		t.Fatalf("%s has no queries", dashboardFile)
	}
	return qs
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func TestAlertRulesLoad(t *testing.T) { ruleMetrics(t) }

func TestDashboardQueriesParse(t *testing.T) { dashboardMetrics(t) }

// Every metric the rules and the dashboard name is one the bridge exposes: the test
// builds the bridge from this repository, runs it with its embedded NATS server on
// free ports, and scrapes /metrics.
//
// And every label they match on is one the metric has, with the value they match
// (each of an alternation such as "not_confirmed|backed_up"): an alert on a reason
// the bridge never gives would never fire. The bridge exposes the series operators
// alert on from the start, at 0.
func TestRulesAndDashboardUseExposedMetrics(t *testing.T) {
	exposed, values := scrapeBridge(t)
	exposed["up"] = true // Prometheus's own series for every target
	for _, used := range []map[string][]string{ruleMetrics(t), dashboardMetrics(t)} {
		for name, where := range used {
			if !exposed[name] {
				t.Errorf("%s is not exposed by the bridge (used in %s)", name, strings.Join(slices.Compact(where), ", "))
			}
		}
	}
	for _, q := range append(ruleQueries(t), dashboardQueries(t)...) {
		for _, s := range selectors(t, q.where, q.expr) {
			for _, m := range s.matchers {
				if m.Name == "job" || m.Name == "instance" || s.metric == "up" {
					continue // Prometheus's target labels
				}
				have, ok := values[familyOf(s.metric)][m.Name]
				if !ok {
					t.Errorf("%s: %s has no label %s", s.where, s.metric, m.Name)
					continue
				}
				for _, want := range literals(m) {
					if !have[want] {
						t.Errorf("%s: %s{%s=%q}: the bridge exposes no such series (it has %v)", s.where, s.metric, m.Name, want, slices.Sorted(maps.Keys(have)))
					}
				}
			}
		}
	}
}

// literals are the values a matcher names outright: its value for = and !=, each
// alternative of a regular expression made of plain words ("a|b"); none for a
// pattern such as "5..".
func literals(m *labels.Matcher) []string {
	switch m.Type {
	case labels.MatchEqual, labels.MatchNotEqual:
		return []string{m.Value}
	}
	alts := strings.Split(m.Value, "|")
	for _, a := range alts {
		if !regexp.MustCompile(`^[A-Za-z0-9_]+$`).MatchString(a) {
			return nil
		}
	}
	return alts
}

// familyOf is the metric family of a sample name (a histogram's _bucket, _sum,
// _count are its family's).
func familyOf(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}

// scrapeBridge returns every sample name the running bridge exposes: counters and
// gauges by name, histograms as _bucket, _sum and _count. The bridges are the binary
// built from this repository, with its embedded NATS server on free ports: one with
// a single sender, and one with a senders file (whose series carry a sender label),
// both scraped.
// The second result holds, by family, the values of each label.
func scrapeBridge(t *testing.T) (map[string]bool, map[string]map[string]map[string]bool) {
	t.Helper()
	exposed := map[string]bool{}
	values := map[string]map[string]map[string]bool{}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stripe.secret"), []byte("whsec_deploy_test_0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	senders := filepath.Join(dir, "senders.yaml")
	if err := os.WriteFile(senders, []byte("senders:\n  - {name: billing, path: /webhooks/stripe, scheme: stripe, secret_file: stripe.secret}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, env := range []map[string]string{
		{"BRIDGE_WEBHOOK_SECRET": "deploy-test-secret-0123456789"},
		{"BRIDGE_SENDERS_FILE": senders},
	} {
		env["BRIDGE_LISTEN_ADDR"] = "127.0.0.1:" + strconv.Itoa(freePort(t))
		env["BRIDGE_NATS_EMBEDDED_LISTEN"] = "127.0.0.1:" + strconv.Itoa(freePort(t))
		env["BRIDGE_DATA_DIR"] = t.TempDir()
		scrapeInto(t, env, exposed, values)
	}
	// A scrape that lost its format must not make the check vacuous.
	for _, name := range []string{"audiospliter_bridge_requests_total", "audiospliter_bridge_publish_duration_seconds_bucket", "audiospliter_bridge_sink_reconnects_total"} {
		if !exposed[name] {
			t.Fatalf("the scrape has no %s:\n%v", name, exposed)
		}
	}
	if !values["audiospliter_bridge_requests_total"]["sender"]["billing"] {
		t.Fatalf("the bridge with a senders file exposes no sender label: %v", values["audiospliter_bridge_requests_total"])
	}
	return exposed, values
}

// scrapeInto runs a bridge with env, scrapes it, and adds what it exposes.
func scrapeInto(t *testing.T, env map[string]string, exposed map[string]bool, values map[string]map[string]map[string]bool) {
	t.Helper()
	r := startBridge(t, env)
	r.waitReady(t)
	defer r.stop(t)
	resp, err := http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	families, err := parseText(resp.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	for name, f := range families {
		if values[name] == nil {
			values[name] = map[string]map[string]bool{}
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if values[name][l.GetName()] == nil {
					values[name][l.GetName()] = map[string]bool{}
				}
				values[name][l.GetName()][l.GetValue()] = true
			}
		}
		if f.GetType() == dto.MetricType_HISTOGRAM {
			values[name]["le"] = map[string]bool{}
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			exposed[name+"_bucket"], exposed[name+"_sum"], exposed[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			exposed[name], exposed[name+"_sum"], exposed[name+"_count"] = true, true, true
		default:
			exposed[name] = true
		}
	}
}

func parseText(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bufio.NewReader(r))
}
