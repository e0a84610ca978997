import { threadCpuMs as threadCpuOf } from '@baton/shared';
export const publicUrl = 'https://baton.example.com';
export const unsubscribeSecret = 'test-unsubscribe-secret';

export function mjmlBody(inner: string): string {
  return `<mjml><mj-body><mj-section><mj-column>${inner}</mj-column></mj-section></mj-body></mjml>`;
}

export const helloMjml = mjmlBody('<mj-text>Hello {{ first_name }}</mj-text>');

/** The error `fn` throws (or rejects with); fails the test when it does not. */
export async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error, but none was thrown');
}

/**
 * CPU milliseconds this thread has used, for timing a synchronous stretch of it. On Linux it is the
 * thread's own /proc entry (10 ms ticks): threads that an earlier test file left running in this
 * jest worker, and the collector's threads, are not counted, as they were in the process's total
 * (a fuzz test's ratio once came out at 20 that way). Elsewhere it is the process's.
 */
export function threadCpuMs(): number {
  const own = threadCpuOf(process.pid);
  if (own !== undefined) return own;
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
