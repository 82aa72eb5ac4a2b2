package awssqs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Check checks what the sink needs, with cfg as New would use it: the AWS region
// and credentials, and the attributes of the queue and of each sender's own queue
// (which also proves the credentials may read them). It sends nothing: SQS cannot tell whether SendMessage is allowed
// without a message being sent, so that check is skipped, saying so.
func Check(ctx context.Context, cfg Config) []sinks.CheckResult {
	// Every URL may hold a secret in its user part or query: none reaches a line.
	urls := []string{cfg.QueueURL, cfg.Endpoint}
	for _, u := range cfg.SenderQueues {
		urls = append(urls, u)
	}
	all := strings.Join(urls, ",")
	awsCfg, err := LoadAWSConfig(ctx, cfg.Endpoint)
	if err != nil {
		return []sinks.CheckResult{sinks.Failed("AWS region and credentials", sinks.RedactError(err, all))}
	}
	creds, _ := awsCfg.Credentials.Retrieve(ctx)
	out := []sinks.CheckResult{sinks.Passed("AWS region and credentials", fmt.Sprintf("region %s, credentials from %s", awsCfg.Region, creds.Source))}

	client := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if cfg.HTTPClient != nil {
			o.HTTPClient = cfg.HTTPClient
		}
		o.Retryer = OneRetry()
	})
	out = append(out, checkQueue(ctx, client, cfg.QueueURL, "QueueURL", "", all))
	seen := map[string]bool{cfg.QueueURL: true}
	for _, sender := range slices.Sorted(maps.Keys(cfg.SenderQueues)) {
		if url := cfg.SenderQueues[sender]; !seen[url] {
			seen[url] = true
			out = append(out, checkQueue(ctx, client, url, "SenderQueues", sender, all))
		}
	}
	return append(out, sinks.Skipped("send to the queue",
		"SQS cannot tell whether sqs:SendMessage is allowed without sending a message (the IAM policy simulator can)"))
}

// checkQueue reads one queue's attributes; field is the Config field it comes
// from, sender the sender whose own queue it is ("" : the default), all every
// URL whose secrets must not show.
func checkQueue(ctx context.Context, client *sqs.Client, url, field, sender, all string) sinks.CheckResult {
	name := "queue " + sinks.RedactURL(url)
	if sender != "" {
		name += " (sender " + sender + ")"
	}
	got, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		if r := refusal(err); r != nil {
			err = r
		}
		return sinks.Failed(name, &sinks.ConfigError{Field: field, Err: sinks.RedactError(err, all)})
	}
	a := got.Attributes
	kind := "standard"
	if a[string(types.QueueAttributeNameFifoQueue)] == "true" {
		kind = "FIFO, content-based deduplication " + or(a[string(types.QueueAttributeNameContentBasedDeduplication)], "false")
	}
	detail := []string{
		kind,
		"MaximumMessageSize " + or(a[string(types.QueueAttributeNameMaximumMessageSize)], "?") + " bytes",
		"VisibilityTimeout " + or(a[string(types.QueueAttributeNameVisibilityTimeout)], "?") + " s",
		"MessageRetentionPeriod " + or(a[string(types.QueueAttributeNameMessageRetentionPeriod)], "?") + " s",
		"KMS key " + or(a[string(types.QueueAttributeNameKmsMasterKeyId)], "none"),
		"redrive " + or(a[string(types.QueueAttributeNameRedrivePolicy)], "none"),
		"about " + or(a[string(types.QueueAttributeNameApproximateNumberOfMessages)], "?") + " messages",
	}
	return sinks.Passed(name, strings.Join(detail, ", "))
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
