'use strict';
// node-kv: a key-value store of compare-and-set registers for failmodel's
// `kv` workload (docs/contracts.md, section 8), on PostgreSQL.
//
//   run serve [--variant NAME]     one replica, on 127.0.0.1:$PORT
//
// Everything comes from the environment of docs/contracts.md section 1:
// PORT, DATABASE_URL, INSTANCE_ID and FAILMODEL_VARIANT.

const { profileFor, VARIANTS } = require('./profiles');
const { Store } = require('./store');
const { createServer } = require('./server');

function usage(message) {
  process.stderr.write(`node-kv: ${message}\n`);
  process.stderr.write('usage: run serve [--variant NAME]   (variants: ' + VARIANTS.join(', ') + ')\n');
  process.exit(2);
}

function parseArgs(argv) {
  const args = { command: null, variant: process.env.FAILMODEL_VARIANT || 'correct' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--variant') {
      if (i + 1 >= argv.length) usage('--variant needs a value');
      args.variant = argv[++i];
    } else if (a.startsWith('--variant=')) {
      args.variant = a.slice('--variant='.length);
    } else if (a === '-h' || a === '--help') {
      usage('help');
    } else if (args.command === null) {
      args.command = a;
    } else {
      usage(`unexpected argument ${JSON.stringify(a)}`);
    }
  }
  return args;
}

function log(instance, message) {
  process.stderr.write(`${new Date().toISOString()} node-kv[${instance}] ${message}\n`);
}

async function serve(variant) {
  const instance = process.env.INSTANCE_ID || '0';
  const port = Number(process.env.PORT);
  const databaseUrl = process.env.DATABASE_URL;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) usage('PORT must be set to a TCP port');
  if (!databaseUrl) usage('DATABASE_URL must be set');
  const profile = profileFor(variant);
  if (!profile) usage(`unknown variant ${JSON.stringify(variant)}`);

  const say = (m) => log(instance, m);
  const store = new Store(databaseUrl, profile, say);

  // Start-up: the store may still be unreachable (a restart healed together
  // with a partition); keep trying, never exit.
  let delay = 100;
  for (;;) {
    try {
      await store.init();
      break;
    } catch (err) {
      say(`start-up: store not ready (${err.message}); retrying in ${delay} ms`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
  }

  const server = createServer(store, say);
  server.listen(port, '127.0.0.1', () => say(`serving on 127.0.0.1:${port} (variant ${variant})`));

  const stop = () => {
    say('stopping');
    server.close();
    store.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const args = parseArgs(process.argv.slice(2));
if (args.command !== 'serve') usage(args.command === null ? 'missing command' : `unknown command ${JSON.stringify(args.command)}`);
serve(args.variant).catch((err) => {
  // Only reached for a programming error: start-up retries store errors itself.
  process.stderr.write(`node-kv: fatal: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
