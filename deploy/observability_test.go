package deploy

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
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
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			if name == "" {
				t.Errorf("%s: %q selects without a metric name", where, expr)
			}
			names = append(names, name)
		}
		return nil
	})
	if len(names) == 0 {
		t.Errorf("%s: %q names no metric", where, expr)
	}
	return names
}

// ruleMetrics loads the rules as Prometheus does and returns the metrics they name.
func ruleMetrics(t *testing.T) map[string][]string {
	t.Helper()
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("rulefmt: %v", err)
	}
	if groups == nil {
		t.Fatal("no rule groups")
	}
	used := map[string][]string{}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			where := rulesFile + " " + r.Alert + r.Record
			alerts = append(alerts, r.Alert)
			for _, n := range metricNames(t, where, r.Expr) {
				used[n] = append(used[n], where)
			}
		}
	}
	// The alerts operators were promised.
	for _, want := range []string{
		"AudioSpliterBridgeHigh5xxRatio", "AudioSpliterBridgeNotReady", "AudioSpliterBridgePublishP99High",
		"AudioSpliterBridgeRetriesRising", "AudioSpliterBridgeDedupCacheNearBound",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("%s has no alert %s", rulesFile, want)
		}
	}
	return used
}

// grafanaVars are what Grafana substitutes before a query reaches Prometheus.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$instance", ".*",
)

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)

// dashboardMetrics parses every query of the dashboard (panel targets and template
// variables) and returns the metrics they name.
func dashboardMetrics(t *testing.T) map[string][]string {
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
	used := map[string][]string{}
	add := func(where, expr string) {
		for _, n := range metricNames(t, where, grafanaVars.Replace(expr)) {
			used[n] = append(used[n], where)
		}
	}
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
	if len(used) == 0 {
		t.Fatalf("%s has no queries", dashboardFile)
	}
	return used
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
func TestRulesAndDashboardUseExposedMetrics(t *testing.T) {
	exposed := scrapeBridge(t)
	exposed["up"] = true // Prometheus's own series for every target
	for _, used := range []map[string][]string{ruleMetrics(t), dashboardMetrics(t)} {
		for name, where := range used {
			if !exposed[name] {
				t.Errorf("%s is not exposed by the bridge (used in %s)", name, strings.Join(slices.Compact(where), ", "))
			}
		}
	}
}

// scrapeBridge returns every sample name the running bridge exposes: counters and
// gauges by name, histograms as _bucket, _sum and _count. The bridge is the binary
// built from this repository, with its embedded NATS server on free ports.
func scrapeBridge(t *testing.T) map[string]bool {
	t.Helper()
	r := startBridge(t, map[string]string{
		"BRIDGE_WEBHOOK_SECRET":       "deploy-test-secret-0123456789",
		"BRIDGE_LISTEN_ADDR":          "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"BRIDGE_NATS_EMBEDDED_LISTEN": "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"BRIDGE_DATA_DIR":             t.TempDir(),
	})
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
	exposed := map[string]bool{}
	for name, f := range families {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			exposed[name+"_bucket"], exposed[name+"_sum"], exposed[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			exposed[name], exposed[name+"_sum"], exposed[name+"_count"] = true, true, true
		default:
			exposed[name] = true
		}
	}
	// A scrape that lost its format must not make the check vacuous.
	for _, name := range []string{"audiospliter_bridge_requests_total", "audiospliter_bridge_publish_duration_seconds_bucket", "audiospliter_bridge_sink_reconnects_total"} {
		if !exposed[name] {
			t.Fatalf("the scrape has no %s:\n%v", name, exposed)
		}
	}
	return exposed
}

func parseText(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bufio.NewReader(r))
}
