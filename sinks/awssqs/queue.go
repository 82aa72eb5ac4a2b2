package awssqs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// queue is one SQS queue the sink sends to, with what was read of it at start and
// the batcher of its messages.
type queue struct {
	s       *Sink
	url     string
	fifo    bool
	maxSize int // the queue's MaximumMessageSize, bytes
	// sendOptions adjust send calls: on a standard queue, sendOnceRetry.
	sendOptions func(*sqs.Options)
	batcher     *batcher
}

// openQueue reads the queue's attributes and starts its batcher. A failure is a
// *sinks.ConfigError on field (QueueURL, or SenderQueues for sender's queue).
func (s *Sink) openQueue(ctx context.Context, url, sender, field string) (*queue, error) {
	q := &queue{s: s, url: url}
	if err := q.readAttributes(ctx, sender, field); err != nil {
		return nil, err
	}
	q.sendOptions = func(*sqs.Options) {}
	calls := s.cfg.MaxCalls
	if q.fifo {
		calls = 1 // batches go out one at a time: arrival order within a group is kept
	} else {
		retryer := sendOnceRetry()
		q.sendOptions = func(o *sqs.Options) { o.Retryer = retryer }
	}
	q.batcher = newBatcher(q, calls)
	return q, nil
}

func (q *queue) readAttributes(ctx context.Context, sender, field string) error {
	s := q.s
	out, err := s.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameFifoQueue,
			types.QueueAttributeNameContentBasedDeduplication,
			types.QueueAttributeNameMaximumMessageSize,
		},
	})
	if err != nil {
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) && s.cfg.Endpoint != "" {
			field = "Endpoint" // no answer at all: the endpoint, not the queue
		}
		of := ""
		if sender != "" {
			of = " (the queue of sender " + strconv.Quote(sender) + ")"
		}
		return &sinks.ConfigError{Field: field, Err: fmt.Errorf("awssqs: read attributes of %s%s: %w", sinks.RedactURL(q.url), of, s.redact(err))}
	}
	q.fifo = out.Attributes[string(types.QueueAttributeNameFifoQueue)] == "true" || strings.HasSuffix(q.url, ".fifo")
	q.maxSize = 1 << 20
	if v, err := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameMaximumMessageSize)]); err == nil && v > 0 {
		q.maxSize = v
	}
	attrs := []any{"url", sinks.RedactURL(q.url), "fifo", q.fifo, "max_message_bytes", q.maxSize,
		"content_based_dedup", out.Attributes[string(types.QueueAttributeNameContentBasedDeduplication)]}
	if sender != "" {
		attrs = append(attrs, "sender", sender)
	}
	s.log.Info("sqs queue", attrs...)
	return nil
}
