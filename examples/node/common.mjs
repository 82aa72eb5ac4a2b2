// What every example prints about a message, whatever broker carried it: the event,
// the delivery id (the idempotency key: remember it and skip a repeat), the
// CloudEvents attributes and the body.
export function show(headers, body) {
  const payload = JSON.parse(body);
  console.log(`event: ${headers['audiospliter-event']} (payload event: ${payload.event})`);
  console.log(`delivery id: ${headers['ce-id']}`);
  for (const name of ['ce-specversion', 'ce-type', 'ce-source', 'ce-time', 'content-type', 'audiospliter-job-id']) {
    if (headers[name] !== undefined) console.log(`${name}: ${headers[name]}`);
  }
  console.log(`body: ${body}`);
}

export function env(name, def) {
  const v = process.env[name];
  return v === undefined || v === '' ? def : v;
}

// duration reads a variable holding a Go-style duration (10s, 500ms, 1m30s) and
// returns milliseconds.
export function duration(name, def) {
  const v = env(name, def);
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== v) {
    fail(`${name}=${JSON.stringify(v)}: want a duration such as 10s or 500ms`);
  }
  const unit = { ms: 1, s: 1000, m: 60000, h: 3600000 };
  return parts.reduce((ms, [, n, u]) => ms + Number(n) * unit[u], 0);
}

export const connectTimeoutMs = () => duration('CONNECT_TIMEOUT', '5s');
export const timeoutMs = () => duration('TIMEOUT', '10s');

// fail ends the example with one line on stderr (errors of some libraries, such as
// OpenSSL's, carry line breaks of their own) and exit status 1.
export function fail(message) {
  console.error(String(message).replace(/\s+/g, ' ').trim());
  process.exit(1);
}

// One line, not a stack trace, for what goes wrong outside the example's own checks
// (a broker that refuses a request, a message that does not parse).
process.on('uncaughtException', (err) => fail(`${err?.name ?? 'Error'}: ${err?.message ?? err}`));
process.on('unhandledRejection', (err) => fail(`${err?.name ?? 'Error'}: ${err?.message ?? err}`));
