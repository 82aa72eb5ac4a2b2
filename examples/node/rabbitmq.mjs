// Reads one message from the bridge's RabbitMQ queue, shows it and acks it.
//   RABBITMQ_URL=amqp://guest:guest@localhost:5672/ QUEUE=audiospliter.events node rabbitmq.mjs
import amqp from 'amqplib';
import { show, fail } from './common.mjs';

const url = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@localhost:5672/';
const queue = process.env.QUEUE ?? 'audiospliter.events';
const timeoutMs = Number(process.env.TIMEOUT_MS ?? 10000);

const conn = await amqp.connect(url);
const ch = await conn.createChannel();
const deadline = Date.now() + timeoutMs;
let msg = false;
while (!msg && Date.now() < deadline) {
  msg = await ch.get(queue, { noAck: false });
  if (!msg) await new Promise((r) => setTimeout(r, 100));
}
if (!msg) fail(`no message on ${queue} within ${timeoutMs} ms`);

// Strings in the AMQP headers table arrive as strings; message_id is the delivery id.
const headers = { ...msg.properties.headers };
show(headers, msg.content.toString('utf8'));
console.log(`message_id: ${msg.properties.messageId}  type: ${msg.properties.type}  routing key: ${msg.fields.routingKey}`);
ch.ack(msg);
console.log('acknowledged');
await ch.close();
await conn.close();
