// Receives one message from the bridge's SQS queue, shows it and deletes it.
//   QUEUE_URL=… [SQS_ENDPOINT=http://127.0.0.1:4566] AWS_REGION=… node sqs.mjs
import { SQSClient, ReceiveMessageCommand, DeleteMessageCommand } from '@aws-sdk/client-sqs';
import { show, fail } from './common.mjs';

const queueUrl = process.env.QUEUE_URL ?? fail('set QUEUE_URL');
const client = new SQSClient({ endpoint: process.env.SQS_ENDPOINT || undefined });
const timeoutMs = Number(process.env.TIMEOUT_MS ?? 10000);

const deadline = Date.now() + timeoutMs;
let msg;
while (!msg && Date.now() < deadline) {
  const out = await client.send(new ReceiveMessageCommand({
    QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1, MessageAttributeNames: ['All'],
  }));
  msg = out.Messages?.[0];
}
if (!msg) fail(`no message on ${queueUrl} within ${timeoutMs} ms`);

// SQS makes its own MessageId: the delivery id is the ce-id attribute.
const headers = {};
for (const [name, value] of Object.entries(msg.MessageAttributes ?? {})) headers[name] = value.StringValue;
show(headers, msg.Body);
await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: msg.ReceiptHandle }));
console.log('acknowledged');
