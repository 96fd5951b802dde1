// How a module is declared, and the check its args pass before plan() sees
// them. The args schema is at once what ajv validates and, through
// json-schema-to-ts's FromSchema, the type plan() receives: the two cannot
// drift apart, and plan() does not re-read what ajv has already checked.
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { FromSchema } from 'json-schema-to-ts';
import { formatPath, pointerToPath } from '../yaml/source.js';
import { compileSchema, isBranchNoise, typeName } from '../yaml/validate.js';
import { ModuleArgsError } from './errors.js';
import type { ArgsSchema, Module, ModuleContext, ModulePlan } from './types.js';

/** The args a module's plan() takes. */
export type ArgsOf<M> = M extends Module<infer A> ? A : never;

/**
 * A module whose plan() takes the args its schema (declared `as const`)
 * describes. A is only ever its default: were plan's parameter FromSchema<S>
 * itself, TypeScript would infer S back through FromSchema, which runs too
 * deep on a schema with anyOf (assert's `that`).
 */
export function defineModule<const S extends ArgsSchema, A = FromSchema<S>>(m: {
  name: string;
  argsSchema: S;
  plan(args: NoInfer<A>, ctx: ModuleContext): Promise<ModulePlan>;
}): Module<A> {
  return m;
}

const validators = new WeakMap<object, ValidateFunction>();

/**
 * The module's compiled args validator. Playbook load and the executor use
 * this one function, so both apply the same schema. Args are checked as
 * written: no defaults are filled in, so plan() sees what the task said.
 */
export function argsValidator<A>(mod: Module<A>): ValidateFunction<A> {
  let v = validators.get(mod);
  if (!v) validators.set(mod, (v = compileSchema(mod.argsSchema, { defaults: false })));
  return v as ValidateFunction<A>;
}

/**
 * `args` as the module's schema types them, or a ModuleArgsError naming the
 * first wrong field. Load checks args as written and leaves templated strings
 * alone; this checks what rendering made of them (`"{{ port }}"` may be a
 * number, a list, or nothing the schema allows).
 */
export function checkArgs<A>(mod: Module<A>, args: unknown): A {
  const validate = argsValidator(mod);
  if (validate(args)) return args;
  const all = validate.errors ?? [];
  const e = all.find((x) => !isBranchNoise(x, all)) ?? all[0];
  if (!e) throw new ModuleArgsError(mod.name, '(args)', 'invalid');
  const at = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'required') throw new ModuleArgsError(mod.name, formatPath([...at, String(p.missingProperty)]), 'is required');
  if (e.keyword === 'additionalProperties') {
    const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
    throw new ModuleArgsError(mod.name, formatPath([...at, String(p.additionalProperty)]), `is not an argument (expected one of: ${known.join(', ')})`);
  }
  throw new ModuleArgsError(mod.name, formatPath(at) || '(args)', problemOf(e));
}

function problemOf(e: ErrorObject): string {
  const desc = (e.parentSchema as { description?: string } | undefined)?.description;
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'type') return `expected ${desc ?? [p.type].flat().join(' or ')}, got ${typeName(e.data)}`;
  if (desc) return `expected ${desc}`;
  if (e.keyword === 'enum') return `${JSON.stringify(e.data)} is not one of ${(p.allowedValues as unknown[]).join(', ')}`;
  return `${e.message ?? 'invalid'} (got ${typeName(e.data)})`;
}
