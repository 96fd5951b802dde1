import { UnibusError } from '../errors.js';

/** A module's arguments are wrong in a way the args schema cannot say (both src and content, bad mode). */
export class ModuleArgsError extends UnibusError {
  constructor(
    readonly module: string,
    readonly field: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${module}: ${field}: ${problem}`, options);
  }
}

/** Reading a host's facts failed (the fact command itself failed, or printed what we cannot parse). */
export class FactError extends UnibusError {
  constructor(
    readonly host: string,
    what: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${host}: cannot read ${what}: ${detail}`, options);
  }
}
