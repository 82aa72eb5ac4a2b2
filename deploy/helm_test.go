package deploy

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// sinkValues are the example values files users start from, one per sink.
var sinkValues = map[string]string{
	"rabbitmq": "rabbitmq.yaml",
	"nats":     "nats.yaml",
	"sqs":      "sqs.yaml",
}

// TestChartDefaults: `helm template` with nothing but the chart's own values renders
// a Deployment of two replicas, a Service, a ServiceAccount and a PodDisruptionBudget.
func TestChartDefaults(t *testing.T) {
	r := mustRender(t, nil)
	if got := r.deployment.Spec.Replicas; got == nil || *got != 2 {
		t.Errorf("replicas = %v, want 2", got)
	}
	for _, k := range []string{"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"} {
		if !strings.Contains(r.String(), k) {
			t.Errorf("defaults render no %s (got %s)", k, r)
		}
	}
	if r.hpa != nil || r.serviceMonitor != nil {
		t.Errorf("HPA and ServiceMonitor are opt-in, got %s", r)
	}
	checkPod(t, r, "nats")
}

// TestChartPerSink renders each sink's example values and checks the pod the way
// the binary will see it.
func TestChartPerSink(t *testing.T) {
	for sink, file := range sinkValues {
		t.Run(sink, func(t *testing.T) {
			r := mustRender(t, []string{file})
			checkPod(t, r, sink)
		})
	}
}

