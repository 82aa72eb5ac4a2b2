package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// serviceName is service.name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES
// say otherwise.
const serviceName = "audiospliter-bridge"

// otelEnv reads the standard OTEL_* variables through a lookup (os.LookupEnv in the
// command, a map in tests). An empty value counts as unset, as the SDK has it.
type otelEnv func(string) (string, bool)

func (e otelEnv) get(key string) string {
	if e == nil {
		return ""
	}
	v, _ := e(key)
	return strings.TrimSpace(v)
}

// first returns the first of keys that is set, and its value: the per-signal
// variable (OTEL_EXPORTER_OTLP_TRACES_…) before the general one.
func (e otelEnv) first(keys ...string) (key, value string) {
	for _, k := range keys {
		if v := e.get(k); v != "" {
			return k, v
		}
	}
	return "", ""
}

// setupTracing reads only the standard OTEL_* variables, through lookup. Tracing is
// on when an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), unless OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none. Off, it returns a nil provider: the bridge then creates
// no spans at all. The exporter (OTLP over HTTP, protobuf), the sampler and the batch
// processor are built with explicit options from what lookup says, the SDK's
// defaults where it says nothing, so that the process environment cannot change
// them behind the caller's back. A value the SDK would silently ignore or replace is
// a *config.Error naming the variable. Shutdown flushes what is buffered.
func setupTracing(ctx context.Context, log *slog.Logger, lookup func(string) (string, bool)) (*sdktrace.TracerProvider, error) {
	env := otelEnv(lookup)
	if strings.EqualFold(env.get("OTEL_SDK_DISABLED"), "true") {
		return nil, nil
	}
	switch e := env.get("OTEL_TRACES_EXPORTER"); e {
	case "", "otlp":
	case "none":
		return nil, nil
	default:
		return nil, config.Errorf("OTEL_TRACES_EXPORTER", "%q: this build exports with otlp only (or none)", e)
	}
	endpointVar, endpoint := env.first("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
	if endpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, config.Errorf(endpointVar, "%q: want an http:// or https:// URL", sinks.RedactURL(endpoint))
	}
	// The general endpoint is a base URL: traces go to <url>/v1/traces. The
	// per-signal one is used as given (an empty path is /).
	if endpointVar == "OTEL_EXPORTER_OTLP_ENDPOINT" {
		u.Path = path.Join(u.Path, "/v1/traces")
	} else if u.Path == "" {
		u.Path = "/"
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := env.get(v); p != "" && p != "http/protobuf" {
			return nil, config.Errorf(v, "%q: this build speaks http/protobuf only", p)
		}
	}
	sampler, err := samplerFrom(env)
	if err != nil {
		return nil, err
	}
	expOpts, err := exporterOptions(env, u)
	if err != nil {
		return nil, err
	}
	bspOpts, err := batchOptions(env)
	if err != nil {
		return nil, err
	}
	attrs, err := resourceAttributes(env)
	if err != nil {
		return nil, err
	}

	exp, err := otlptracehttp.New(ctx, expOpts...)
	if err != nil {
		return nil, config.Errorf(endpointVar, "%v", err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(serviceName)),
		resource.WithTelemetrySDK(), resource.WithAttributes(attrs...)) // last, so they win
	if err != nil {
		return nil, config.Errorf("OTEL_RESOURCE_ATTRIBUTES", "%v", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, bspOpts...), sdktrace.WithResource(res), sdktrace.WithSampler(sampler))
	log.Info("tracing on", "endpoint", sinks.RedactURL(endpoint), "sampler", env.get("OTEL_TRACES_SAMPLER"))
	return tp, nil
}

// samplerFrom builds OTEL_TRACES_SAMPLER (default parentbased_always_on), refusing a
// sampler the SDK would silently replace with its default.
func samplerFrom(env otelEnv) (sdktrace.Sampler, error) {
	ratio := func() (sdktrace.Sampler, error) {
		arg := env.get("OTEL_TRACES_SAMPLER_ARG")
		if arg == "" {
			return sdktrace.TraceIDRatioBased(1), nil // the SDK's default ratio
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, config.Errorf("OTEL_TRACES_SAMPLER_ARG", "%q: want a ratio from 0 to 1", arg)
		}
		return sdktrace.TraceIDRatioBased(r), nil
	}
	switch s := env.get("OTEL_TRACES_SAMPLER"); s {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return ratio()
	case "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(r), nil
	default:
		return nil, config.Errorf("OTEL_TRACES_SAMPLER", "%q: want always_on, always_off, traceidratio or their parentbased_ forms", s)
	}
}

