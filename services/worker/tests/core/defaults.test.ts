import { MIN_BUDGET_TO_TAKE_MS, PROVIDER_TIMEOUT_MS, minBudgetToTakeFor } from '../../src/core/defaults';

describe('minBudgetToTakeFor', () => {
  it('keeps room for a call that times out, plus the time to record it and check in', () => {
    // Act
    const reserve = minBudgetToTakeFor(120_000);

    // Assess
    expect(reserve).toBe(PROVIDER_TIMEOUT_MS + MIN_BUDGET_TO_TAKE_MS);
    expect(reserve).toBe(12_000);
  });

  it('follows a provider timeout other than the default', () => {
    // Act
    const reserve = minBudgetToTakeFor(120_000, 3_000);

    // Assess
    expect(reserve).toBe(5_000);
  });

  it('never keeps more than half a short budget, so a short-lived worker still sends', () => {
    // Act
    const reserve = minBudgetToTakeFor(9_001);

    // Assess
    expect(reserve).toBe(4_500);
  });
});
