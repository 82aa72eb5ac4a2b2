// How the Node examples connect to a broker: the same settings, under the same
// environment variables, as the Go examples' flags (examples/go/internal/connect):
//
//   NATS_URL, NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE,
//   NATS_CREDS_FILE, NATS_NKEY_FILE;
//   RABBITMQ_URL, RABBITMQ_TLS_CA_FILE, RABBITMQ_TLS_CERT_FILE, RABBITMQ_TLS_KEY_FILE;
//   CONNECT_TIMEOUT, TIMEOUT (durations such as 10s or 500ms).
//
// A broker that does not answer within CONNECT_TIMEOUT ends the program with one
// line, never a hang.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as natsConnect, credsAuthenticator, nkeyAuthenticator } from 'nats';
import amqp from 'amqplib';
import { connectTimeoutMs, env, fail } from './common.mjs';

// redact hides passwords and tokens of broker URLs in messages.
export function redact(urls) {
  return urls.split(',').map((raw) => {
    try {
      const u = new URL(raw.trim());
      if (u.password) u.password = 'xxxxx';
      else if (u.username) u.username = 'xxxxx';
      return u.toString();
    } catch {
      return '(a URL that does not parse)';
    }
  }).join(',');
}

// within fails with one line unless promise settles within ms.
async function within(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } catch (err) {
    fail(`${what}: ${err?.message ?? err}`);
  } finally {
    clearTimeout(timer);
  }
}

function read(file, variable) {
  try {
    return readFileSync(file);
  } catch (err) {
    fail(`${variable}: ${err.message}`);
  }
}

// connectNATS connects as name. nats.js takes neither a token nor a user from the
// URL, nor a tls:// scheme: they are read here and passed as its options.
export async function connectNATS(name) {
  const urls = env('NATS_URL', 'nats://127.0.0.1:4222');
  const what = `cannot connect to NATS at ${redact(urls)}`;
  const opts = { name, servers: [], timeout: connectTimeoutMs(), reconnect: false };
  let tls = false;
  for (const raw of urls.split(',')) {
    let u;
    try {
      u = new URL(raw.trim().includes('://') ? raw.trim() : `nats://${raw.trim()}`);
    } catch {
      fail(`${what}: NATS_URL: not a URL`);
    }
    if (u.protocol === 'tls:') tls = true;
    else if (u.protocol !== 'nats:') fail(`${what}: NATS_URL: nats:// or tls://, not ${u.protocol}//`);
    if (u.password) {
      opts.user = decodeURIComponent(u.username);
      opts.pass = decodeURIComponent(u.password);
    } else if (u.username) {
      opts.token = decodeURIComponent(u.username);
    }
    opts.servers.push(`${u.hostname}:${u.port || 4222}`);
  }
  const ca = env('NATS_TLS_CA_FILE'), cert = env('NATS_TLS_CERT_FILE'), key = env('NATS_TLS_KEY_FILE');
  if (!cert !== !key) fail(`${what}: a client certificate needs both NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE`);
  if (tls || ca || cert) {
    // A CA of NATS_TLS_CA_FILE, else Node's own (with NODE_EXTRA_CA_CERTS).
    opts.tls = {};
    if (ca) opts.tls.ca = [read(ca, 'NATS_TLS_CA_FILE')];
    if (cert) {
      opts.tls.cert = read(cert, 'NATS_TLS_CERT_FILE');
      opts.tls.key = read(key, 'NATS_TLS_KEY_FILE');
    }
  }
  const creds = env('NATS_CREDS_FILE'), nkey = env('NATS_NKEY_FILE');
  if (creds && nkey) fail(`${what}: give NATS_CREDS_FILE or NATS_NKEY_FILE, not both`);
  if (creds) opts.authenticator = credsAuthenticator(read(creds, 'NATS_CREDS_FILE'));
  if (nkey) opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(read(nkey, 'NATS_NKEY_FILE').toString().trim()));
  return within(natsConnect(opts), opts.timeout, what);
}

// connectRabbitMQ connects as name. With a client certificate and no user in the
// URL it logs in with SASL EXTERNAL (the certificate is the identity).
export async function connectRabbitMQ(name) {
  const url = env('RABBITMQ_URL', 'amqp://guest:guest@localhost:5672/');
  const what = `cannot connect to RabbitMQ at ${redact(url)}`;
  let u;
  try {
    u = new URL(url);
  } catch {
    fail(`${what}: RABBITMQ_URL: not a URL`);
  }
  const ms = connectTimeoutMs();
  const socketOptions = { timeout: ms, clientProperties: { connection_name: name } };
  const ca = env('RABBITMQ_TLS_CA_FILE'), cert = env('RABBITMQ_TLS_CERT_FILE'), key = env('RABBITMQ_TLS_KEY_FILE');
  if (u.protocol === 'amqps:') {
    if (!cert !== !key) fail(`${what}: a client certificate needs both RABBITMQ_TLS_CERT_FILE and RABBITMQ_TLS_KEY_FILE`);
    socketOptions.minVersion = 'TLSv1.2';
    // amqplib sends the host as the TLS server name (SNI) even when it is an IP
    // address, which Node warns about on a line of its own: the certificate is
    // still checked against the address, so keep the output to our own lines.
    if (isIP(u.hostname)) process.noDeprecation = true;
    if (ca) socketOptions.ca = [read(ca, 'RABBITMQ_TLS_CA_FILE')];
    if (cert) {
      socketOptions.cert = read(cert, 'RABBITMQ_TLS_CERT_FILE');
      socketOptions.key = read(key, 'RABBITMQ_TLS_KEY_FILE');
      if (!u.username) socketOptions.credentials = amqp.credentials.external();
    }
  } else if (ca || cert || key) {
    fail(`${what}: TLS files need an amqps:// URL`);
  }
  return within(amqp.connect(url, socketOptions), ms, what);
}
