// Package awssqs is the AWS SQS sink (named so it does not collide with the SDK's
// sqs package). Concurrent publishes are coalesced into SendMessageBatch calls of at
// most ten entries (batch.go); each entry's own outcome answers its own publish.
// On a FIFO queue the delivery id is the MessageDeduplicationId and the jobId (else
// the event) the MessageGroupId, mapped to "h-" + a SHA-256 prefix when SQS would
// refuse it as a group id; batches go out one at a time so that arrival order
// within a group is kept.
//
// A message SQS cannot carry byte for byte (invalid UTF-8, characters outside
// SQS's set) is refused before any call (content.go). Each stored entry's MD5 is
// checked on its own, so one entry never fails its batch-mates; a call whose
// outcome is unknown is retried by the bridge like any failed publish.
//
// The queue's attributes are read at start: a missing queue is a start-up error, and
// a message larger than the queue's MaximumMessageSize is refused before sending.
// A sender of the bridge's senders file may have a queue of its own
// (Config.SenderQueues): read at start the same way, batched apart, FIFO or not
// on its own; one client serves every queue.
package awssqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Config is the sink's whole configuration. Region and credentials come from the
// standard AWS chain (AWS_REGION, AWS_ACCESS_KEY_ID, profiles, roles …), see
// LoadAWSConfig.
type Config struct {
	QueueURL string // required
	Endpoint string // a local SQS-compatible server; empty: AWS
	// MaxBatch is the most entries per call, 1 to 10 (default 10). 1 sends one
	// SendMessage per publish: the baseline of the batching benchmark.
	MaxBatch int
	// Linger is how long a batch waits to fill while other calls are in flight
	// (default 2ms). A publish that arrives when nothing is in flight goes at once.
	Linger time.Duration
	// MaxCalls bounds concurrent API calls on a standard queue (default 16); a FIFO
	// queue always has one.
	MaxCalls int
	// SenderQueues maps a sender's name (sinks.Message.Sender) to a queue of its
	// own. Each is read at start like QueueURL (a missing queue is a start-up
	// error) and has its own batches; whether it is FIFO is its own. Senders not
	// named here send to QueueURL.
	SenderQueues map[string]string
	// HTTPClient, when set, carries the API calls (tests count them with it).
	HTTPClient aws.HTTPClient
	Logger     *slog.Logger
	Metrics    *sinks.Metrics // nil: none
}

// Sink publishes to one SQS queue, or with Config.SenderQueues to one per sender.
type Sink struct {
	cfg    Config
	log    *slog.Logger
	client *sqs.Client
	urls   string // every queue URL and the endpoint, comma-separated: what redact takes out

	main     *queue            // Config.QueueURL
	bySender map[string]*queue // Config.SenderQueues; senders sharing a URL share its queue
	queues   []*queue          // every distinct queue, main first

	gate sinks.Gate
}

// New reads the AWS configuration and the queues' attributes and starts a batcher
// per queue.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	if cfg.QueueURL == "" {
		return nil, &sinks.ConfigError{Field: "QueueURL", Err: errors.New("awssqs: queue URL is required")}
	}
	if cfg.MaxBatch <= 0 || cfg.MaxBatch > 10 {
		cfg.MaxBatch = 10
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 2 * time.Millisecond
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	awsCfg, err := LoadAWSConfig(ctx, cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	client := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if cfg.HTTPClient != nil {
			o.HTTPClient = cfg.HTTPClient
		}
		o.Retryer = OneRetry()
		// The sink checks each entry's MD5 itself (content.go): the SDK's check
		// fails a whole batch when one entry differs, although SQS stored the others.
		o.DisableMessageChecksumValidation = true
	})
	s := &Sink{cfg: cfg, log: cfg.Logger, client: client}
	urls := []string{cfg.QueueURL, cfg.Endpoint}
	for _, u := range cfg.SenderQueues {
		urls = append(urls, u)
	}
	s.urls = strings.Join(urls, ",")
	if s.main, err = s.openQueue(ctx, cfg.QueueURL, "", "QueueURL"); err != nil {
		return nil, err
	}
	s.queues = []*queue{s.main}
	byURL := map[string]*queue{cfg.QueueURL: s.main}
	for _, sender := range slices.Sorted(maps.Keys(cfg.SenderQueues)) {
		url := cfg.SenderQueues[sender]
		q, ok := byURL[url]
		if !ok {
			if q, err = s.openQueue(ctx, url, sender, "SenderQueues"); err != nil {
				s.stopQueues()
				return nil, err
			}
			byURL[url] = q
			s.queues = append(s.queues, q)
		}
		if s.bySender == nil {
			s.bySender = make(map[string]*queue)
		}
		s.bySender[sender] = q
	}
	return s, nil
}

