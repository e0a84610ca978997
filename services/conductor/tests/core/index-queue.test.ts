import { IndexQueue } from '../../src/core/index-queue';

describe('IndexQueue', () => {
  it('gives indexes back first in first out as it grows and wraps around', () => {
    // Prepare
    const queue = new IndexQueue();
    const out: number[] = [];
    // Act
    for (let i = 0; i < 100; i++) queue.push(i);
    for (let i = 0; i < 50; i++) out.push(queue.shift());
    for (let i = 100; i < 300; i++) queue.push(i);
    while (queue.length > 0) out.push(queue.shift());
    // Assess
    expect(out).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(queue.shift()).toBe(-1);
  });
});
