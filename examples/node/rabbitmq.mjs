// Reads one message from the bridge's RabbitMQ queue, shows it and acks it.
// Settings: see connect.mjs and examples/README.md.
//   RABBITMQ_URL=amqp://guest:guest@localhost:5672/ RABBITMQ_QUEUE=audiospliter.events node rabbitmq.mjs
//   RABBITMQ_URL=amqps://rabbit.internal:5671/ RABBITMQ_TLS_CA_FILE=ca.pem \
//     RABBITMQ_TLS_CERT_FILE=consumer.pem RABBITMQ_TLS_KEY_FILE=consumer-key.pem node rabbitmq.mjs
import { env, fail, show, timeoutMs } from './common.mjs';
import { connectRabbitMQ } from './connect.mjs';

const queue = env('RABBITMQ_QUEUE', 'audiospliter.events');
const wait = timeoutMs();

const conn = await connectRabbitMQ('audiospliter-example-node');
const ch = await conn.createChannel();
// A channel error (no such queue, no permission) closes the channel: say why.
ch.on('error', (err) => fail(`queue ${queue}: ${err.message}`));
const deadline = Date.now() + wait;
let msg = false;
while (!msg && Date.now() < deadline) {
  msg = await ch.get(queue, { noAck: false });
  if (!msg) await new Promise((r) => setTimeout(r, 100));
}
if (!msg) fail(`no message on ${queue} within ${wait} ms`);

// Strings in the AMQP headers table arrive as strings; message_id is the delivery id.
const headers = { ...msg.properties.headers };
show(headers, msg.content.toString('utf8'));
console.log(`message_id: ${msg.properties.messageId}  type: ${msg.properties.type}  routing key: ${msg.fields.routingKey}`);
ch.ack(msg);
console.log('acknowledged');
await ch.close();
await conn.close();
