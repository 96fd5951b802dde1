import type { Secret } from '../secret.js';
import type { JSONSchema } from 'json-schema-to-ts';
import type { Transport } from '../transport/types.js';
import type { FactReader, PathEffect } from './facts/types.js';
import type { Verdict } from '../controller/steps/step.js';

export type { Verdict };

/**
 * Commands are data: a module never runs anything, it returns what to run.
 * The executor (modules/run.ts, through the playbook toolkit) is the one place that runs them, and the
 * printer (cli) is the one place that shows them.
 */
export type Command =
  | {
      kind: 'exec';
      argv: string[];
      stdin?: string | Buffer | Secret;
      sudo?: boolean;
      /** True when stdin carries a secret: the printer redacts it. */
      secret?: boolean;
      timeoutMs?: number;
      /** Working folder on the host (command/shell `chdir`). */
      cwd?: string;
      /**
       * Exit codes that count as success besides 0 (e.g. a verification step
       * that may legitimately say 1). Default: only 0.
       */
      okCodes?: number[];
      /** Short human form for plans when argv is a long script (the printer shows it instead). */
      label?: string;
      /** What it does to path facts (facts/types.ts): check mode applies it to its model of the host. */
      effect?: PathEffect;
      /**
       * The command reads something back and judges it (a controller step):
       * its stdout ends with one JSON line, a Verdict, and apply takes the
       * task's reason, failure and result from it. Only the last command of a
       * plan may carry one.
       */
      verdict?: boolean;
    }
  | {
      kind: 'upload';
      path: string;
      content: Buffer | Secret;
      mode?: number;
      owner?: string;
      group?: string;
      sudo?: boolean;
    };

/** A unified diff for --diff; secret content is shown as its fingerprint. */
export interface FileDiff {
  path: string;
  before: string | null;
  after: string | null;
  /** When set, the diff shows this instead of content. */
  redacted?: boolean;
}

export interface ModuleContext {
  transport: Transport;
  /**
   * Reads the host's facts (facts/): straight, batched, or in check mode as
   * the changes planned so far would leave the host. Modules read path
   * facts here, never by exec'ing their argv themselves.
   */
  facts: FactReader;
  /** Reads on the controller (cluster_stage reads the files it stages through it). */
  controller: FactReader;
  /** The node's resolved variables (inventory + play + role defaults + registered). */
  vars: Record<string, unknown>;
  check: boolean;
  /** Folder of the playbook/role the task came from: template and copy `src` are resolved against it. */
  baseDirs: string[];
  /** Renders a template file or string strictly (undefined variable = error). */
  render(source: { file?: string; text?: string }, vars: Record<string, unknown>): string;
  host: string;
  /** Run host commands through sudo (the transport skips it when already root). */
  become?: boolean;
  /** --diff was asked for: modules then fetch the current content to show a diff. */
  diff?: boolean;
  /**
   * Evaluates a Jinja-style expression (`x is defined`, `a == b`) against vars;
   * provided by the executor. assert uses it for string conditions.
   */
  evaluate?(expr: string, vars: Record<string, unknown>): unknown;
}

/** What a module's plan says: change nothing (with the reason), or run these commands. */
export interface ModulePlan {
  changed: boolean;
  /** Why: "up to date", "content differs (sha256 ab12.. -> cd34..)", "unit missing". */
  reason: string;
  commands: Command[];
  diff?: FileDiff[];
  /** Values the task exposes to `register` (rc, stdout, checksum, ...). */
  result?: Record<string, unknown>;
  /** Whether the task failed outright (assert, wait_for that timed out in facts). */
  failed?: boolean;
  /** The reason is the task's output (a report, a table): shown even when the task is ok and -v was not given. */
  report?: boolean;
  /** Variables to set on the host for later tasks (set_fact). */
  facts?: Record<string, unknown>;
  /** A service module asks for a daemon-reload etc.: already included in commands. */
}

/**
 * A task module. `plan` reads facts through ctx.facts (typed Fact objects,
 * src/modules/facts/) and compares them with what `args` want. Check mode and apply both call `plan`; apply then runs the commands.
 *
 * The rule: `plan()` only reads, and within a time bound. Waiting for a state
 * and reading a result back are commands (a host command, or a controller step
 * from src/controller/steps) that apply runs and check mode predicts, as
 * wait_for, cluster_verify (steps/verify.ts) and cluster_chaos_served
 * (steps/chaos.ts served) do. A step that judges what it read back gives the
 * task its reason and result as a Verdict (cluster_chaos_check, steps/chaos.ts
 * check). A module may read in-process within its bound (cluster_verify's and
 * cluster_scale's probes); the apply step reads again what it acts on, since
 * the cluster may have moved between plan and apply.
 */
export interface Module<A = Record<string, unknown>> {
  name: string;
  /**
   * JSON Schema (ajv) for the module's args, and the source of their type A
   * (defineModule in define.ts). ajv checks args against it at playbook load
   * and again once they are rendered, before plan sees them.
   */
  argsSchema: ArgsSchema;
  plan(args: A, ctx: ModuleContext): Promise<ModulePlan>;
}

/** A module's args schema: an object schema, declared `as const` so that FromSchema can derive the args' type from it. */
export type ArgsSchema = Exclude<JSONSchema, boolean> & { readonly type: 'object' };
