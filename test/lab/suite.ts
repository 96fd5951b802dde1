// A test suite that needs the lab. In CI a lab that cannot be built is a
// failure, never a silent skip; elsewhere the suite is skipped with the reason.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { labAvailable } from './lab.js';

export function describeOnLab(name: string, options: { timeout: number }, fn: () => void): void {
  const avail = labAvailable();
  if (avail.ok) describe(name, options, fn);
  else if (process.env.CI === 'true') test('lab can be built', () => assert.fail(`lab unavailable: ${avail.reason}`));
  else test(name, { skip: avail.reason }, () => {});
}
