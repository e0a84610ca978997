import type { ConductorSettings } from '../src/core/conductor';

export const buckets = { campaigns: 'campaigns', stubs: 'stubs', rendered: 'rendered' };
export const UNSUBSCRIBE_SECRET = 'test-unsubscribe-secret';

/** Settings for a conductor under test: small batches, a scan on every tick. */
export function testSettings(overrides: Partial<ConductorSettings> = {}): ConductorSettings {
  return {
    stage: 'dev',
    maxWorkers: 2,
    batchSize: 4,
    workerTimeBudgetMs: 60_000,
    leaseGraceMs: 10_000,
    scanIntervalMs: 0,
    stallMs: 30_000,
    maxAttempts: 3,
    publicUrl: 'http://localhost:8080',
    unsubscribeSecret: UNSUBSCRIBE_SECRET,
    ...overrides,
  };
}
