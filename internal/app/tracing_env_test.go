package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/config"
)

func lookup(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// The OTEL_* variables come from the lookup alone, and what the SDK would ignore or
// replace without a word is an error naming the variable, never showing a header's
// value.
func TestTracingSetupFromLookup(t *testing.T) {
	t.Parallel()
	const endpoint = "http://127.0.0.1:1"
	with := func(kv ...string) map[string]string {
		m := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	off := []map[string]string{
		nil,
		{},
		with("OTEL_SDK_DISABLED", "true"),
		with("OTEL_TRACES_EXPORTER", "none"),
	}
	for _, vars := range off {
		if tp, err := setupTracing(context.Background(), slog.New(slog.DiscardHandler), lookup(vars)); tp != nil || err != nil {
			t.Errorf("%v: provider %v, error %v; want tracing off", vars, tp, err)
		}
	}
	bad := []struct {
		vars     map[string]string
		variable string
	}{
		{with("OTEL_TRACES_EXPORTER", "jaeger"), "OTEL_TRACES_EXPORTER"},
		{with("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"), "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{with("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "grpc://c:4317"), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{with("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{with("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{with("OTEL_TRACES_SAMPLER", "sometimes"), "OTEL_TRACES_SAMPLER"},
		{with("OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "1.5"), "OTEL_TRACES_SAMPLER_ARG"},
		{with("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20s3cret,broken"), "OTEL_EXPORTER_OTLP_HEADERS"},
		{with("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "bad key=s3cret"), "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{with("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"), "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{with("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"), "OTEL_EXPORTER_OTLP_COMPRESSION"},
		{with("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:1", "OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent.pem"), "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{with("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:1", "OTEL_EXPORTER_OTLP_CLIENT_KEY", "/k.pem"), "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
		{with("OTEL_BSP_SCHEDULE_DELAY", "5s"), "OTEL_BSP_SCHEDULE_DELAY"},
		{with("OTEL_BSP_MAX_QUEUE_SIZE", "0"), "OTEL_BSP_MAX_QUEUE_SIZE"},
		{with("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team"), "OTEL_RESOURCE_ATTRIBUTES"},
	}
	for _, c := range bad {
		_, err := setupTracing(context.Background(), slog.New(slog.DiscardHandler), lookup(c.vars))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Variable != c.variable {
			t.Errorf("%v: error %v, want a *config.Error naming %s", c.vars, err, c.variable)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error %q shows a header's value", err)
		}
	}
}

// The exporter sends where, how and with what the lookup says: the per-signal
// endpoint as given, the headers decoded, gzip.
func TestTracingExporterFromLookup(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = r
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	tp, err := setupTracing(context.Background(), slog.New(slog.DiscardHandler), lookup(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://127.0.0.1:1", // the per-signal one wins
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL + "/custom/traces",
		"OTEL_EXPORTER_OTLP_HEADERS":         "authorization=Bearer%20tok, x-tenant = blue ",
		"OTEL_EXPORTER_OTLP_COMPRESSION":     "gzip",
		"OTEL_BSP_SCHEDULE_DELAY":            "600000",
	}))
	if err != nil || tp == nil {
		t.Fatalf("setupTracing: %v, %v", tp, err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "one")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil { // flushes
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got == nil {
		t.Fatal("nothing exported")
	}
	for k, want := range map[string]string{"Authorization": "Bearer tok", "X-Tenant": "blue", "Content-Encoding": "gzip", "Content-Type": "application/x-protobuf"} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if got.URL.Path != "/custom/traces" {
		t.Errorf("exported to %s, want /custom/traces", got.URL.Path)
	}
}
