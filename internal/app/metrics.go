package app

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// readyGauge is 1 while the bridge is ready (what /readyz answers), so an alert sees
// a bridge that is up but not ready. It reads /readyz's answer, which asks the sink
// at most once a second however often both are asked. It stops at 0 once ctx ends
// (shutting down).
func readyGauge(ctx context.Context, ready func(context.Context) string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "audiospliter_bridge_ready",
		Help: "1 while the sink is connected and able to publish (as /readyz), else 0.",
	}, func() float64 {
		if ctx.Err() != nil || ready(ctx) != "" {
			return 0
		}
		return 1
	})
}
