package deploy

import (
	"strings"
	"testing"
)

// TestChartGraceFollowsShutdownTimeout: the grace period is derived from the
// shutdown timeout, not a second number to keep in step by hand.
func TestChartGraceFollowsShutdownTimeout(t *testing.T) {
	for _, sets := range [][]string{
		{"shutdownTimeoutSeconds=120"},
		{"shutdownTimeoutSeconds=120", "preStopSleepSeconds=0"},
		{"shutdownTimeoutSeconds=1", "preStopSleepSeconds=30"},
	} {
		r := mustRender(t, nil, sets...)
		checkPod(t, r, "nats")
		if strings.HasSuffix(sets[len(sets)-1], "=0") && r.container(t).Lifecycle != nil {
			t.Errorf("%v: preStopSleepSeconds=0 still renders a preStop hook", sets)
		}
	}
}

// TestChartOptionalObjects: the HorizontalPodAutoscaler and the ServiceMonitor
// render when asked for, and decode strictly.
func TestChartOptionalObjects(t *testing.T) {
	r := mustRender(t, nil, "autoscaling.enabled=true", "serviceMonitor.enabled=true", "podDisruptionBudget.enabled=false")
	if r.hpa == nil || r.serviceMonitor == nil || r.pdb != nil {
		t.Fatalf("rendered %s, want HPA and ServiceMonitor without PodDisruptionBudget", r)
	}
	if r.deployment.Spec.Replicas != nil {
		t.Error("with the HPA on, the Deployment must not set replicas (each upgrade would undo the HPA's scaling)")
	}
	if got := r.hpa.Spec.ScaleTargetRef; got.Kind != "Deployment" || got.Name != r.deployment.Name {
		t.Errorf("HPA scales %s %s, want Deployment %s", got.Kind, got.Name, r.deployment.Name)
	}
	eps := r.serviceMonitor.Spec.Endpoints
	if len(eps) != 1 || eps[0].Path != "/metrics" || eps[0].Port != "http" {
		t.Errorf("ServiceMonitor endpoints %+v, want /metrics on port http", eps)
	}
	checkSelects(t, "ServiceMonitor", r.serviceMonitor.Spec.Selector.MatchLabels, r.service.Labels)

	// Over HTTPS the scrape carries the verification the user gives (decoded strictly
	// as the Prometheus Operator's TLS config above).
	r = mustRender(t, nil, "tls.listenerSecret=bridge-tls", "serviceMonitor.enabled=true",
		"serviceMonitor.tlsConfig.ca.secret.name=bridge-ca", "serviceMonitor.tlsConfig.ca.secret.key=ca.crt",
		"serviceMonitor.tlsConfig.serverName=bridge.audio.svc")
	ep := r.serviceMonitor.Spec.Endpoints[0]
	if ep.Scheme == nil || string(*ep.Scheme) != "https" || ep.TLSConfig == nil || ep.TLSConfig.CA.Secret == nil || ep.TLSConfig.CA.Secret.Name != "bridge-ca" {
		t.Errorf("HTTPS ServiceMonitor endpoint: scheme %v, tlsConfig %+v", ep.Scheme, ep.TLSConfig)
	}
}

// TestChartListenerTLS: with a TLS Secret for the listener the bridge serves HTTPS
// and the probes follow.
func TestChartListenerTLS(t *testing.T) {
	r := mustRender(t, nil, "tls.listenerSecret=bridge-tls")
	plain, _ := r.env(t)
	if plain["BRIDGE_TLS_CERT_FILE"] == "" || plain["BRIDGE_TLS_KEY_FILE"] == "" {
		t.Fatalf("listener TLS: env %v", plain)
	}
	checkPod(t, r, "nats") // probes HTTPS, the files mounted
}

// TestChartForwardSignature: BRIDGE_FORWARD_SIGNATURE reaches the bridge from config.
func TestChartForwardSignature(t *testing.T) {
	r := mustRender(t, nil, "config.BRIDGE_FORWARD_SIGNATURE=false")
	plain, _ := r.env(t)
	if plain["BRIDGE_FORWARD_SIGNATURE"] != "false" {
		t.Errorf("BRIDGE_FORWARD_SIGNATURE = %q, want false", plain["BRIDGE_FORWARD_SIGNATURE"])
	}
}

