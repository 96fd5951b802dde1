import { isSecret, Secret } from '../secret.js';
import { fileArgs, fileArgsSchemaProps, planFile } from './copy.js';
import { defineModule } from './define.js';
import { resolveLocalFile } from './local-files.js';
import type { ArgsSchema } from './types.js';

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['src', 'dest'],
  properties: { ...fileArgsSchemaProps, src: { type: 'string' } },
} as const satisfies ArgsSchema;

/**
 * Renders a controller-side template strictly (ctx.render) and then behaves
 * as copy. `src` is looked up as roles/<r>/templates/<src>, then
 * templates/<src> (ctx.baseDirs lists the role folder first).
 */
export const template = defineModule({
  name: 'template',
  argsSchema,
  async plan(args, ctx) {
    const f = fileArgs('template', args);
    const src = resolveLocalFile('template', args.src, ctx.baseDirs, 'templates');
    const rendered: unknown = ctx.render({ file: src }, ctx.vars);
    // A renderer may hand back a Secret when the template used secret values.
    const content = isSecret(rendered)
      ? rendered
      : f.secret
        ? new Secret(String(rendered))
        : Buffer.from(String(rendered), 'utf8');
    return planFile('template', ctx, { dest: f.dest, content, mode: f.mode, owner: f.owner, group: f.group });
  },
});
