package deploy

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "helm/audiospliter-bridge"

// rendered is one chart rendering, every object decoded into its API type.
type rendered struct {
	deployment      *appsv1.Deployment
	service         *corev1.Service
	serviceAccount  *corev1.ServiceAccount
	pdb             *policyv1.PodDisruptionBudget
	hpa             *autoscalingv2.HorizontalPodAutoscaler
	serviceMonitor  *monitoringv1.ServiceMonitor
	ingress         *networkingv1.Ingress
	sendersConfig   *corev1.ConfigMap // the senders file, with senders
	testPod         *corev1.Pod       // the `helm test` hook
	kinds           []string
	manifest, notes string
}

// render does what `helm template bridge <chart> -f files… --set sets…` does, with
// Helm's own library: the chart loader (which applies .helmignore), the values merge,
// the schema validation and the template engine, in client-only mode (no cluster).
// Each object is then decoded strictly into its Kubernetes API type: a misspelt or
// misplaced field fails instead of being dropped by the API server.
func render(t *testing.T, files []string, sets ...string) (*rendered, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	opts := values.Options{Values: sets}
	for _, f := range files {
		opts.ValueFiles = append(opts.ValueFiles, filepath.Join(chartDir, "examples", f))
	}
	vals, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		t.Fatalf("values %v %v: %v", files, sets, err)
	}
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = "bridge"
	install.Namespace = "audio"
	install.Replace = true
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return nil, err
	}
	r := &rendered{manifest: rel.(*release.Release).Manifest, notes: rel.(*release.Release).Info.Notes}
	for _, h := range rel.(*release.Release).Hooks {
		if h.Kind != "Pod" || !slices.Contains(h.Events, release.HookTest) {
			t.Fatalf("the chart renders hook %s %s, which this test does not know how to check", h.Kind, h.Name)
		}
		r.testPod = &corev1.Pod{}
		if err := yaml.UnmarshalStrict([]byte(h.Manifest), r.testPod); err != nil {
			t.Fatalf("hook %s does not decode strictly as a Pod: %v\n%s", h.Name, err, h.Manifest)
		}
	}
	docs := releaseutil.SplitManifests(r.manifest)
	for _, name := range slices.Sorted(maps.Keys(docs)) {
		doc := docs[name]
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, doc)
		}
		var target any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			r.deployment = &appsv1.Deployment{}
			target = r.deployment
		case "v1 Service":
			r.service = &corev1.Service{}
			target = r.service
		case "v1 ServiceAccount":
			r.serviceAccount = &corev1.ServiceAccount{}
			target = r.serviceAccount
		case "policy/v1 PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			target = r.pdb
		case "autoscaling/v2 HorizontalPodAutoscaler":
			r.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			target = r.hpa
		case "v1 ConfigMap":
			r.sendersConfig = &corev1.ConfigMap{}
			target = r.sendersConfig
		case "networking.k8s.io/v1 Ingress":
			r.ingress = &networkingv1.Ingress{}
			target = r.ingress
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.serviceMonitor = &monitoringv1.ServiceMonitor{}
			target = r.serviceMonitor
		default:
			t.Fatalf("the chart renders %s %s, which this test does not know how to check", head.APIVersion, head.Kind)
		}
		if slices.Contains(r.kinds, head.Kind) {
			t.Fatalf("the chart renders two %s objects", head.Kind)
		}
		r.kinds = append(r.kinds, head.Kind)
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			t.Fatalf("%s does not decode strictly as %s %s: %v\n%s", name, head.APIVersion, head.Kind, err, doc)
		}
	}
	return r, nil
}

// mustRender renders and fails the test on a rendering error.
func mustRender(t *testing.T, files []string, sets ...string) *rendered {
	t.Helper()
	r, err := render(t, files, sets...)
	if err != nil {
		t.Fatalf("helm template with %v %v: %v", files, sets, err)
	}
	if r.deployment == nil {
		t.Fatalf("no Deployment rendered:\n%s", r.manifest)
	}
	return r
}

// container returns the bridge container of the Deployment.
func (r *rendered) container(t *testing.T) corev1.Container {
	t.Helper()
	cs := r.deployment.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("want one container, got %d", len(cs))
	}
	return cs[0]
}

// env returns the container's plain environment (name -> value) and the names of
// variables taken from somewhere else (valueFrom).
func (r *rendered) env(t *testing.T) (plain map[string]string, from map[string]*corev1.EnvVarSource) {
	t.Helper()
	plain, from = map[string]string{}, map[string]*corev1.EnvVarSource{}
	for _, e := range r.container(t).Env {
		if _, dup := plain[e.Name]; dup {
			t.Errorf("env %s is set twice", e.Name)
		}
		if e.ValueFrom != nil {
			from[e.Name] = e.ValueFrom
			continue
		}
		plain[e.Name] = e.Value
	}
	return plain, from
}

func (r *rendered) String() string { return fmt.Sprintf("%v", r.kinds) }

func hasPrefixAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