// checkPod asserts what every rendering must hold.
func checkPod(t *testing.T, r *rendered, sink string) {
	t.Helper()
	known := bridgeVariables(t)
	pod := r.deployment.Spec.Template.Spec
	c := r.container(t)
	plain, from := r.env(t)

	// The environment: only variables the binary reads, the right sink, secrets only
	// as files.
	for name := range plain {
		if strings.HasPrefix(name, "BRIDGE_") {
			if _, ok := known[name]; !ok {
				t.Errorf("the chart sets %s, which `bridge -h` does not list", name)
			}
		}
	}
	for name := range from {
		t.Errorf("env %s comes from valueFrom: the chart hands secrets over as files only", name)
	}
	if plain["BRIDGE_SINK"] != sink {
		t.Errorf("BRIDGE_SINK = %q, want %q", plain["BRIDGE_SINK"], sink)
	}
	checkNoInlineSecret(t, plain)
	mounts := mountedFiles(t, pod, c)
	for name, value := range plain {
		if strings.HasSuffix(name, "_FILE") {
			if !mounts.has(value) {
				t.Errorf("%s = %s, but no volume puts a file there", name, value)
			}
		}
	}
	switch senders := plain["BRIDGE_SENDERS_FILE"] != ""; {
	case senders && plain["BRIDGE_WEBHOOK_SECRET_FILE"] != "":
		t.Error("both BRIDGE_SENDERS_FILE and BRIDGE_WEBHOOK_SECRET_FILE: the bridge refuses that (exit 2)")
	case !senders && plain["BRIDGE_WEBHOOK_SECRET_FILE"] == "":
		t.Error("the webhook secret does not reach the bridge as BRIDGE_WEBHOOK_SECRET_FILE")
	}
	switch sink {
	case "rabbitmq":
		if plain["BRIDGE_RABBITMQ_URL_FILE"] == "" {
			t.Error("no BRIDGE_RABBITMQ_URL_FILE")
		}
	case "nats":
		// Without a URL the bridge would start its embedded server inside the pod: a
		// stream on one pod's disk, lost with the pod. The chart never does that.
		if plain["BRIDGE_NATS_URL_FILE"] == "" {
			t.Error("no BRIDGE_NATS_URL_FILE: the bridge would run its embedded NATS server in the pod")
		}
	case "sqs":
		if plain["BRIDGE_SQS_QUEUE_URL"] == "" || plain["AWS_REGION"] == "" {
			t.Errorf("SQS needs BRIDGE_SQS_QUEUE_URL and AWS_REGION, got %q, %q", plain["BRIDGE_SQS_QUEUE_URL"], plain["AWS_REGION"])
		}
	}
	for name := range plain {
		if strings.HasPrefix(name, "BRIDGE_NATS_EMBEDDED_") || name == "BRIDGE_DATA_DIR" {
			t.Errorf("the chart sets %s: the embedded NATS server is not offered in Kubernetes", name)
		}
	}

	// Probes on the bridge's own endpoints, on the port it listens on.
	listen := plain["BRIDGE_LISTEN_ADDR"]
	if listen == "" {
		listen = known["BRIDGE_LISTEN_ADDR"]
	}
	port := listen[strings.LastIndex(listen, ":")+1:]
	if len(c.Ports) != 1 || strconv.Itoa(int(c.Ports[0].ContainerPort)) != port {
		t.Errorf("container ports %v, the bridge listens on %s", c.Ports, listen)
	}
	scheme := corev1.URISchemeHTTP
	if plain["BRIDGE_TLS_CERT_FILE"] != "" {
		scheme = corev1.URISchemeHTTPS
	}
	checkProbe(t, "liveness", c.LivenessProbe, "/healthz", scheme)
	checkProbe(t, "readiness", c.ReadinessProbe, "/readyz", scheme)
	if c.StartupProbe != nil {
		checkProbe(t, "startup", c.StartupProbe, "/healthz", scheme)
	}

	// Security context: pod and container.
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod: runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod: seccompProfile is not RuntimeDefault")
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("container has no securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("container: readOnlyRootFilesystem is not true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("container: allowPrivilegeEscalation is not false")
	case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0:
		t.Errorf("container: capabilities %+v, want drop ALL and add none", sc.Capabilities)
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("container: privileged")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts a Kubernetes API token it never uses")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
	}

	// The grace period covers the preStop sleep and the bridge's own shutdown bound
	// (it exits within BRIDGE_SHUTDOWN_TIMEOUT + 1 s).
	shutdown := plain["BRIDGE_SHUTDOWN_TIMEOUT"]
	if shutdown == "" {
		shutdown = known["BRIDGE_SHUTDOWN_TIMEOUT"]
	}
	d, err := time.ParseDuration(shutdown)
	if err != nil {
		t.Fatalf("BRIDGE_SHUTDOWN_TIMEOUT = %q: %v", shutdown, err)
	}
	need := d + time.Second
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Sleep == nil {
			t.Errorf("preStop %+v: the image has no shell, only the sleep action works", c.Lifecycle.PreStop)
		} else {
			need += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
	}
	switch grace := pod.TerminationGracePeriodSeconds; {
	case grace == nil:
		t.Errorf("no terminationGracePeriodSeconds: Kubernetes' 30 s default does not follow BRIDGE_SHUTDOWN_TIMEOUT (%s)", shutdown)
	case time.Duration(*grace)*time.Second <= need:
		t.Errorf("terminationGracePeriodSeconds = %d, want more than %s (preStop + shutdown timeout %s + 1 s)", *grace, need, shutdown)
	}

	// The Service reaches the pods; the PodDisruptionBudget keeps one of two.
	if r.service != nil {
		if len(r.service.Spec.Ports) == 0 || r.service.Spec.Ports[0].TargetPort.String() != c.Ports[0].Name {
			t.Errorf("Service targets %v, container port is named %q", r.service.Spec.Ports, c.Ports[0].Name)
		}
		checkSelects(t, "Service", r.service.Spec.Selector, r.deployment.Spec.Template.Labels)
	} else {
		t.Error("no Service")
	}
	if r.pdb != nil {
		checkSelects(t, "PodDisruptionBudget", r.pdb.Spec.Selector.MatchLabels, r.deployment.Spec.Template.Labels)
	}
	if pod.ServiceAccountName == "" || (r.serviceAccount != nil && r.serviceAccount.Name != pod.ServiceAccountName) {
		t.Errorf("the pod runs as %q, the chart creates ServiceAccount %v", pod.ServiceAccountName, r.serviceAccount)
	}
}