// redact takes the queues' and the endpoint's URLs out of an SDK error: the SDK
// quotes a URL it cannot parse, credentials and all.
func (s *Sink) redact(err error) error {
	return sinks.RedactError(err, s.urls)
}

// FIFO reports whether the queue (Config.QueueURL) is a FIFO queue.
func (s *Sink) FIFO() bool { return s.main.fifo }

// MaxMessageSize is the queue's MaximumMessageSize as read at start.
func (s *Sink) MaxMessageSize() int { return s.main.maxSize }

// queueOf is where msg goes: its sender's queue, else the default.
func (s *Sink) queueOf(msg *sinks.Message) *queue {
	if q, ok := s.bySender[msg.Sender]; ok && msg.Sender != "" {
		return q
	}
	return s.main
}

// Describe implements sinks.Describer: the queue's name is the destination.
func (s *Sink) Describe(msg sinks.Message) (system, destination string) {
	url := s.queueOf(&msg).url
	return "aws_sqs", url[strings.LastIndexByte(url, '/')+1:]
}

// Publish implements sinks.Sink.
func (s *Sink) Publish(ctx context.Context, msg sinks.Message) error {
	if !s.gate.Enter() {
		return fmt.Errorf("awssqs: %w", sinks.ErrClosed)
	}
	defer s.gate.Leave()

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("awssqs: publish: %w", err)
	}
	q := s.queueOf(&msg)
	if err := checkMessage(msg, q.fifo); err != nil {
		return err
	}
	// The attributes count toward the queue's MaximumMessageSize with the body.
	attrs := attributesOf(msg.Headers)
	hs := sinks.MeasureHeaders(msg.Headers, 0, attrs.size)
	if err := hs.CheckSize("awssqs", len(msg.Body), q.maxSize, "the queue's MaximumMessageSize"); err != nil {
		return err
	}
	return q.batcher.send(ctx, entry(msg, q.fifo, attrs), len(msg.Body)+hs.Exact)
}

// entry builds the batch entry of msg for a queue that is FIFO or not.
func entry(msg sinks.Message, fifo bool, a attributes) types.SendMessageBatchRequestEntry {
	attrs := make(map[string]types.MessageAttributeValue, len(msg.Headers))
	for _, h := range msg.Headers {
		if a.has(h) {
			attrs[h.Name] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(h.Value)}
		}
	}
	e := types.SendMessageBatchRequestEntry{
		MessageBody:       aws.String(string(msg.Body)),
		MessageAttributes: attrs,
	}
	if msg.AWSTraceHeader != "" {
		e.MessageSystemAttributes = map[string]types.MessageSystemAttributeValue{
			string(types.MessageSystemAttributeNameForSendsAWSTraceHeader): {
				DataType: aws.String("String"), StringValue: aws.String(msg.AWSTraceHeader),
			},
		}
	}
	if fifo {
		group := msg.JobID
		if group == "" {
			group = msg.Event
		}
		e.MessageDeduplicationId = aws.String(dedupID(msg.ID))
		e.MessageGroupId = aws.String(groupID(group))
	}
	return e
}

// Ready implements sinks.Sink: every queue answers.
func (s *Sink) Ready(ctx context.Context) error {
	if s.gate.IsShut() {
		return fmt.Errorf("awssqs: %w", sinks.ErrClosed)
	}
	for _, q := range s.queues {
		_, err := s.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(q.url),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameMaximumMessageSize},
		})
		switch {
		case err == nil:
			continue
		case refusal(err) != nil:
			return refusal(s.redact(err))
		case unreachable(err):
			return sinks.Classify(fmt.Errorf("awssqs: queue not reachable: %w", s.redact(err)), sinks.ErrUnavailable)
		}
		return fmt.Errorf("awssqs: queue not reachable: %w", s.redact(err))
	}
	return nil
}

// Close implements sinks.Sink.
func (s *Sink) Close() error {
	if s.gate.Shut() {
		s.stopQueues()
	}
	return nil
}

func (s *Sink) stopQueues() {
	for _, q := range s.queues {
		q.batcher.stop()
	}
}

