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
