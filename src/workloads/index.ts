/** The scenario registry: `mmlab scenarios` lists it, `mmlab run NAME` picks from it. */
import { fallbackScenario } from './fallback.js';
import { mixedScenario } from './mixed.js';
import { pressureScenario } from './pressure.js';
import type { Scenario } from './scenario.js';
import { slabChurnScenario } from './slab_churn.js';
import { swapNetScenario } from './swap_net.js';
import { xfsBuffersScenario } from './xfs_buffers.js';

export const SCENARIOS: Scenario[] = [fallbackScenario, mixedScenario, slabChurnScenario, xfsBuffersScenario, pressureScenario, swapNetScenario];
export const DEFAULT_SCENARIO = 'fallback';

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
