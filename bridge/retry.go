package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Backoff between publish attempts. The whole loop is bounded by the context, whose
// deadline is BRIDGE_PUBLISH_TIMEOUT, so there is no attempt limit of its own.
const (
	retryInitial = 25 * time.Millisecond
	retryMax     = 1 * time.Second
)

// publishWithRetry calls publish until it succeeds, fails permanently or ctx ends.
// It returns the number of attempts and the last error the sink gave (not just the
// context's), so logs and status codes can say why the broker did not confirm.
func publishWithRetry(ctx context.Context, publish func(context.Context) error, onRetry func()) (attempts int, err error) {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(retryInitial),
		backoff.WithMaxInterval(retryMax),
		backoff.WithMaxElapsedTime(0),
	)
	var last error
	op := func() error {
		attempts++
		last = publish(ctx)
		if errors.Is(last, sinks.ErrPermanent) {
			return backoff.Permanent(last)
		}
		return last
	}
	notify := func(error, time.Duration) { onRetry() }
	if err := backoff.RetryNotify(op, backoff.WithContext(b, ctx), notify); err != nil {
		if last == nil {
			last = err
		}
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(last, ctxErr) {
			last = errors.Join(ctxErr, last)
		}
		return attempts, last
	}
	return attempts, nil
}
