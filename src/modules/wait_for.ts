import type { FromSchema } from 'json-schema-to-ts';
import { hostPath, parseSeconds } from './args.js';
import { defineModule } from './define.js';
import { ModuleArgsError } from './errors.js';
import type { ArgsSchema, Command, ModulePlan } from './types.js';

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    host: { type: 'string' },
    port: { type: ['integer', 'string'] },
    url: { type: 'string' },
    status: { type: ['integer', 'string'] },
    path: { type: 'string' },
    state: { enum: ['started', 'stopped', 'present', 'absent'] },
    timeout: { type: ['number', 'string'] },
    delay: { type: ['number', 'string'] },
    sleep: { type: ['number', 'string'] },
    ca: { type: 'string' },
    validate_certs: { type: 'boolean' },
  },
} as const satisfies ArgsSchema;

type Args = FromSchema<typeof argsSchema>;

/** `state` as the probe takes it: present/absent for a path, started/stopped for a port. */
function stateFor<T extends Args['state'] & string>(state: Args['state'], allowed: readonly T[], dflt: T): T {
  if (state === undefined) return dflt;
  if ((allowed as readonly string[]).includes(state)) return state as T;
  throw new ModuleArgsError('wait_for', 'state', `${JSON.stringify(state)} is not one of ${allowed.join(', ')}`);
}

/**
 * Polls one condition on the host until it holds or the bound passes: a TCP
 * port (bash /dev/tcp), a plain http URL (a raw GET through /dev/tcp, so no
 * curl is needed), an https URL (curl), a path. Every probe has its own
 * 3 s bound; the whole wait is bounded by `timeout`.
 */
export const WAIT_SCRIPT = [
  'kind=$1; limit=$2; delay=$3; interval=$4; shift 4',
  'sleep "$delay"',
  'end=$(( $(date +%s) + limit ))',
  `tcp() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }`,
  'http_status() {',
  `  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1; printf "GET %s HTTP/1.0\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n" "$2" "$0" >&3; read -r _ code _ <&3; echo "$code"' "$1" "$2" "$3" 2>/dev/null`,
  '}',
  // On a timeout, the last answer's body says why (a /healthz reason).
  'http_body() {',
  `  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1; printf "GET %s HTTP/1.0\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n" "$2" "$0" >&3; cat <&3' "$1" "$2" "$3" 2>/dev/null | tr -d '\\r' | sed '1,/^$/d' | tail -c 300`,
  '}',
  'check() {',
  '  case $kind in',
  '    tcp-started) tcp "$1" "$2" ;;',
  '    tcp-stopped) ! tcp "$1" "$2" ;;',
  '    file-present) [ -e "$1" ] ;;',
  '    file-absent) [ ! -e "$1" ] ;;',
  '    http) [ "$(http_status "$1" "$2" "$3")" = "$4" ] ;;',
  `    https) [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 $5 -- "$1")" = "$2" ] ;;`,
  '  esac',
  '}',
  'while :; do',
  '  if check "$@"; then echo ok; exit 0; fi',
  '  if [ "$(date +%s)" -ge "$end" ]; then',
  '    echo "timed out after $limit s waiting for $kind $1 $2" >&2',
  '    if [ "$kind" = http ]; then echo "last answer: $(http_body "$1" "$2" "$3")" >&2; fi',
  '    exit 1',
  '  fi',
  '  sleep "$interval"',
  'done',
].join('\n');

function probe(args: Args): { what: string; words: string[] } {
  const given = [args.port, args.url, args.path].filter((v) => v !== undefined);
  if (given.length !== 1) throw new ModuleArgsError('wait_for', 'port', 'give exactly one of port, url and path');
  if (args.path !== undefined) {
    const path = hostPath('wait_for', 'path', args.path);
    const state = stateFor(args.state, ['present', 'absent'], 'present');
    return { what: `path ${path} ${state}`, words: [`file-${state}`, path] };
  }
  if (args.port !== undefined) {
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ModuleArgsError('wait_for', 'port', `${JSON.stringify(args.port)} is not a TCP port`);
    const host = args.host ?? '127.0.0.1';
    const state = stateFor(args.state, ['started', 'stopped'], 'started');
    return { what: `tcp ${host}:${port} ${state}`, words: [`tcp-${state}`, host, String(port)] };
  }
  // Exactly one of port, url and path is given, and it is not port or path.
  const raw = args.url!;
  let url: URL;
  try {
    url = new URL(raw);
  } catch (e) {
    throw new ModuleArgsError('wait_for', 'url', `${JSON.stringify(raw)} is not a URL`, { cause: e });
  }
  const status = String(args.status ?? 200);
  if (url.protocol === 'http:') {
    return { what: `${raw} status ${status}`, words: ['http', url.hostname, url.port || '80', url.pathname + url.search, status] };
  }
  if (url.protocol !== 'https:') throw new ModuleArgsError('wait_for', 'url', 'expected an http:// or https:// URL');
  const ca = args.ca === undefined ? undefined : hostPath('wait_for', 'ca', args.ca);
  const verify = args.validate_certs ?? true;
  const curlOpts = ca ? `--cacert ${ca}` : verify ? '' : '-k';
  if (ca && /\s/.test(ca)) throw new ModuleArgsError('wait_for', 'ca', 'a CA path with spaces is not supported');
  return { what: `${raw} status ${status}`, words: ['https', raw, status, '', '', curlOpts] };
}

export const wait_for = defineModule({
  name: 'wait_for',
  argsSchema,
  async plan(args, ctx): Promise<ModulePlan> {
    const { what, words } = probe(args);
    const timeout = parseSeconds('wait_for', 'timeout', args.timeout, 30, 600);
    const delay = parseSeconds('wait_for', 'delay', args.delay, 0, 600);
    const interval = parseSeconds('wait_for', 'sleep', args.sleep, 0.5, 60);
    // https words: kind url status - - curlopts -> check gets "$1"=url "$2"=status "$5"=curlopts
    const argv = ['bash', '-c', WAIT_SCRIPT, 'unibus-wait', words[0]!, String(timeout), String(delay), String(interval), ...words.slice(1)];
    const cmd: Command = { kind: 'exec', argv, sudo: ctx.become || undefined, timeoutMs: (timeout + delay + 15) * 1000, label: `wait for ${what} (up to ${timeout} s)` };
    // Waiting changes nothing on the host: ok in check and apply alike.
    return { changed: false, reason: `wait for ${what}`, commands: [cmd], result: { elapsed_max: timeout } };
  },
});