// OneRetry is the SDK retryer of the sink: one immediate second attempt for a
// transient failure (a keep-alive connection the server closed just as it was
// reused), no client-side rate limiting. Anything longer is the bridge's backoff's
// job, inside BRIDGE_PUBLISH_TIMEOUT.
func OneRetry() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 2
		o.MaxBackoff = 10 * time.Millisecond
		o.RateLimiter = ratelimit.None
	})
}

// sendOnceRetry is the SDK retryer of sends to a standard queue. A send whose
// answer was lost may have been stored, and a standard queue keeps every copy: so
// the SDK retries only what SQS certainly did not act on (a connection that was
// never made, a throttled request), and every other failure goes back to the
// bridge, whose backoff then bounds the copies. A FIFO queue drops copies by
// deduplication id and keeps OneRetry.
func sendOnceRetry() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 2
		o.MaxBackoff = 10 * time.Millisecond
		o.RateLimiter = ratelimit.None
		o.Retryables = []retry.IsErrorRetryable{retry.NoRetryCanceledError{}, retry.IsErrorRetryableFunc(notActedOn)}
	})
}

// notActedOn reports whether err proves that SQS did not act on the request.
func notActedOn(err error) aws.Ternary {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return aws.TrueTernary
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		return aws.TrueTernary
	}
	return aws.FalseTernary
}

// classifyEntry turns a failed batch entry into an error: the sender's fault is
// permanent (the same entry would fail again), the service's is retryable.
func classifyEntry(f types.BatchResultErrorEntry) error {
	code, msg := aws.ToString(f.Code), aws.ToString(f.Message)
	err := fmt.Errorf("awssqs: entry failed: %s: %s", code, msg)
	switch {
	case !f.SenderFault:
		return err
	case code == "InvalidMessageContents":
		return fmt.Errorf("%w: %w", sinks.ErrInvalidContent, err)
	case code == "MessageTooLong" || code == "BatchRequestTooLong":
		return fmt.Errorf("%w: %w", sinks.ErrTooLarge, err)
	}
	return sinks.Permanent(err)
}

// refusedForContent reports whether SQS refused a whole call for what an entry
// holds (a body, an attribute, a size). SQS checks these before it stores anything,
// so the entries can be sent again one by one without making copies.
func refusedForContent(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch strings.TrimPrefix(apiErr.ErrorCode(), "AWS.SimpleQueueService.") {
	case "InvalidMessageContents", "MessageTooLong", "BatchRequestTooLong",
		"InvalidParameterValue", "InvalidAttributeName", "InvalidAttributeValue":
		return true
	}
	return false
}

// classifyCall classifies an error of a whole call. Unknown means retryable: the
// bridge retries until its publish timeout.
func classifyCall(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch strings.TrimPrefix(apiErr.ErrorCode(), "AWS.SimpleQueueService.") {
		case "InvalidMessageContents":
			return fmt.Errorf("awssqs: %w: %w", sinks.ErrInvalidContent, err)
		case "MessageTooLong", "BatchRequestTooLong":
			return fmt.Errorf("awssqs: %w: %w", sinks.ErrTooLarge, err)
		}
	}
	if r := refusal(err); r != nil {
		return r
	}
	if unreachable(err) {
		return sinks.Classify(fmt.Errorf("awssqs: send: %w", err), sinks.ErrUnavailable)
	}
	return fmt.Errorf("awssqs: send: %w", err)
}

// refusal is the lasting refusal err stands for (an error wrapping sinks.ErrRefused
// that says what to fix), or nil: the queue does not exist, or the credentials may
// not use it. These hold until an operator acts.
func refusal(err error) error {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return nil
	}
	switch strings.TrimPrefix(apiErr.ErrorCode(), "AWS.SimpleQueueService.") {
	case "QueueDoesNotExist", "NonExistentQueue":
		return sinks.Classify(fmt.Errorf("awssqs: the queue does not exist (deleted, or another account or region): %w", err), sinks.ErrRefused)
	case "AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException", "KMS.DisabledException", "KMS.NotFoundException":
		return sinks.Classify(fmt.Errorf("awssqs: the credentials may not use the queue (IAM: sqs:SendMessage and sqs:GetQueueAttributes on it, and kms:GenerateDataKey and kms:Decrypt on its key if it is encrypted): %w", err), sinks.ErrRefused)
	case "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidSecurity":
		return sinks.Classify(fmt.Errorf("awssqs: SQS refuses the credentials: %w", err), sinks.ErrRefused)
	}
	return nil
}

// unreachable reports a call that reached no server: the endpoint refused or
// dropped the connection, or its name does not resolve.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) && op.Op == "dial" || errors.As(err, &dns)
}
