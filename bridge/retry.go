package bridge

import (
	"context"
	"errors"
	"fmt"
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

// publishWithRetry calls publish until it succeeds, fails permanently or ctx ends,
// telling it the attempt's number (from 1).
// It returns the number of attempts and the last error the sink gave (not just the
// context's), so logs and status codes can say why the broker did not confirm.
func publishWithRetry(ctx context.Context, publish func(ctx context.Context, attempt int) error, onRetry func()) (attempts int, err error) {
	// Most publishes succeed at once: build the backoff only when one does not.
	last := publish(ctx, 1)
	attempts = 1
	if last == nil {
		return attempts, nil
	}
	if errors.Is(last, sinks.ErrPermanent) {
		return attempts, last
	}
	b := backoff.WithContext(backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(retryInitial),
		backoff.WithMaxInterval(retryMax),
		backoff.WithMaxElapsedTime(0),
	), ctx)
	op := func() error {
		attempts++
		onRetry()
		last = publish(ctx, attempts)
		if errors.Is(last, sinks.ErrPermanent) {
			return backoff.Permanent(last)
		}
		return last
	}
	// RetryNotify runs op at once; the first retry waits like the others.
	err = wait(ctx, b.NextBackOff())
	if err == nil {
		err = backoff.RetryNotify(op, b, nil)
	}
	if err == nil {
		return attempts, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(last, ctxErr) {
		// The sink's error is the cause; the deadline only ended the retries. One
		// line, cause first (errors.Join would put a newline between them).
		return attempts, fmt.Errorf("%w (gave up: %w)", last, ctxErr)
	}
	return attempts, last
}

func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
