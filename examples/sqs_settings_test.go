// Package examples_test checks what the consumer examples need from their
// environment. That each one reads, prints and acknowledges a message the bridge
// published is checked in test/ (TestConsumerExamples…).
package examples_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
)

var (
	buildOnce sync.Once
	goBin     string
	buildErr  error
)

// goExample builds the Go SQS example once, so that what it prints is not mixed
// with go run's own lines.
func goExample(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sqs-example-")
		if err != nil {
			buildErr = err
			return
		}
		goBin = filepath.Join(dir, "sqs")
		if out, err := exec.Command("go", "build", "-o", goBin, "./go/sqs").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./go/sqs: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return goBin
}

// run runs one SQS example with exactly env (plus PATH and Go's own variables) and
// returns its exit code and combined output.
func run(t *testing.T, lang string, env ...string) (int, string) {
	t.Helper()
	argv := []string{goExample(t)}
	if lang == "node" {
		if _, err := os.Stat("node/node_modules"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("examples/node/node_modules missing: .ci/run must npm ci it")
			}
			t.Skip("Node examples not installed: npm ci --prefix examples/node")
		}
		argv = []string{"node", filepath.Join("node", "sqs.mjs")}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	home := t.TempDir() // no ~/.aws of the machine's
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none")}, env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("%s example: %v", lang, err)
	}
	return 0, string(out)
}

// With a local endpoint the examples need what the bridge needs and no more: keys
// (any value), no region, no switch for the instance metadata service.
func TestSQSExamplesNeedOnlyWhatTheBridgeNeeds(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Start(t)
	queueURL := srv.CreateQueue(t, false, nil)
	c := srv.Client(t)
	for range 2 {
		if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL),
			MessageBody: aws.String(`{"event":"job.completed","jobId":"j1"}`),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"ce-id":              {DataType: aws.String("String"), StringValue: aws.String("ex-env-1")},
				"audiospliter-event": {DataType: aws.String("String"), StringValue: aws.String("job.completed")},
			}}); err != nil {
			t.Fatal(err)
		}
	}
	local := []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "SQS_QUEUE_URL=" + queueURL, "SQS_ENDPOINT=" + srv.Endpoint(), "TIMEOUT=5s"}
	for _, lang := range []string{"go", "node"} {
		t.Run(lang, func(t *testing.T) {
			start := time.Now()
			code, out := run(t, lang, local...)
			if code != 0 || !strings.Contains(out, "delivery id: ex-env-1") || !strings.Contains(out, "acknowledged") {
				t.Fatalf("keys only, with an endpoint: exit %d\n%s", code, out)
			}
			// Quick unless something waited on an instance metadata service.
			t.Logf("%s example took %s", lang, time.Since(start))
		})
	}
}

// Without what they need, the examples say what to set in one line: no stack
// trace.
func TestSQSExamplesExplainMissingSettings(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Start(t)
	queueURL := srv.CreateQueue(t, false, nil)
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"no region against AWS", []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "SQS_QUEUE_URL=" + queueURL, "AWS_EC2_METADATA_DISABLED=true"}, "AWS_REGION"},
		{"no credentials", []string{"SQS_QUEUE_URL=" + queueURL, "SQS_ENDPOINT=" + srv.Endpoint()}, "AWS_ACCESS_KEY_ID"},
		{"no queue", []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"}, "SQS_QUEUE_URL"},
	}
	for _, lang := range []string{"go", "node"} {
		for _, c := range cases {
			t.Run(lang+"/"+c.name, func(t *testing.T) {
				code, out := run(t, lang, c.env...)
				lines := nonEmptyLines(out)
				if code != 1 || len(lines) == 0 || !strings.Contains(lines[len(lines)-1], c.want) {
					t.Fatalf("exit %d, want 1 and a last line naming %s:\n%s", code, c.want, out)
				}
				for _, l := range lines {
					if strings.HasPrefix(strings.TrimSpace(l), "at ") || strings.HasPrefix(l, "goroutine ") {
						t.Fatalf("a stack trace:\n%s", out)
					}
				}
			})
		}
	}
}

// nonEmptyLines drops blank lines. (On Node 20 the AWS SDK for JavaScript prints a
// support notice first: the example's own line is the last.)
func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
