import { readBool, readEnum, readHostPath, readSeconds, readString, readStringList } from './args.js';
import { ModuleArgsError } from './errors.js';
import { planProcess } from './service-process.js';
import { planSystemd } from './service-systemd.js';
import type { Module } from './types.js';

const STATES = ['started', 'stopped', 'restarted', 'reloaded'] as const;
const MANAGERS = ['systemd', 'process'] as const;

/**
 * Services under systemd (default) or, with `manager: process`, a detached
 * process tracked by a pidfile for hosts without systemd. The inventory's
 * service_manager is what playbooks pass as `manager`.
 */
export const service: Module = {
  name: 'service',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
      name: { type: 'string' },
      state: { enum: [...STATES] },
      enabled: { type: 'boolean' },
      daemon_reload: { type: 'boolean' },
      manager: { enum: [...MANAGERS] },
      cmd: { type: 'array', items: { type: ['string', 'number'] } },
      pidfile: { type: 'string' },
      log: { type: 'string' },
      env_file: { type: 'string' },
      stop_timeout: { type: ['number', 'string'] },
    },
  },
  async plan(args, ctx) {
    const name = readString('service', 'name', args.name, true);
    if (!/^[A-Za-z0-9@._:-]+$/.test(name)) throw new ModuleArgsError('service', 'name', `${JSON.stringify(name)} is not a unit name`);
    const state = args.state === undefined ? undefined : readEnum('service', 'state', args.state, STATES, 'started');
    const manager = readEnum('service', 'manager', args.manager, MANAGERS, 'systemd');
    if (manager === 'systemd') {
      const enabled = args.enabled === undefined ? undefined : readBool('service', 'enabled', args.enabled, true);
      if (state === undefined && enabled === undefined) {
        throw new ModuleArgsError('service', 'state', 'give state, enabled or both');
      }
      return planSystemd({ name, state, enabled, daemonReload: readBool('service', 'daemon_reload', args.daemon_reload, true) }, ctx);
    }
    const cmd = readStringList('service', 'cmd', args.cmd);
    if (!cmd?.length) throw new ModuleArgsError('service', 'cmd', 'manager process needs cmd (the argv to run)');
    return planProcess(
      {
        name,
        state,
        cmd,
        pidfile: args.pidfile === undefined ? `/run/${name}.pid` : readHostPath('service', 'pidfile', args.pidfile),
        log: args.log === undefined ? `/var/log/${name}.log` : readHostPath('service', 'log', args.log),
        envFile: args.env_file === undefined ? undefined : readHostPath('service', 'env_file', args.env_file),
        stopTimeoutS: readSeconds('service', 'stop_timeout', args.stop_timeout, 10, 300),
      },
      ctx,
    );
  },
};
