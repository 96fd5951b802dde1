import { isSecret, Secret } from '../secret.js';
import { readString } from './args.js';
import { fileArgsSchemaProps, planFile, readFileArgs } from './copy.js';
import { resolveLocalFile } from './local-files.js';
import type { Module } from './types.js';

/**
 * Renders a controller-side template strictly (ctx.render) and then behaves
 * as copy. `src` is looked up as roles/<r>/templates/<src>, then
 * templates/<src> (ctx.baseDirs lists the role folder first).
 */
export const template: Module = {
  name: 'template',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['src', 'dest'],
    properties: { ...fileArgsSchemaProps, src: { type: 'string' } },
  },
  async plan(args, ctx) {
    const f = readFileArgs('template', args);
    const src = resolveLocalFile('template', readString('template', 'src', args.src, true), ctx.baseDirs, 'templates');
    const rendered: unknown = ctx.render({ file: src }, ctx.vars);
    // A renderer may hand back a Secret when the template used secret values.
    const content = isSecret(rendered)
      ? rendered
      : f.secret
        ? new Secret(String(rendered))
        : Buffer.from(String(rendered), 'utf8');
    return planFile('template', ctx, { dest: f.dest, content, mode: f.mode, owner: f.owner, group: f.group });
  },
};
