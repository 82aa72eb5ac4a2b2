package awssqs

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// DefaultLocalRegion is the region used with a local endpoint when none is set: a
// local server ignores it, but the request signer needs one.
const DefaultLocalRegion = "us-east-1"

// LoadAWSConfig finds region and credentials the way the bridge does, for the sink
// and for the tools that read the same queue (sendhook check): the SDK's default
// chain, untouched when endpoint is empty (environment, shared config and
// credentials files with AWS_PROFILE, web identity with AWS_ROLE_ARN +
// AWS_WEB_IDENTITY_TOKEN_FILE, container and instance roles). With a local
// endpoint it never asks an instance metadata service (there is none; asking
// costs seconds of timeouts) and the region defaults to DefaultLocalRegion.
//
// Credentials are fetched once here, so that a missing or refused identity is a
// start-up error. Errors are *sinks.ConfigError with Field Profile, Region or
// Credentials.
func LoadAWSConfig(ctx context.Context, endpoint string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if endpoint != "" {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, &sinks.ConfigError{Field: "Profile", Err: fmt.Errorf("awssqs: load AWS configuration: %w", err)}
	}
	if awsCfg.Region == "" {
		if endpoint == "" {
			return aws.Config{}, &sinks.ConfigError{Field: "Region", Err: errors.New("awssqs: no AWS region: set AWS_REGION (or a region in the AWS_PROFILE's config)")}
		}
		awsCfg.Region = DefaultLocalRegion
	}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		return aws.Config{}, &sinks.ConfigError{Field: "Credentials", Err: fmt.Errorf(
			"awssqs: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE): %w", err)}
	}
	return awsCfg, nil
}
