package awssqs

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// batcher coalesces concurrent publishes to one queue into SendMessageBatch calls.
//
// It waits for a free call slot before it forms a batch, so that while calls are in
// flight the publishes arriving meanwhile gather into the next batch; a publish that
// finds a slot free and nothing else queued goes out at once. A batch is at most
// MaxBatch entries and at most the queue's MaximumMessageSize in all (SQS's limit
// for a whole batch).
type batcher struct {
	q       *queue
	queue   chan *pending
	slots   chan struct{}
	quit    chan struct{}
	done    chan struct{}
	calls   sync.WaitGroup
	entryID [10]string
}

type pending struct {
	ctx    context.Context
	entry  types.SendMessageBatchRequestEntry
	size   int
	result chan error // buffered: the batcher never blocks on a publisher that left
}

func newBatcher(q *queue, maxCalls int) *batcher {
	b := &batcher{
		q:     q,
		queue: make(chan *pending, 1024),
		slots: make(chan struct{}, maxCalls),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for i := range b.entryID {
		b.entryID[i] = "e" + strconv.Itoa(i)
	}
	go b.run()
	return b
}

// send queues one entry and waits for its own outcome or ctx.
func (b *batcher) send(ctx context.Context, entry types.SendMessageBatchRequestEntry, size int) error {
	p := &pending{ctx: ctx, entry: entry, size: size, result: make(chan error, 1)}
	select {
	case b.queue <- p:
	case <-ctx.Done():
		return fmt.Errorf("awssqs: publish: %w", ctx.Err())
	}
	select {
	case err := <-p.result:
		return err
	case <-ctx.Done():
		// The entry may still be sent: the outcome is unknown, and the sender's
		// retry is deduplicated by a FIFO queue or by the consumer.
		return fmt.Errorf("awssqs: publish: %w", ctx.Err())
	}
}

func (b *batcher) run() {
	defer close(b.done)
	var carry *pending // did not fit the previous batch
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-b.queue:
			case <-b.quit:
				b.calls.Wait()
				return
			}
		}
		busy := len(b.slots) > 0
		b.slots <- struct{}{}
		batch, size := []*pending{first}, first.size
		var linger <-chan time.Time
		var timer *time.Timer
		if busy {
			timer = time.NewTimer(b.q.s.cfg.Linger)
			linger = timer.C
		}
	fill:
		for len(batch) < b.q.s.cfg.MaxBatch {
			var p *pending
			select {
			case p = <-b.queue:
			default:
				if linger == nil {
					break fill
				}
				select {
				case p = <-b.queue:
				case <-linger:
					break fill
				}
			}
			if size+p.size > b.q.maxSize {
				carry = p
				break fill
			}
			batch, size = append(batch, p), size+p.size
		}
		if timer != nil {
			timer.Stop()
		}
		b.calls.Add(1)
		go func() {
			defer func() { <-b.slots; b.calls.Done() }()
			b.call(batch)
		}()
	}
}

// call sends one batch (or one SendMessage when MaxBatch is 1) and answers every
// entry with its own outcome. Entries whose publisher already gave up are left out.
func (b *batcher) call(batch []*pending) {
	live := batch[:0]
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.result <- fmt.Errorf("awssqs: publish: %w", err)
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := callContext(live)
	defer cancel()
	b.q.s.cfg.Metrics.ObserveBatch(len(live))
	defer b.q.s.cfg.Metrics.ObserveConfirm(time.Now())

	if b.q.s.cfg.MaxBatch == 1 {
		live[0].result <- b.sendOne(ctx, live[0].entry)
		return
	}

	entries := make([]types.SendMessageBatchRequestEntry, len(live))
	for i, p := range live {
		entries[i] = p.entry
		entries[i].Id = aws.String(b.entryID[i])
	}
	out, err := b.q.s.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(b.q.url), Entries: entries}, b.q.sendOptions)
	if err != nil {
		err = b.q.s.redact(err)
		if len(live) > 1 && refusedForContent(err) {
			// SQS refused the whole request for what one entry holds, before storing
			// any: each entry goes again on its own, so only the culprit fails.
			b.q.s.log.Warn("sqs batch refused as a whole; sending its entries one by one", "entries", len(live), "err", err)
			for _, p := range live {
				p.result <- b.sendOne(ctx, p.entry)
			}
			return
		}
		// No answer, or the service's own failure: SQS may have stored some entries.
		// Every entry is retried by the bridge within its publish timeout, one call
		// per attempt on a standard queue (sendOnceRetry); a FIFO queue drops the
		// copies by deduplication id, consumers of a standard queue by message id.
		err = classifyCall(err)
		for _, p := range live {
			p.result <- err
		}
		return
	}
	answered := make([]bool, len(live))
	for _, ok := range out.Successful {
		if i := b.index(aws.ToString(ok.Id)); i >= 0 && i < len(live) && !answered[i] {
			// Confirmed only if SQS holds what was sent, checked entry by entry (the
			// SDK's own check would fail the whole batch for one entry).
			err := verifyStored(entries[i], ok.MD5OfMessageBody, ok.MD5OfMessageAttributes)
			if err != nil {
				b.q.s.log.Warn("sqs stored a message that differs from the one sent; not confirmed", "err", err)
			}
			live[i].result <- err
			answered[i] = true
		}
	}
	for _, f := range out.Failed {
		if i := b.index(aws.ToString(f.Id)); i >= 0 && i < len(live) && !answered[i] {
			live[i].result <- classifyEntry(f)
			answered[i] = true
		}
	}
	for i, p := range live {
		if !answered[i] { // neither list named it: never count that as sent
			p.result <- fmt.Errorf("awssqs: no result for entry %s in the batch response", b.entryID[i])
		}
	}
}

// sendOne sends one entry with SendMessage and returns its own outcome.
func (b *batcher) sendOne(ctx context.Context, e types.SendMessageBatchRequestEntry) error {
	out, err := b.q.s.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(b.q.url), MessageBody: e.MessageBody, MessageAttributes: e.MessageAttributes,
		MessageDeduplicationId: e.MessageDeduplicationId, MessageGroupId: e.MessageGroupId,
		MessageSystemAttributes: e.MessageSystemAttributes,
	}, b.q.sendOptions)
	if err != nil {
		return classifyCall(b.q.s.redact(err))
	}
	if err := verifyStored(e, out.MD5OfMessageBody, out.MD5OfMessageAttributes); err != nil {
		b.q.s.log.Warn("sqs stored a message that differs from the one sent; not confirmed", "err", err)
		return err
	}
	return nil
}

func (b *batcher) index(id string) int {
	for i, e := range b.entryID {
		if e == id {
			return i
		}
	}
	return -1
}

// callContext gives a call the latest deadline of its entries: one publisher's
// cancellation must not fail the others' entries.
func callContext(live []*pending) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, p := range live {
		d, ok := p.ctx.Deadline()
		if !ok {
			d = time.Now().Add(30 * time.Second)
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(live[0].ctx), latest)
}

func (b *batcher) stop() {
	close(b.quit)
	<-b.done
}
