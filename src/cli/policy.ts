/** What the mmlab commands share: the usage error (exit status 2) and `--policy KEY=VALUE` parsing. */
import { DEFAULT_POLICY, type Policy } from '../config.js';

/** Bad command-line input: main() prints `mmlab: <message>` and exits 2. */
export class UsageError extends Error {}

/** --policy KEY=VALUE items (choices are checked when the machine boots). */
export function parsePolicy(items: string[], what = '--policy'): Partial<Policy> {
  const policy: Partial<Policy> = {};
  for (const item of items) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(item);
    if (!m) throw new UsageError(`${what}: expected KEY=VALUE, got '${item}'`);
    const [, key, value] = m;
    if (!(key in DEFAULT_POLICY)) throw new UsageError(`${what}: unknown switch '${key}' (expected one of: ${Object.keys(DEFAULT_POLICY).join(', ')})`);
    const def = DEFAULT_POLICY[key as keyof Policy];
    if (typeof def === 'boolean') {
      if (value !== 'true' && value !== 'false') throw new UsageError(`${what} ${key}: expected true or false, got '${value}'`);
      (policy as Record<string, unknown>)[key] = value === 'true';
    } else {
      (policy as Record<string, unknown>)[key] = value;
    }
  }
  return policy;
}
