package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// TestChartSenders renders the senders example: the senders file in a ConfigMap,
// mounted with each sender's Secret key in one directory (whole-volume projected
// mounts: a rotated Secret reaches the bridge), BRIDGE_SENDERS_FILE instead of the
// webhook secret, a checksum of the file on the pod (a change rolls the pods), the
// Ingress exposing each sender's path alone; the check pod sees the same.
func TestChartSenders(t *testing.T) {
	r := mustRender(t, []string{"senders.yaml"})
	checkPod(t, r, "nats")
	plain, _ := r.env(t)
	if plain["BRIDGE_SENDERS_FILE"] != "/etc/audiospliter-bridge/senders/senders.yaml" || plain["BRIDGE_WEBHOOK_SECRET_FILE"] != "" {
		t.Errorf("env %v: want BRIDGE_SENDERS_FILE and no BRIDGE_WEBHOOK_SECRET_FILE", plain)
	}
	if r.sendersConfig == nil || r.sendersConfig.Name != "bridge-audiospliter-bridge-senders" {
		t.Fatalf("no senders ConfigMap: %s", r)
	}
	file := r.sendersConfig.Data["senders.yaml"]
	for _, want := range []string{`name: "billing"`, `scheme: "stripe"`, `secret_file: "billing.secret"`, `tolerance: "5m"`,
		`route: "{event}"`, "event_field: kind", "prefix: sha512="} {
		if !strings.Contains(file, want) {
			t.Errorf("the senders file lacks %s:\n%s", want, file)
		}
	}
	pod := r.deployment.Spec.Template.Spec
	var senders *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == "senders" {
			senders = &pod.Volumes[i]
		}
	}
	if senders == nil || senders.Projected == nil {
		t.Fatalf("no projected senders volume: %+v", pod.Volumes)
	}
	got := map[string]string{} // path in the directory → Secret/key or ConfigMap/key
	for _, s := range senders.Projected.Sources {
		switch {
		case s.ConfigMap != nil:
			for _, it := range s.ConfigMap.Items {
				got[it.Path] = "configmap " + s.ConfigMap.Name + "/" + it.Key
			}
		case s.Secret != nil:
			for _, it := range s.Secret.Items {
				got[it.Path] = s.Secret.Name + "/" + it.Key
			}
		}
	}
	want := map[string]string{
		"senders.yaml":        "configmap bridge-audiospliter-bridge-senders/senders.yaml",
		"audiospliter.secret": "audiospliter-webhook/secret", "svix.secret": "svix-webhook/secret",
		"github.secret": "github-webhook/secret", "billing.secret": "stripe-webhook/secret", "partner.secret": "partner-webhook/secret",
	}
	for path, src := range want {
		if got[path] != src {
			t.Errorf("the senders directory's %s comes from %q, want %q", path, got[path], src)
		}
	}
	if r.deployment.Spec.Template.Annotations["checksum/senders"] == "" {
		t.Error("no checksum of the senders file on the pod: a changed file would not roll the pods")
	}
	// The main Secret holds the NATS URL only: no webhook-secret key is asked of it.
	for _, v := range pod.Volumes {
		if v.Name == "secrets" {
			for _, s := range v.Projected.Sources {
				for _, it := range s.Secret.Items {
					if it.Path == "webhook-secret" {
						t.Error("the release's Secret must hold a webhook-secret key although senders are set")
					}
				}
			}
		}
	}
	var paths []string
	for _, p := range r.ingress.Spec.Rules[0].HTTP.Paths {
		if p.PathType == nil || *p.PathType != networkingv1.PathTypeExact {
			t.Errorf("ingress path %s is not Exact", p.Path)
		}
		paths = append(paths, p.Path)
	}
	if !slices.Equal(paths, []string{"/webhooks/audiospliter", "/webhooks/svix", "/webhooks/github", "/webhooks/stripe", "/webhooks/partner"}) {
		t.Errorf("ingress paths %v, want each sender's", paths)
	}
	sameAsBridge(t, "helm test pod", r, r.testPod.Spec, r.testPod.Spec.Containers[0])
	if !strings.Contains(r.notes, "billing (stripe): POST") {
		t.Errorf("NOTES do not list the senders' URLs:\n%s", r.notes)
	}

	// SQS with senders needs no Secret of the release's at all.
	r = mustRender(t, []string{"senders.yaml"}, "sink=sqs", "sqs.queueURL=https://sqs.eu-west-1.amazonaws.com/123456789012/events", "sqs.region=eu-west-1")
	checkPod(t, r, "sqs")
	for _, v := range r.deployment.Spec.Template.Spec.Volumes {
		if v.Name == "secrets" {
			t.Error("sink sqs with senders mounts the release's Secret, which then has nothing to hold")
		}
	}
}

// The senders file the chart writes is one the bridge loads: the bridge built from
// this repository starts with it, each Secret key standing as a file where the
// projected volume puts it, and becomes ready.
func TestChartSendersFileStartsTheBridge(t *testing.T) {
	r := mustRender(t, []string{"senders.yaml"})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "senders.yaml"), []byte(r.sendersConfig.Data["senders.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range r.deployment.Spec.Template.Spec.Volumes {
		if v.Name != "senders" {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.Secret == nil {
				continue
			}
			for _, it := range s.Secret.Items {
				// Usable by every scheme: Standard Webhooks wants whsec_ and base64.
				secret := "whsec_ZGVwbG95LXRlc3Qtc2VjcmV0LTAxMjM0NTY3ODk=\n"
				if err := os.WriteFile(filepath.Join(dir, it.Path), []byte(secret), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	b := startBridge(t, map[string]string{
		"BRIDGE_SENDERS_FILE":         filepath.Join(dir, "senders.yaml"),
		"BRIDGE_LISTEN_ADDR":          "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"BRIDGE_NATS_EMBEDDED_LISTEN": "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"BRIDGE_DATA_DIR":             t.TempDir(),
	})
	b.waitReady(t)
	b.stop(t)
}

func TestChartRefusesBadSenders(t *testing.T) {
	for _, c := range []struct {
		name string
		sets []string
		want string
	}{
		{"a webhook path beside senders", []string{"config.BRIDGE_WEBHOOK_PATH=/x"}, "BRIDGE_WEBHOOK_PATH"},
		{"two senders of one name", []string{"senders[1].name=audiospliter"}, "senders[1].name"},
		{"two senders on one path", []string{"senders[1].path=/webhooks/audiospliter"}, "senders[1].path"},
		{"an unknown scheme", []string{"senders[0].scheme=paypal"}, "scheme"},
		{"a name with capitals", []string{"senders[0].name=Billing"}, "name"},
		{"a path with a trailing slash", []string{"senders[0].path=/webhooks/x/"}, "path"},
		{"a sender without its secret", []string{"senders[0].secret=null"}, "secret"},
		{"hmac options on github", []string{"senders[2].hmac.header=X", "senders[2].hmac.delivery_header=Y"}, "senders[2].hmac"},
		{"a tolerance on github", []string{"senders[2].tolerance=5m"}, "senders[2].tolerance"},
		{"an unknown key", []string{"senders[0].colour=blue"}, "colour"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, []string{"senders.yaml"}, c.sets...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("rendered with %v: %v, want an error naming %s", c.sets, err, c.want)
			}
		})
	}
}
