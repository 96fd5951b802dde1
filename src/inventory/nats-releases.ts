// The nats-server releases unibus ships to nodes (`cluster.nats_server`,
// source `bundled`): each is Debian's own package of that version, fetched
// from the Debian mirror the controller's apt sources name, and its static
// binary (usr/sbin/nats-server) taken out. Both the package and the binary are
// pinned by sha256, so a mirror that serves anything else is refused.
//
// Pure and typed. Invariants:
// - DEFAULT_NATS_SERVER is a key of RELEASES and the newest version the
//   project's whole suite has run on.
// - Every release names a package for each architecture a node may run.
// - Versions compare numerically (2.10.27 < 2.15.1), never as text.

import { compareVersions } from '../util/version.js';

export { compareVersions };

export type Arch = 'amd64' | 'arm64';

export interface ReleaseFile {
  /** The package's path under the mirror's root (its pool). */
  deb: string;
  debSha256: string;
  /** sha256 of usr/sbin/nats-server inside the package. */
  binSha256: string;
}

export interface NatsServerRelease {
  version: string;
  /** Where Debian carries it (the suite its Packages index lists it in). */
  suite: string;
  files: Record<Arch, ReleaseFile>;
}

const POOL = 'pool/main/n/nats-server';

export const RELEASES: Readonly<Record<string, NatsServerRelease>> = {
  // Debian 13 (trixie)'s package: the version unibus ran on before 2.15.1.
  // After a restart a node may come back unheard by its peers; membershipd's
  // stall watch restarts it (daemon/nats/stall-watch.ts).
  '2.10.27': {
    version: '2.10.27',
    suite: 'trixie',
    files: {
      amd64: {
        deb: `${POOL}/nats-server_2.10.27-1+b2_amd64.deb`,
        debSha256: '6d913ac987b78734c08537c2adeb1526cf735f216173a9170d94b185fcfe6f8a',
        binSha256: '732483147000b6f44a05cf8542b61e8fa90279b6aa050328c392dbcdf87d1947',
      },
      arm64: {
        deb: `${POOL}/nats-server_2.10.27-1+b2_arm64.deb`,
        debSha256: '0c9a617510b28c1b4fb4a38aabea6ab8cd7f026247f2abdff8b955b2278ce049',
        binSha256: '75b5fbab877064663d22e1772740b49765411b9144eb1ff42c9248edb6457146',
      },
    },
  },
  // Debian testing (forky)'s package: the clustering fixes made since 2.10,
  // and since the Jepsen analysis of 2.12.1.
  '2.15.1': {
    version: '2.15.1',
    suite: 'forky',
    files: {
      amd64: {
        deb: `${POOL}/nats-server_2.15.1-1_amd64.deb`,
        debSha256: '31ef4ceaa84e8248d449e508472e3770c17c3695cb5cb0ee96e03912724ea884',
        binSha256: '25379e8f6ff59d0f9b96f06b3572da8c513dfe97fe54f693bb03aa802b87480c',
      },
      arm64: {
        deb: `${POOL}/nats-server_2.15.1-1_arm64.deb`,
        debSha256: '68923b614b6b5594bbd63ffdce7258c2155ec448fb4cb7efd099bf9273eca128',
        binSha256: '792547acbcf5abcea0c2229a55d1f372f4134349582cb7203c17808c7770e8a8',
      },
    },
  },
};

/** The version a cluster runs unless its inventory names another. */
export const DEFAULT_NATS_SERVER = '2.15.1';

/** The oldest nats-server a `debian` source may bring: JetStream clustering as membershipd uses it (2.10's stream and KV API). */
export const MIN_NATS_SERVER = '2.10.0';

/** Node's process.arch (or `uname -m`) as Debian names it, or null for one unibus ships nothing for. */
export function debianArch(machine: string): Arch | null {
  if (machine === 'x64' || machine === 'x86_64' || machine === 'amd64') return 'amd64';
  if (machine === 'arm64' || machine === 'aarch64') return 'arm64';
  return null;
}


/** The version in `nats-server --version` output ("nats-server: v2.15.1"), or null. */
export function parseServerVersion(out: string): string | null {
  return /\bv?(\d+\.\d+\.\d+)\b/.exec(out)?.[1] ?? null;
}

/** The versions unibus can ship, oldest first (for messages). */
export function shippedVersions(): string[] {
  return Object.keys(RELEASES).sort(compareVersions);
}
