// The least a signed write can cost on a node, for bench/api-writes.ts
// (BARE=1): a plain node:http server beside one node that checks the
// request's Ed25519 signature (membershipd's canonical string and verify),
// claims its nonce with create-if-absent, then makes one data write, and
// answers as membershipd would. Its NATS connection is membershipd's own
// (connectInternal: internal identity, TLS, the request shim and the write
// batching). Left out: h3 and routing, the user's status and room checks,
// the nonce history and quorum guards, input checks and error mapping.
// Not a server to deploy: it serves one key, and exists only to be measured.
//
// argv: <node state dir> <client CA file> <bind host> <http port> <sign_pub hex>
//   <nonce bucket> <data bucket> (both made beforehand by the bench)
// Prints "ready" once listening; exits on SIGTERM.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { HDR, canonicalString } from '../../src/protocol/canonical.js';
import { publicKeyFromRaw, verifyBytes } from '../../src/protocol/ed25519.js';
import { connectInternal } from '../../src/daemon/nats/connect.js';
import { Secret } from '../../src/secret.js';
import { natsListen } from './cluster.js';
import { sha256Hex } from '../../src/util/hash.js';

const [stateDir, caFile, host, port, signPub, nonceBucket, dataBucket] = process.argv.slice(2);
if (!dataBucket) throw new Error('usage: bare-server.ts <state dir> <client CA> <host> <port> <sign_pub hex> <nonce bucket> <data bucket>');
const seed = (await readFile(join(stateDir, 'internal.nk'), 'utf8')).trim();
const nc = await connectInternal({ servers: natsListen(stateDir), seed: new Secret(seed), caFile, name: 'bench-bare' });
const kvm = new Kvm(jetstream(nc, { timeout: 5000 }));
const [nonces, data] = await Promise.all([kvm.open(nonceBucket), kvm.open(dataBucket)]);
const key = publicKeyFromRaw(Buffer.from(signPub, 'hex'));

const answer = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
};

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const h = (n: string) => String(req.headers[n] ?? '');
    const handle = h(HDR.handle);
    const nonce = h(HDR.nonce);
    const ts = Number(h(HDR.ts));
    const msg = Buffer.from(canonicalString({ method: req.method ?? '', pathAndQuery: req.url ?? '', handle, ts, nonce, bodySha256: sha256Hex(body) }));
    if (!verifyBytes(key, msg, Buffer.from(h(HDR.sig), 'base64url'))) return answer(res, 401, { error: { code: 'bad_signature', message: 'signature does not verify' } });
    const o = JSON.parse(body.toString('utf8')) as { epoch: number };
    nonces
      .create(`${handle}.${nonce}`, String(ts))
      .then(() => data.put('d', body))
      .then(
        () => answer(res, 200, { epoch: o.epoch }),
        (err: Error) => answer(res, 503, { error: { code: 'unavailable', message: err.message } }),
      );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(port), host, () => console.log('ready'));
process.once('SIGTERM', () => {
  server.close();
  void nc.close().finally(() => process.exit(0));
});
