// Test-only ways to make membershipd break its promises on purpose, so that
// the chaos checker can be shown to catch each class of violation against
// the real daemon (test/e2e/chaos-catches.test.ts):
//   ack-without-write  POST /v1/rooms answers 201 and writes nothing: lost writes
//   stale-read         GET /v1/rooms answers from a copy refreshed every 5 s: stale reads
//   accept-replay      a signed request's nonce is not claimed: replays accepted
//   serve-revoked      a revoked user's requests are served: revocation violations
//   skip-member-index  POST /v1/rooms/:room/members writes the members record
//                      and not the member's rooms_by_member entry: the room
//                      missing from the member's GET /v1/rooms (lost writes)
// Set with MEMBERSHIPD_TEST_MISBEHAVE=kind[,kind...]; membershipd says so
// in its log at start. Never set on a real cluster.
export const TEST_MISBEHAVE_ENV = 'MEMBERSHIPD_TEST_MISBEHAVE';

export const MISBEHAVIOURS = ['ack-without-write', 'stale-read', 'accept-replay', 'serve-revoked', 'skip-member-index'] as const;
export type Misbehaviour = (typeof MISBEHAVIOURS)[number];

/** How long a stale-read copy is kept. */
export const STALE_READ_MS = 5000;

/** The misbehaviours the environment asks for; an unknown name is an error. */
export function misbehavioursOf(env: NodeJS.ProcessEnv): ReadonlySet<Misbehaviour> {
  const v = env[TEST_MISBEHAVE_ENV];
  const out = new Set<Misbehaviour>();
  for (const k of (v ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(MISBEHAVIOURS as readonly string[]).includes(k)) throw new Error(`${TEST_MISBEHAVE_ENV}: ${JSON.stringify(k)} is not one of ${MISBEHAVIOURS.join(', ')}`);
    out.add(k as Misbehaviour);
  }
  return out;
}
