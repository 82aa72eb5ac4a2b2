package app_test

import (
	"os"
	"testing"
)

// TestMain gives the test process the AWS settings of the local SQS server (the
// values of sqstest.Env): the SQS sink reads its region and credentials the AWS
// SDK's way, from the environment, and has no option for them. Set once before any
// test runs, they are the same for every test, so the SQS tests run in parallel
// like the others. Nothing else here reads the environment.
func TestMain(m *testing.M) {
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		if err := os.Setenv(k, v); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
