// What every example prints about a message, whatever broker carried it: the event,
// the delivery id (the idempotency key: remember it and skip a repeat) and the
// CloudEvents attributes.
export function show(headers, body) {
  const payload = JSON.parse(body);
  console.log(`event: ${headers['audiospliter-event']} (payload event: ${payload.event})`);
  console.log(`delivery id: ${headers['ce-id']}`);
  for (const name of ['ce-specversion', 'ce-type', 'ce-source', 'ce-time', 'content-type', 'audiospliter-job-id']) {
    if (headers[name] !== undefined) console.log(`${name}: ${headers[name]}`);
  }
  console.log(`body: ${body.length} bytes`);
}

export function fail(message) {
  console.error(message);
  process.exit(1);
}

// One line, not a stack trace, for what goes wrong outside the example's own checks
// (a broker that cannot be reached, a URL that does not parse).
process.on('uncaughtException', (err) => fail(`${err?.name ?? 'Error'}: ${err?.message ?? err}`));
