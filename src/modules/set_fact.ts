import type { Module } from './types.js';

/**
 * Controller-side: every argument becomes a host variable for later tasks
 * (plan.facts). Runs nothing anywhere; never a change.
 */
export const set_fact: Module = {
  name: 'set_fact',
  argsSchema: { type: 'object', minProperties: 1, propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } },
  async plan(args) {
    const facts = { ...args };
    return { changed: false, reason: `set ${Object.keys(facts).join(', ')}`, commands: [], facts, result: { ...facts } };
  },
};
