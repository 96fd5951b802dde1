// `unibus api ...`: a small operator CLI on the membershipd client. Prints JSON.
// The signing seed comes from a 0600 file (never argv): 64 hex digits.
import { readFile, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { UnibusClient, ApiClientError } from '../client/client.js';
import { rawPublicKey, nkeyFromRaw } from '../protocol/ed25519.js';
import { writeFileAtomic } from '../util/fs.js';

const USAGE = `usage: unibus api [--url URL] [--handle H] [--key-file F] COMMAND
  keygen --out F                 new Ed25519 seed in F (0600); prints sign_pub and nkey
  me | users | rooms
  user-add H SIGN_PUB --role admin|member [--box-pub HEX]
  revoke H
  room R | room-create R | member-add R H | member-remove R H
  key-get R EPOCH
  blob-put R FILE | blob-get R SHA256 [--out F]
env: UNIBUS_API_URL (default http://127.0.0.1:8470), UNIBUS_HANDLE, UNIBUS_KEY_FILE`;

class CliUsageError extends Error {}

async function readSeed(file: string): Promise<Uint8Array> {
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) throw new CliUsageError(`${file}: mode ${(st.mode & 0o777).toString(8)} is too open for a signing seed (expected 600)`);
  const text = (await readFile(file, 'utf8')).trim();
  if (!/^[0-9a-f]{64}$/.test(text)) throw new CliUsageError(`${file}: expected a 32-byte Ed25519 seed as 64 lowercase hex digits`);
  return Buffer.from(text, 'hex');
}

export async function run(args: string[]): Promise<number> {
  try {
    const { values: v, positionals: p } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        handle: { type: 'string' },
        'key-file': { type: 'string' },
        role: { type: 'string' },
        'box-pub': { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [cmd, a, b] = p;
    if (!cmd || v.help) {
      console.log(USAGE);
      return cmd || v.help ? 0 : 2;
    }
    const print = (x: unknown) => console.log(JSON.stringify(x, null, 2));
    if (cmd === 'keygen') {
      if (!v.out) throw new CliUsageError('keygen needs --out FILE');
      const seed = randomBytes(32);
      await writeFileAtomic(v.out, seed.toString('hex') + '\n', 0o600);
      const pub = rawPublicKey(seed);
      print({ key_file: v.out, sign_pub: pub.toString('hex'), nkey: nkeyFromRaw(pub) });
      return 0;
    }
    const handle = v.handle ?? process.env.UNIBUS_HANDLE;
    const keyFile = v['key-file'] ?? process.env.UNIBUS_KEY_FILE;
    if (!handle || !keyFile) throw new CliUsageError('--handle and --key-file (or UNIBUS_HANDLE, UNIBUS_KEY_FILE) are required');
    const c = new UnibusClient({ baseUrl: v.url ?? process.env.UNIBUS_API_URL ?? 'http://127.0.0.1:8470', handle, seed: await readSeed(keyFile) });
    const need = (n: number) => {
      if (p.length - 1 < n) throw new CliUsageError(`${cmd} needs ${n} argument(s)\n${USAGE}`);
    };
    switch (cmd) {
      case 'me': return print(await c.me()), 0;
      case 'users': return print(await c.listUsers()), 0;
      case 'rooms': return print(await c.listRooms()), 0;
      case 'user-add':
        need(2);
        return print(await c.addUser({ handle: a, sign_pub: b, role: (v.role ?? 'member') as 'admin' | 'member', ...(v['box-pub'] ? { box_pub: v['box-pub'] } : {}) })), 0;
      case 'revoke': need(1); return print(await c.revokeUser(a)), 0;
      case 'room': need(1); return print(await c.getRoom(a)), 0;
      case 'room-create': need(1); return print(await c.createRoom(a)), 0;
      case 'member-add': need(2); return print(await c.addMember(a, b)), 0;
      case 'member-remove': need(2); return print(await c.removeMember(a, b)), 0;
      case 'key-get': need(2); return print(await c.getKey(a, Number(b))), 0;
      case 'blob-put': need(2); return print(await c.putBlob(a, await readFile(b))), 0;
      case 'blob-get': {
        need(2);
        const data = await c.getBlob(a, b);
        if (v.out) await writeFileAtomic(v.out, Buffer.from(data), 0o600);
        else process.stdout.write(data);
        return 0;
      }
      default:
        throw new CliUsageError(`unknown api command '${cmd}'\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof ApiClientError) {
      console.error(`unibus api: ${err.message}`);
      return 1;
    }
    if (err instanceof CliUsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`unibus api: ${(err as Error).message}`);
      return 2;
    }
    console.error(`unibus api: ${(err as Error).message}`);
    return 1;
  }
}
