// Reads one message from the bridge's JetStream stream through a durable consumer,
// shows it and acks it. Settings: see connect.mjs and examples/README.md.
//   NATS_URL=nats://127.0.0.1:4222 NATS_STREAM=AUDIOSPLITER NATS_SUBJECT='audiospliter.>' node nats.mjs
//   NATS_URL=tls://nats.internal:4222 NATS_TLS_CA_FILE=ca.pem NATS_CREDS_FILE=consumer.creds \
//     NATS_TLS_CERT_FILE=consumer.pem NATS_TLS_KEY_FILE=consumer-key.pem node nats.mjs
import { AckPolicy } from 'nats';
import { env, fail, show, timeoutMs } from './common.mjs';
import { connectNATS } from './connect.mjs';

const stream = env('NATS_STREAM', 'AUDIOSPLITER');
const subject = env('NATS_SUBJECT', 'audiospliter.>');
const durable = env('NATS_CONSUMER', 'example-node');
const wait = timeoutMs();

const nc = await connectNATS('audiospliter-example-node');
try {
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, filter_subject: subject });
} catch (err) {
  fail(`consumer ${durable} on stream ${stream}: ${err.message}`);
}
const consumer = await nc.jetstream().consumers.get(stream, durable);
const msg = await consumer.next({ expires: wait });
if (!msg) fail(`no message on ${stream} within ${wait} ms`);

const headers = {};
for (const [name, values] of msg.headers ?? []) headers[name] = values[0];
show(headers, msg.string());
console.log(`subject: ${msg.subject}  Nats-Msg-Id: ${headers['Nats-Msg-Id']}`);
if (!(await msg.ackAck())) fail('acknowledge: the server did not confirm the ack');
console.log('acknowledged');
await nc.close();