// exporterOptions are the OTLP/HTTP exporter's settings as the specification defines
// the variables: headers, timeout, compression, the CA and client certificate.
func exporterOptions(env otelEnv, endpoint *url.URL) ([]otlptracehttp.Option, error) {
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint.String()), otlptracehttp.WithEncoding(otlptracehttp.EncodingProtobuf)}

	headers := map[string]string{}
	if name, v := env.first("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"); v != "" {
		for i, pair := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(pair, "=")
			k = strings.TrimSpace(k)
			decoded, err := url.PathUnescape(val)
			// Never the value in the error: headers carry tokens.
			if !ok || !validHeaderName(k) || err != nil {
				return nil, config.Errorf(name, "entry %d is not name=value with a URL-encoded value", i+1)
			}
			headers[k] = strings.TrimSpace(decoded)
		}
	}
	opts = append(opts, otlptracehttp.WithHeaders(headers))

	timeout := 10 * time.Second
	if name, v := env.first("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return nil, config.Errorf(name, "%q: want a positive number of milliseconds", v)
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	opts = append(opts, otlptracehttp.WithTimeout(timeout))

	compression := otlptracehttp.NoCompression
	switch name, v := env.first("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"); v {
	case "", "none":
	case "gzip":
		compression = otlptracehttp.GzipCompression
	default:
		return nil, config.Errorf(name, "%q: want gzip or none", v)
	}
	opts = append(opts, otlptracehttp.WithCompression(compression))

	if endpoint.Scheme != "https" {
		return append(opts, otlptracehttp.WithInsecure()), nil
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if name, file := env.first("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"); file != "" {
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, config.Errorf(name, "%v", err)
		}
		tlsConfig.RootCAs = x509.NewCertPool()
		if !tlsConfig.RootCAs.AppendCertsFromPEM(pem) {
			return nil, config.Errorf(name, "%s holds no PEM certificate", file)
		}
	}
	certVar, certFile := env.first("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")
	keyVar, keyFile := env.first("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY")
	switch {
	case certFile == "" && keyFile == "":
	case certFile == "" || keyFile == "":
		return nil, config.Errorf("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "and OTEL_EXPORTER_OTLP_CLIENT_KEY (or their TRACES_ forms) must be set together")
	default:
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, config.Errorf(certVar, "with %s: %v", keyVar, err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	return append(opts, otlptracehttp.WithTLSClientConfig(tlsConfig)), nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110 §5.6.2).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}

// batchOptions are the batch span processor's settings (OTEL_BSP_*), each a positive
// whole number (milliseconds for the delays).
func batchOptions(env otelEnv) ([]sdktrace.BatchSpanProcessorOption, error) {
	settings := []struct {
		name string
		def  int
	}{
		{"OTEL_BSP_SCHEDULE_DELAY", sdktrace.DefaultScheduleDelay},
		{"OTEL_BSP_EXPORT_TIMEOUT", sdktrace.DefaultExportTimeout},
		{"OTEL_BSP_MAX_QUEUE_SIZE", sdktrace.DefaultMaxQueueSize},
		{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", sdktrace.DefaultMaxExportBatchSize},
	}
	values := make([]int, len(settings))
	for i, s := range settings {
		values[i] = s.def
		if v := env.get(s.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, config.Errorf(s.name, "%q: want a positive whole number", v)
			}
			values[i] = n
		}
	}
	delay, timeout, queue, batch := values[0], values[1], values[2], values[3]
	if batch > queue { // as the SDK does
		batch = min(sdktrace.DefaultMaxExportBatchSize, queue)
	}
	return []sdktrace.BatchSpanProcessorOption{
		sdktrace.WithBatchTimeout(time.Duration(delay) * time.Millisecond),
		sdktrace.WithExportTimeout(time.Duration(timeout) * time.Millisecond),
		sdktrace.WithMaxQueueSize(queue),
		sdktrace.WithMaxExportBatchSize(batch),
	}, nil
}

// resourceAttributes are OTEL_RESOURCE_ATTRIBUTES (key=value pairs separated by
// commas, values URL-encoded) and OTEL_SERVICE_NAME, which wins over a service.name
// among them.
func resourceAttributes(env otelEnv) ([]attribute.KeyValue, error) {
	var attrs []attribute.KeyValue
	if v := env.get("OTEL_RESOURCE_ATTRIBUTES"); v != "" {
		var invalid []string
		for _, pair := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(pair, "=")
			if !ok {
				invalid = append(invalid, pair)
				continue
			}
			decoded, err := url.PathUnescape(strings.TrimSpace(val))
			if err != nil {
				decoded = val // kept as given, as the SDK does
			}
			attrs = append(attrs, attribute.String(strings.TrimSpace(k), decoded))
		}
		if len(invalid) > 0 {
			return nil, config.Errorf("OTEL_RESOURCE_ATTRIBUTES", "%v", fmt.Errorf("missing value: %q", invalid))
		}
	}
	if name := env.get("OTEL_SERVICE_NAME"); name != "" {
		attrs = append(attrs, semconv.ServiceName(name))
	}
	return attrs, nil
}
