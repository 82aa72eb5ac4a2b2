package main

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// serviceName is service.name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES
// say otherwise.
const serviceName = "audiospliter-bridge"

// setupTracing reads only the standard OTEL_* variables. Tracing is on when an OTLP
// endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
// unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Off, it returns a nil
// provider: the bridge then creates no spans at all. The exporter (OTLP over HTTP,
// protobuf), the sampler (OTEL_TRACES_SAMPLER, default parentbased_always_on) and the
// batch processor (OTEL_BSP_*) read their own variables; shutdown flushes what is
// buffered.
func setupTracing(ctx context.Context, log *slog.Logger) (*sdktrace.TracerProvider, error) {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return nil, nil
	}
	switch e := os.Getenv("OTEL_TRACES_EXPORTER"); e {
	case "", "otlp":
	case "none":
		return nil, nil
	default:
		return nil, badVar("OTEL_TRACES_EXPORTER", "%q: this build exports with otlp only (or none)", e)
	}
	endpointVar := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	endpoint := os.Getenv(endpointVar)
	if endpoint == "" {
		endpointVar = "OTEL_EXPORTER_OTLP_ENDPOINT"
		endpoint = os.Getenv(endpointVar)
	}
	if endpoint == "" {
		return nil, nil
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, badVar(endpointVar, "%q: want an http:// or https:// URL", sinks.RedactURL(endpoint))
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := os.Getenv(v); p != "" && p != "http/protobuf" {
			return nil, badVar(v, "%q: this build speaks http/protobuf only", p)
		}
	}
	if err := checkSampler(); err != nil {
		return nil, err
	}

	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, badVar(endpointVar, "%v", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(serviceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES; last, so they win
	)
	if err != nil {
		return nil, badVar("OTEL_RESOURCE_ATTRIBUTES", "%v", err)
	}
	// Export failures are the SDK's to report; they go to the bridge's log, not to a
	// second, unstructured logger.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry", "err", err)
	}))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	log.Info("tracing on", "endpoint", sinks.RedactURL(endpoint), "sampler", os.Getenv("OTEL_TRACES_SAMPLER"))
	return tp, nil
}

// checkSampler refuses a sampler the SDK would silently replace with its default.
func checkSampler() error {
	s := os.Getenv("OTEL_TRACES_SAMPLER")
	switch s {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
		return nil
	case "traceidratio", "parentbased_traceidratio":
		arg := os.Getenv("OTEL_TRACES_SAMPLER_ARG")
		if arg == "" {
			return nil // the SDK's default ratio, 1
		}
		if r, err := strconv.ParseFloat(arg, 64); err != nil || r < 0 || r > 1 {
			return badVar("OTEL_TRACES_SAMPLER_ARG", "%q: want a ratio from 0 to 1", arg)
		}
		return nil
	}
	return badVar("OTEL_TRACES_SAMPLER", "%q: want always_on, always_off, traceidratio or their parentbased_ forms", s)
}
