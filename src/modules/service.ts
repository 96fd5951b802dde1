import { hostPath, parseSeconds } from './args.js';
import { defineModule } from './define.js';
import { ModuleArgsError } from './errors.js';
import { planProcess } from './service-process.js';
import { planSystemd } from './service-systemd.js';
import type { ArgsSchema } from './types.js';

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string' },
    state: { enum: ['started', 'stopped', 'restarted', 'reloaded'] },
    enabled: { type: 'boolean' },
    daemon_reload: { type: 'boolean' },
    manager: { enum: ['systemd', 'process'] },
    scope: { enum: ['system', 'user'] },
    cmd: { type: 'array', items: { type: ['string', 'number'] } },
    pidfile: { type: 'string' },
    log: { type: 'string' },
    env_file: { type: 'string' },
    stop_timeout: { type: ['number', 'string'] },
  },
} as const satisfies ArgsSchema;

/**
 * Services under systemd (default) or, with `manager: process`, a detached
 * process tracked by a pidfile for hosts without systemd. The inventory's
 * service_manager is what playbooks pass as `manager`. `scope: user` (as
 * Ansible's systemd_service has it) runs `systemctl --user`: the login user's
 * own service manager, for the inventory's systemd-user nodes.
 */
export const service = defineModule({
  name: 'service',
  argsSchema,
  async plan(args, ctx) {
    const { name, state, enabled } = args;
    if (!/^[A-Za-z0-9@._:-]+$/.test(name)) throw new ModuleArgsError('service', 'name', `${JSON.stringify(name)} is not a unit name`);
    if (args.scope !== undefined && args.manager === 'process') throw new ModuleArgsError('service', 'scope', 'is for systemd units (manager systemd); manager process has none');
    if ((args.manager ?? 'systemd') === 'systemd') {
      if (state === undefined && enabled === undefined) {
        throw new ModuleArgsError('service', 'state', 'give state, enabled or both');
      }
      return planSystemd({ name, state, enabled, daemonReload: args.daemon_reload ?? true, scope: args.scope }, ctx);
    }
    const cmd = args.cmd?.map(String);
    if (!cmd?.length) throw new ModuleArgsError('service', 'cmd', 'manager process needs cmd (the argv to run)');
    return planProcess(
      {
        name,
        state,
        cmd,
        pidfile: args.pidfile === undefined ? `/run/${name}.pid` : hostPath('service', 'pidfile', args.pidfile),
        log: args.log === undefined ? `/var/log/${name}.log` : hostPath('service', 'log', args.log),
        envFile: args.env_file === undefined ? undefined : hostPath('service', 'env_file', args.env_file),
        stopTimeoutS: parseSeconds('service', 'stop_timeout', args.stop_timeout, 10, 300),
      },
      ctx,
    );
  },
});
