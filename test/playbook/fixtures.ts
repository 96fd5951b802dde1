// Builders for executor tests: an inventory of N fake hosts, tasks, plays.
import type { Inventory, NodeSpec } from '../../src/inventory/types.js';
import type { RunEvent } from '../../src/playbook/events.js';
import { runPlaybook, type RunOptions } from '../../src/playbook/execute.js';
import { STATE_FILE_MARK } from '../../src/playbook/lock.js';
import { defaultToolkit } from '../../src/playbook/toolkit.js';
import type { Play, Task } from '../../src/playbook/types.js';
import type { FakeTransport } from '../harness/fake-transport.js';
import { fakeHost } from '../modules/helpers.js';

export function inventoryOf(names: string[]): Inventory {
  const nodes: NodeSpec[] = names.map((name, i) => ({
    name, host: `10.0.0.${i + 1}`, user: 'root', port: 22, public_ip: `10.0.0.${i + 1}`,
    role: i === 0 ? 'seed' : 'node', connection: 'ssh', service_manager: 'systemd', vars: {},
  }));
  return {
    file: 'inventory.yaml',
    cluster: { name: 't', ports: { http: 8470, nats: 4250, route: 6250 }, route_network: 'public', kv_replicas: 1, state_dir: '/var/lib/unibus' },
    defaults: {}, nodes, positions: new Map(), warnings: [],
  };
}

let line = 1;
export function task(module: string, args: Record<string, unknown>, over: Partial<Task> = {}): Task {
  return { name: over.name ?? module, module, args, tags: [], notify: [], run_once: false, no_log: false, pos: { file: 'pb.yaml', line: line++, col: 3 }, ...over };
}

export function play(tasks: Task[], over: Partial<Play> = {}): Play {
  return { name: 'p', hosts: ['all'], vars: {}, roles: [], tasks, handlers: [], pos: { file: 'pb.yaml', line: 1, col: 1 }, ...over };
}

export interface Lab {
  hosts: Map<string, FakeTransport>;
  inv: Inventory;
}

export function fakeLab(n: number): Lab {
  const names = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const host = (h: string) =>
    fakeHost(h)
      .on(['rm', '-f'], (req, fake) => {
        for (const p of req.argv.slice(2)) fake.files.delete(p);
        return { code: 0, stdout: '', stderr: '' };
      })
      // The lease scripts (tested for real in lock.test.ts): always granted here,
      // and the state file they are asked for printed after the marker.
      .on((req) => req.argv[0] === 'sh' && req.argv[3] === 'unibus-lock', (req, fake) => {
        const [dir, , file] = req.argv.slice(4);
        const content = file ? fake.files.get(`${dir}/${file}`)?.content.toString() : undefined;
        return { code: 0, stdout: file ? `\n${STATE_FILE_MARK}\n${content ?? ''}` : '', stderr: '' };
      });
  return { inv: inventoryOf(names), hosts: new Map(names.map((h) => [h, host(h)])) };
}

/** Runs plays on the fake lab; events are collected. Transports stay open for the next run. */
export async function run(lab: Lab, plays: Play[], over: Partial<RunOptions> = {}) {
  const events: RunEvent[] = [];
  const out = await runPlaybook({
    playbook: { file: 'pb.yaml', name: 'pb', plays },
    playbookName: 'pb',
    inventory: lab.inv,
    check: false,
    toolkit: defaultToolkit(),
    connect: async (node) => {
      const t = lab.hosts.get(node.name)!;
      t.closed = false;
      return t;
    },
    controller: () => lab.hosts.get('n1')!,
    pathsOf: (node) => ({ stateDir: `/var/lib/unibus/${node.name}`, logDir: '/var/log/unibus' }),
    baseDirs: [],
    emit: (e) => events.push(e),
    sleep: async () => undefined,
    ...over,
  } as RunOptions);
  const results = events.filter((e): e is Extract<RunEvent, { event: 'host_result' }> => e.event === 'host_result');
  return { ...out, events, results, counts: out.recap.toJSON() };
}
