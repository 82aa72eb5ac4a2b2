package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// TestChartTestHookRunsCheck: `helm test` runs `bridge check` with exactly the
// bridge's environment and files, as the same ServiceAccount, and no Service or
// PodDisruptionBudget takes the test pod for a bridge.
func TestChartTestHookRunsCheck(t *testing.T) {
	for sink, file := range sinkValues {
		t.Run(sink, func(t *testing.T) {
			r := mustRender(t, []string{file})
			if r.testPod == nil {
				t.Fatal("no `helm test` pod")
			}
			pod := r.testPod.Spec
			if len(pod.Containers) != 1 || !slices.Equal(pod.Containers[0].Args, []string{"check"}) {
				t.Fatalf("test pod containers %+v, want one running `bridge check`", pod.Containers)
			}
			sameAsBridge(t, "test pod", r, pod, pod.Containers[0])
			if pod.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("test pod restartPolicy %q, want Never", pod.RestartPolicy)
			}
			if matches(r.service.Spec.Selector, r.testPod.Labels) {
				t.Error("the Service selects the test pod: webhooks would be sent to it")
			}
			if r.pdb != nil && matches(r.pdb.Spec.Selector.MatchLabels, r.testPod.Labels) {
				t.Error("the PodDisruptionBudget counts the test pod")
			}
		})
	}
}

// TestChartCheckAtStart: with checkAtStart the pod runs `bridge check` first, with
// the bridge's environment and files; it is off by default.
func TestChartCheckAtStart(t *testing.T) {
	if r := mustRender(t, nil); len(r.deployment.Spec.Template.Spec.InitContainers) != 0 {
		t.Error("an init container by default")
	}
	for sink, file := range sinkValues {
		r := mustRender(t, []string{file}, "checkAtStart=true")
		pod := r.deployment.Spec.Template.Spec
		if len(pod.InitContainers) != 1 || !slices.Equal(pod.InitContainers[0].Args, []string{"check"}) {
			t.Fatalf("%s: init containers %+v, want one running `bridge check`", sink, pod.InitContainers)
		}
		sameAsBridge(t, sink+" init container", r, pod, pod.InitContainers[0])
	}
}

// sameAsBridge fails unless c sees what the bridge container sees: its image,
// environment, mounted files and hardening, as the same ServiceAccount.
func sameAsBridge(t *testing.T, what string, r *rendered, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	bridge := r.container(t)
	if c.Image != bridge.Image {
		t.Errorf("%s: image %s, the bridge's is %s", what, c.Image, bridge.Image)
	}
	if !reflect.DeepEqual(c.Env, bridge.Env) {
		t.Errorf("%s: env\n%+v\nthe bridge's\n%+v", what, c.Env, bridge.Env)
	}
	if !reflect.DeepEqual(mountedFiles(t, pod, c), mountedFiles(t, r.deployment.Spec.Template.Spec, bridge)) {
		t.Errorf("%s: mounts other files than the bridge's", what)
	}
	if !reflect.DeepEqual(c.SecurityContext, bridge.SecurityContext) {
		t.Errorf("%s: securityContext %+v, the bridge's %+v", what, c.SecurityContext, bridge.SecurityContext)
	}
	if pod.ServiceAccountName != r.deployment.Spec.Template.Spec.ServiceAccountName {
		t.Errorf("%s: runs as %s, the bridge as %s", what, pod.ServiceAccountName, r.deployment.Spec.Template.Spec.ServiceAccountName)
	}
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// TestChartIngress: opt-in; it exposes the webhook path alone, exactly, to the
// Service's port, for each host; without a host it is refused.
func TestChartIngress(t *testing.T) {
	if r := mustRender(t, nil); r.ingress != nil {
		t.Error("an Ingress by default")
	}
	r := mustRender(t, nil, "ingress.enabled=true", "ingress.className=nginx", "ingress.hosts[0]=hooks.example.com",
		"ingress.tls[0].secretName=hooks-tls", "ingress.tls[0].hosts[0]=hooks.example.com", "config.BRIDGE_WEBHOOK_PATH=/audiospliter")
	ing := r.ingress
	if ing == nil {
		t.Fatal("no Ingress")
	}
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "hooks-tls" {
		t.Errorf("class %v, tls %+v", ing.Spec.IngressClassName, ing.Spec.TLS)
	}
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "hooks.example.com" {
		t.Fatalf("rules %+v", ing.Spec.Rules)
	}
	paths := ing.Spec.Rules[0].HTTP.Paths
	if len(paths) != 1 || paths[0].Path != "/audiospliter" || paths[0].PathType == nil || *paths[0].PathType != networkingv1.PathTypeExact {
		t.Errorf("paths %+v, want the webhook path alone, Exact", paths)
	}
	if b := paths[0].Backend.Service; b == nil || b.Name != r.service.Name || b.Port.Name != r.service.Spec.Ports[0].Name {
		t.Errorf("backend %+v, want Service %s port %s", paths[0].Backend, r.service.Name, r.service.Spec.Ports[0].Name)
	}
	if _, err := render(t, nil, "ingress.enabled=true"); err == nil || !strings.Contains(err.Error(), "ingress.hosts") {
		t.Errorf("an Ingress without hosts: %v, want an error naming ingress.hosts", err)
	}
}

// TestChartSpreadsReplicas: by default replicas prefer different nodes and zones
// (never left unscheduled for it); constraints given replace the default; it can be
// turned off.
func TestChartSpreadsReplicas(t *testing.T) {
	r := mustRender(t, nil)
	cs := r.deployment.Spec.Template.Spec.TopologySpreadConstraints
	keys := []string{}
	for _, c := range cs {
		keys = append(keys, c.TopologyKey)
		if c.WhenUnsatisfiable != corev1.ScheduleAnyway || c.MaxSkew != 1 {
			t.Errorf("constraint %+v: want maxSkew 1, ScheduleAnyway", c)
		}
		checkSelects(t, "topology spread", c.LabelSelector.MatchLabels, r.deployment.Spec.Template.Labels)
	}
	if !slices.Equal(keys, []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"}) {
		t.Errorf("spread over %v, want nodes and zones", keys)
	}
	if r := mustRender(t, nil, "spreadReplicas=false"); len(r.deployment.Spec.Template.Spec.TopologySpreadConstraints) != 0 {
		t.Error("spreadReplicas=false still spreads")
	}
	r = mustRender(t, nil, "topologySpreadConstraints[0].maxSkew=2", "topologySpreadConstraints[0].topologyKey=rack",
		"topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule")
	if cs := r.deployment.Spec.Template.Spec.TopologySpreadConstraints; len(cs) != 1 || cs[0].TopologyKey != "rack" {
		t.Errorf("constraints given: %+v, want them alone", cs)
	}
}

// TestNoSecretOnACommandLine: the commands the chart and the docs give put secrets
// into Kubernetes from files, never as literals a shell keeps in its history.
func TestNoSecretOnACommandLine(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(chartDir, "examples", "*.yaml"))
	docs, _ := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	paths = append(append(paths, docs...), filepath.Join("..", "README.md"), filepath.Join(chartDir, "values.yaml"), filepath.Join(chartDir, "templates", "NOTES.txt"))
	if len(paths) < 5 {
		t.Fatalf("found only %v", paths)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			if strings.Contains(line, "--from-literal") {
				t.Errorf("%s:%d: %s: give the value as a file (--from-file) or a Secret manifest", p, i+1, strings.TrimSpace(line))
			}
		}
	}
}
