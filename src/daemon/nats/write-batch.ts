// Batched socket writes on membershipd's own NATS connections.
//
// nats.js 3.4.0 flushes its outbound buffer on a microtask: every macrotask
// that publishes gets a socket write of its own. membershipd publishes from
// HTTP requests, and the requests of different HTTP connections arrive in
// different macrotasks, so under load each nonce claim and each data write was
// a TLS record and a loopback write of its own, woken up on both sides. A bare
// client whose acks arrive together gets its next publishes batched for free.
//
// Here the transport holds what it is handed until the end of the current turn
// of the event loop (setImmediate, after every I/O callback of this turn has
// run) and writes it as one buffer. Order is kept; close() and disconnect()
// write what is held first, as the library would have written it already.
// The wait adds at most one turn of the loop.
import { NodeTransport } from '@nats-io/transport-node/lib/node_transport.js';

const HELD = Symbol('unibus: frames held for this turn');
const INSTALLED = Symbol('unibus: write batching');

interface Patchable {
  [HELD]?: Uint8Array[];
  send(frame: Uint8Array): void;
  close(err?: Error): Promise<void>;
  disconnect(): void;
}

/** Installs the batching once per process; false when NodeTransport no longer has the shape it wraps. */
export function installWriteBatching(): boolean {
  const proto = NodeTransport.prototype as unknown as Patchable & { [INSTALLED]?: boolean };
  if (proto[INSTALLED]) return true;
  const { send, close, disconnect } = proto;
  if (typeof send !== 'function' || typeof close !== 'function' || typeof disconnect !== 'function') return false;
  const writeHeld = (t: Patchable) => {
    const held = t[HELD];
    if (!held?.length) return;
    t[HELD] = [];
    send.call(t, held.length === 1 ? held[0] : Buffer.concat(held));
  };
  proto.send = function (this: Patchable, frame) {
    const held = (this[HELD] ??= []);
    held.push(frame);
    if (held.length === 1) setImmediate(writeHeld, this);
  };
  proto.close = function (this: Patchable, err) {
    writeHeld(this);
    return close.call(this, err);
  };
  proto.disconnect = function (this: Patchable) {
    writeHeld(this);
    disconnect.call(this);
  };
  proto[INSTALLED] = true;
  return true;
}
