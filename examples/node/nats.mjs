// Reads one message from the bridge's JetStream stream through a durable consumer,
// shows it and acks it.
//   NATS_URL=nats://127.0.0.1:4222 STREAM=AUDIOSPLITER SUBJECT='audiospliter.>' node nats.mjs
import { connect, AckPolicy } from 'nats';
import { show, fail } from './common.mjs';

const servers = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const stream = process.env.STREAM ?? 'AUDIOSPLITER';
const subject = process.env.SUBJECT ?? 'audiospliter.>';
const durable = process.env.CONSUMER ?? 'example-node';
const timeoutMs = Number(process.env.TIMEOUT_MS ?? 10000);

const nc = await connect({ servers });
const jsm = await nc.jetstreamManager();
await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, filter_subject: subject });
const consumer = await nc.jetstream().consumers.get(stream, durable);
const msg = await consumer.next({ expires: timeoutMs });
if (!msg) fail(`no message on ${stream} within ${timeoutMs} ms`);

const headers = {};
for (const [name, values] of msg.headers ?? []) headers[name] = values[0];
show(headers, msg.string());
console.log(`subject: ${msg.subject}  Nats-Msg-Id: ${headers['Nats-Msg-Id']}`);
await msg.ackAck();
console.log('acknowledged');
await nc.close();
