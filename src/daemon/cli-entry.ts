// Runs membershipd from source (`node --import tsx src/daemon/cli-entry.ts`);
// bin/membershipd.js does the same from dist/.
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = typeof code === 'number' ? code : 0;
    // Handles left by libraries (timers, sockets) must not keep a stopped daemon alive.
    setTimeout(() => process.exit(process.exitCode), 200).unref();
  },
  (err) => {
    // Print the cause chain: the first cause is usually the real reason.
    let e: unknown = err;
    let prefix = '';
    while (e) {
      process.stderr.write(`membershipd: ${prefix}${(e as Error)?.stack ?? String(e)}\n`);
      e = (e as Error)?.cause;
      prefix = 'caused by: ';
    }
    process.exit(1);
  },
);
