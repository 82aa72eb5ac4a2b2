// Receives one message from the bridge's SQS queue, shows it and deletes it.
//   SQS_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/123456789012/audiospliter-events AWS_REGION=eu-west-1 node sqs.mjs
//   SQS_QUEUE_URL=http://127.0.0.1:4566/000000000000/audiospliter-events SQS_ENDPOINT=http://127.0.0.1:4566 \
//     AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test node sqs.mjs
// Region and credentials come from the SDK's default chain, with the bridge's
// defaults for a local endpoint: no instance metadata service, region us-east-1.
import { SQSClient, ReceiveMessageCommand, DeleteMessageCommand } from '@aws-sdk/client-sqs';
import { connectTimeoutMs, env, fail, show, timeoutMs } from './common.mjs';

const queueUrl = env('SQS_QUEUE_URL') || fail('set SQS_QUEUE_URL');
const endpoint = env('SQS_ENDPOINT');
const wait = timeoutMs();
const connectMs = connectTimeoutMs();
// A local server has no instance metadata service: asking one costs seconds of
// timeouts before "no credentials".
if (endpoint) process.env.AWS_EC2_METADATA_DISABLED ??= 'true';

async function newClient() {
  const client = new SQSClient({ endpoint });
  try {
    await client.config.region(); // AWS_REGION, or the profile's region
    return client;
  } catch {
    if (!endpoint) fail('no AWS region: set AWS_REGION (or SQS_ENDPOINT for a local server)');
    return new SQSClient({ endpoint, region: 'us-east-1' }); // only the request signer needs it
  }
}

function explain(err) {
  if (err?.name === 'CredentialsProviderError') {
    return 'no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any value for a local server) or AWS_PROFILE';
  }
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return `no answer from ${endpoint ?? 'SQS'} within CONNECT_TIMEOUT`;
  return `${err?.name ?? 'Error'}: ${err?.message ?? err}`;
}

try {
  const client = await newClient();
  const deadline = Date.now() + wait;
  let msg;
  while (!msg && Date.now() < deadline) {
    // Each call waits up to a second for a message: an endpoint that does not
    // answer within CONNECT_TIMEOUT beyond that cannot be reached.
    const out = await client.send(new ReceiveMessageCommand({
      QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1, MessageAttributeNames: ['All'],
    }), { abortSignal: AbortSignal.timeout(connectMs + 1000) });
    msg = out.Messages?.[0];
  }
  if (!msg) fail(`no message on ${queueUrl} within ${wait} ms`);

  // SQS makes its own MessageId: the delivery id is the ce-id attribute.
  const headers = {};
  for (const [name, value] of Object.entries(msg.MessageAttributes ?? {})) headers[name] = value.StringValue;
  show(headers, msg.Body);
  await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: msg.ReceiptHandle }),
    { abortSignal: AbortSignal.timeout(connectMs) });
  console.log('acknowledged');
} catch (err) {
  fail(`sqs.mjs: ${explain(err)}`);
}
