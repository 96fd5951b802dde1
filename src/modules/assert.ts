import { defineModule } from './define.js';
import { ModuleArgsError } from './errors.js';
import type { ArgsSchema, ModulePlan } from './types.js';

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['that'],
  properties: {
    that: { anyOf: [{ type: ['string', 'boolean'] }, { type: 'array', items: { type: ['string', 'boolean'] } }] },
    fail_msg: { type: 'string' },
    success_msg: { type: 'string' },
    quiet: { type: 'boolean' },
  },
} as const satisfies ArgsSchema;

/**
 * Controller-side: each `that` entry is either a value the executor already
 * evaluated (boolean) or an expression string evaluated with ctx.evaluate.
 * A false entry fails the task with fail_msg (or the entry itself).
 */
export const assert = defineModule({
  name: 'assert',
  argsSchema,
  async plan(args, ctx): Promise<ModulePlan> {
    const that = Array.isArray(args.that) ? args.that : [args.that];
    if (!that.length) throw new ModuleArgsError('assert', 'that', 'is empty (expected at least one condition)');
    for (const [i, cond] of that.entries()) {
      let ok: boolean;
      if (typeof cond === 'boolean') ok = cond;
      else {
        if (!ctx.evaluate) throw new ModuleArgsError('assert', `that[${i}]`, 'an expression needs an evaluator from the executor');
        ok = Boolean(ctx.evaluate(cond, ctx.vars));
      }
      if (!ok) {
        const msg = args.fail_msg ?? `assertion failed: ${String(cond)}`;
        return { changed: false, failed: true, reason: msg, commands: [], result: { msg, assertion: cond } };
      }
    }
    const msg = args.success_msg ?? 'all assertions passed';
    return { changed: false, reason: msg, commands: [], result: { msg } };
  },
});
