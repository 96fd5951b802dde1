// Host patterns of a playbook checked against an inventory before anything
// runs, so a typo in `hosts:` is reported at its line, not as a bare message.
//
// Public API:
//   checkPlayHosts(playbook, inventory) -> throws ConfigErrors for every play
//     whose hosts name no node or role (the executor may call it after loading both)
import { ConfigError, type SourcePos } from '../errors.js';
import { HostPatternError, selectHosts } from '../inventory/select.js';
import type { Inventory } from '../inventory/types.js';
import { throwIfErrors } from '../yaml/source.js';
import type { Play, Playbook } from './types.js';

/** Where each play's `hosts:` value is, recorded by the loader. */
export const hostsOrigin = new WeakMap<Play, SourcePos>();

export function checkPlayHosts(playbook: Playbook, inv: Inventory): void {
  const errors: ConfigError[] = [];
  playbook.plays.forEach((play, i) => {
    try {
      selectHosts(inv, play.hosts);
    } catch (err) {
      if (!(err instanceof HostPatternError)) throw err;
      const pos = hostsOrigin.get(play) ?? play.pos;
      const roles = [...new Set(inv.nodes.map((n) => n.role))];
      const problem = err.message.replace(/ in \S+ \(nodes:.*$/, ` in ${inv.file}`);
      errors.push(
        new ConfigError(pos, `[${i}].hosts`, problem, `'all', a node (${inv.nodes.map((n) => n.name).join(', ')}) or a role (${roles.join(', ')})`, { cause: err }),
      );
    }
  });
  throwIfErrors(errors);
}
