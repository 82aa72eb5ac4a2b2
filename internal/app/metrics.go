package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// readyGauge is 1 while the sink says it can publish (what /readyz answers), asked at
// each scrape, so an alert sees a bridge that is up but not ready. It stops at 0
// once ctx ends (shutting down).
func readyGauge(ctx context.Context, sink sinks.Sink) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "audiospliter_bridge_ready",
		Help: "1 while the sink is connected and able to publish (as /readyz), else 0.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if sink.Ready(ctx) != nil {
			return 0
		}
		return 1
	})
}