// TestChartIRSA: with sink sqs the ServiceAccount carries the IAM role and no AWS key
// is anywhere in the pod.
func TestChartIRSA(t *testing.T) {
	r := mustRender(t, []string{"sqs.yaml"})
	if r.serviceAccount == nil {
		t.Fatal("no ServiceAccount")
	}
	if got := r.serviceAccount.Annotations["eks.amazonaws.com/role-arn"]; !strings.HasPrefix(got, "arn:aws:iam::") {
		t.Errorf("ServiceAccount role-arn annotation = %q", got)
	}
	if r.deployment.Spec.Template.Spec.ServiceAccountName != r.serviceAccount.Name {
		t.Error("the pod does not run as the annotated ServiceAccount")
	}
}

// TestChartRefusesBadValues: a mistake in values fails `helm install` with a message
// naming the value, before anything reaches the cluster.
func TestChartRefusesBadValues(t *testing.T) {
	cases := []struct {
		name  string
		files []string
		sets  []string
		want  string // in the error
	}{
		{"unknown sink", nil, []string{"sink=kafka"}, "sink"},
		{"nats without a URL key", nil, []string{"secretKeys.natsURL="}, "natsURL"},
		{"rabbitmq without a URL key", []string{"rabbitmq.yaml"}, []string{"secretKeys.rabbitmqURL="}, "rabbitmqURL"},
		{"sqs without a queue", []string{"sqs.yaml"}, []string{"sqs.queueURL="}, "queueURL"},
		{"sqs without a region", []string{"sqs.yaml"}, []string{"sqs.region="}, "region"},
		{"a secret as plain config", nil, []string{"config.BRIDGE_WEBHOOK_SECRET=hunter2"}, "BRIDGE_WEBHOOK_SECRET"},
		{"a misspelt setting", nil, []string{"config.BRIDGE_PUBLISH_TIMOUT=5s"}, "BRIDGE_PUBLISH_TIMOUT"},
		{"the embedded server", nil, []string{"config.BRIDGE_NATS_EMBEDDED_LISTEN=0.0.0.0:4222"}, "BRIDGE_NATS_EMBEDDED_LISTEN"},
		{"the shutdown timeout as config", nil, []string{"config.BRIDGE_SHUTDOWN_TIMEOUT=60s"}, "BRIDGE_SHUTDOWN_TIMEOUT"},
		{"a duration that does not parse", nil, []string{"config.BRIDGE_PUBLISH_TIMEOUT=10 seconds"}, "BRIDGE_PUBLISH_TIMEOUT"},
		{"a log level", nil, []string{"config.BRIDGE_LOG_LEVEL=verbose"}, "BRIDGE_LOG_LEVEL"},
		{"a reserved webhook path", nil, []string{"config.BRIDGE_WEBHOOK_PATH=/metrics"}, "BRIDGE_WEBHOOK_PATH"},
		{"forward signature not a boolean", nil, []string{"config.BRIDGE_FORWARD_SIGNATURE=no"}, "BRIDGE_FORWARD_SIGNATURE"},
		{"a BRIDGE variable in extraEnv", nil, []string{"extraEnv[0].name=BRIDGE_SINK", "extraEnv[0].value=sqs"}, "extraEnv"},
		// Says what to do, not "'not' failed".
		{"a BRIDGE variable in extraEnv, the way out", nil, []string{"extraEnv[0].name=BRIDGE_PUBLISH_TIMEOUT", "extraEnv[0].value=5s"}, "set it with config.BRIDGE_PUBLISH_TIMEOUT"},
		// A number is not "got number, want string": it lacks its unit.
		{"a duration as a number", nil, []string{"config.BRIDGE_PUBLISH_TIMEOUT=10"}, "BRIDGE_PUBLISH_TIMEOUT: 10 is missing its unit: write 10s"},
		{"a duration as a number in a string", nil, []string{"config.BRIDGE_DEDUP_TTL=600"}, "BRIDGE_DEDUP_TTL: 600 is missing its unit"},
		{"zero shutdown timeout", nil, []string{"shutdownTimeoutSeconds=0"}, "shutdownTimeoutSeconds"},
		{"creds and nkey", nil, []string{"secretKeys.natsCreds=a", "secretKeys.natsNkey=b"}, "at most one"},
		{"HPA upside down", nil, []string{"autoscaling.enabled=true", "autoscaling.minReplicas=5", "autoscaling.maxReplicas=2"}, "minReplicas"},
		{"a misspelt top-level value", nil, []string{"replicas=3"}, "replicas"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, c.files, c.sets...)
			if err == nil {
				t.Fatalf("values %v %v rendered; want an error naming %s", c.files, c.sets, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not name %s:\n%v", c.want, err)
			}
		})
	}
}
