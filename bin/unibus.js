#!/usr/bin/env node
// Runs the built CLI; `npm ci` builds dist/ through the prepare script.
import('../dist/cli/main.js').then((m) => m.main(process.argv.slice(2))).then(
  (code) => { process.exitCode = code ?? 0; },
  (err) => { console.error(err?.stack ?? String(err)); process.exitCode = 1; },
);
