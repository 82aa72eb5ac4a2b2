package connect

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SQS is the queue an example reads and, for a local SQS-compatible server, its
// endpoint. Region and credentials come from the AWS SDK's default chain.
type SQS struct {
	QueueURL, Endpoint string
}

// Flags registers -queue-url and -endpoint.
func (s *SQS) Flags(fs *flag.FlagSet) {
	String(fs, &s.QueueURL, "queue-url", "SQS_QUEUE_URL", "", "the queue, as in BRIDGE_SQS_QUEUE_URL; required")
	String(fs, &s.Endpoint, "endpoint", "SQS_ENDPOINT", "", "a local SQS-compatible server, e.g. http://127.0.0.1:4566, as in BRIDGE_SQS_ENDPOINT; empty: AWS")
}

// Client returns an SQS client with region and credentials found as the bridge finds
// them: the SDK's default chain (AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
// AWS_PROFILE, web identity, instance roles). With a local endpoint there is no
// instance metadata service to ask, and the region, which only the request signer
// needs, defaults to us-east-1.
func (s *SQS) Client(ctx context.Context) (*sqs.Client, error) {
	if s.QueueURL == "" {
		return nil, errors.New("set -queue-url or SQS_QUEUE_URL")
	}
	var opts []func(*config.LoadOptions) error
	if s.Endpoint != "" {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		if s.Endpoint == "" {
			return nil, errors.New("no AWS region: set AWS_REGION (or -endpoint for a local server)")
		}
		cfg.Region = "us-east-1"
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any value for a local server) or AWS_PROFILE: %w", err)
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
	}), nil
}
