// A work-around for nats.js 3.4.0, installed on membershipd's own connections.
//
// When a reply settles a request, RequestOne.resolver() resolves (or rejects)
// its promise and then calls cancel(), which builds a RequestError("cancelled")
// only to reject the promise it has just settled: a no-op that still pays for
// an Error and its stack capture. Every JetStream publish and API call is such
// a request, and under load that Error was 8% of membershipd's CPU.
//
// After resolver() has run, cancel() here is handed one shared error instead,
// so nothing is built. The rejection stays a no-op, as before; a cancel() of a
// request still unsettled (its timeout, a closed connection) is unchanged.
import { RequestOne } from '@nats-io/nats-core/internal';

const SETTLED = Symbol('unibus: resolver ran');
const INSTALLED = Symbol('unibus: request shim');
/** Handed to cancel() of a settled request; it never reaches a caller, its promise being settled already. */
const ALREADY_SETTLED = new Error('request already settled');

interface Patchable {
  [SETTLED]?: boolean;
  resolver(err: Error | null, msg: unknown): void;
  cancel(err?: Error): void;
}

/** Installs the work-around once per process; false when RequestOne no longer has the shape it fixes. */
export function installRequestShim(): boolean {
  const proto = RequestOne.prototype as unknown as Patchable & { [INSTALLED]?: boolean };
  if (proto[INSTALLED]) return true;
  const { resolver, cancel } = proto;
  if (typeof resolver !== 'function' || typeof cancel !== 'function') return false;
  proto.resolver = function (this: Patchable, err, msg) {
    this[SETTLED] = true;
    resolver.call(this, err, msg);
  };
  proto.cancel = function (this: Patchable, err) {
    cancel.call(this, err ?? (this[SETTLED] ? ALREADY_SETTLED : undefined));
  };
  proto[INSTALLED] = true;
  return true;
}
