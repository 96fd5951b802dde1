// Where the harness finds the project it runs: the repository's root folder
// (with a trailing slash), and the CLI from source, for
// `node --import tsx -e CLI_FROM_SOURCE <args>` run with cwd ROOT.
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const CLI_FROM_SOURCE =
  "import('./src/cli/main.ts').then((m) => m.main(process.argv.slice(1))).then((c) => process.exit(c), (e) => { console.error(e); process.exit(1); })";
