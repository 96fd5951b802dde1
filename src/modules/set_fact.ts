import { defineModule } from './define.js';
import type { ArgsSchema } from './types.js';

const argsSchema = { type: 'object', minProperties: 1, propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } } as const satisfies ArgsSchema;

/**
 * Controller-side: every argument becomes a host variable for later tasks
 * (plan.facts). Runs nothing anywhere; never a change.
 */
export const set_fact = defineModule({
  name: 'set_fact',
  argsSchema,
  async plan(args) {
    const facts = { ...args };
    return { changed: false, reason: `set ${Object.keys(facts).join(', ')}`, commands: [], facts, result: { ...facts } };
  },
});