func checkProbe(t *testing.T, which string, p *corev1.Probe, path string, scheme corev1.URIScheme) {
	t.Helper()
	switch {
	case p == nil:
		t.Errorf("no %s probe", which)
	case p.HTTPGet == nil:
		t.Errorf("%s probe is not an HTTP GET", which)
	case p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" || p.HTTPGet.Scheme != scheme:
		t.Errorf("%s probe GET %s %s port %s, want %s %s port http", which, p.HTTPGet.Scheme, p.HTTPGet.Path, p.HTTPGet.Port.String(), scheme, path)
	}
}

func checkSelects(t *testing.T, what string, selector, labels map[string]string) {
	t.Helper()
	if len(selector) == 0 {
		t.Errorf("%s has an empty selector", what)
	}
	for k, v := range selector {
		if labels[k] != v {
			t.Errorf("%s selects %s=%s, the pods have %q", what, k, v, labels[k])
		}
	}
}

// secretLooking matches values that carry a credential: a URL with a password or
// token, a PEM block, or a long random-looking string (a path is not one).
var secretLooking = regexp.MustCompile(`://[^/@\s]*:[^/@\s]*@|://[^/@:\s]+@|-----BEGIN|^[A-Za-z0-9+=_-][A-Za-z0-9+/=_-]{31,}$`)

// checkNoInlineSecret fails on any plain environment value that is, or may be, a
// secret: secrets reach the pod as files from a referenced Secret, never as values.
func checkNoInlineSecret(t *testing.T, plain map[string]string) {
	t.Helper()
	for name, value := range plain {
		if secretLooking.MatchString(value) {
			t.Errorf("env %s carries what looks like a credential inline", name)
		}
		upper := strings.ToUpper(name)
		// A URL is a secret only with credentials in it (the pattern above).
		if hasPrefixAny(upper, "AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION_TOKEN") ||
			((strings.Contains(upper, "SECRET") || strings.Contains(upper, "TOKEN") || strings.Contains(upper, "PASSWORD")) &&
				!strings.HasSuffix(upper, "_FILE")) {
			t.Errorf("env %s is set inline; a secret must come from a file", name)
		}
	}
}

// files is the set of file paths the pod's volumes put into the container.
type files map[string]bool

func (f files) has(path string) bool { return f[path] }

// mountedFiles lists every file a Secret or projected volume places in the
// container, by its path there.
func mountedFiles(t *testing.T, pod corev1.PodSpec, c corev1.Container) files {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	out := files{}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Errorf("mount %s names no volume", m.Name)
			continue
		}
		if m.SubPath != "" {
			t.Errorf("mount %s uses subPath: Kubernetes never updates such a file when the Secret rotates", m.Name)
		}
		if !m.ReadOnly {
			t.Errorf("mount %s is writable", m.Name)
		}
		add := func(items []corev1.KeyToPath) {
			if len(items) == 0 {
				t.Errorf("volume %s mounts a whole Secret: list the keys so a missing one fails the pod, not the bridge", m.Name)
			}
			for _, it := range items {
				out[strings.TrimSuffix(m.MountPath, "/")+"/"+it.Path] = true
			}
		}
		switch {
		case v.Secret != nil:
			add(v.Secret.Items)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				switch {
				case s.Secret != nil:
					add(s.Secret.Items)
				case s.ConfigMap != nil: // the senders file, beside its senders' secrets
					add(s.ConfigMap.Items)
				default:
					t.Errorf("volume %s projects something other than a Secret or the senders file's ConfigMap", m.Name)
				}
			}
		default:
			t.Errorf("volume %s is neither a Secret nor a projection of Secrets", m.Name)
		}
	}
	return out
}
