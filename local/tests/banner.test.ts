import { loadConfig } from '@baton/shared';
import { startupBanner } from '../src/banner';

const qaEnv = {
  BATON_STAGE: 'qa',
  QA_ALLOWED_RECIPIENTS: 'qa@example.com',
  BATON_API_TOKEN: 'qa-api-token-0123456789',
  BATON_LEASE_TOKEN: 'qa-lease-token-0123456789',
  BATON_UNSUBSCRIBE_SECRET: 'qa-unsubscribe-secret-0123',
};

describe('startupBanner', () => {
  it('links to the console with the token Baton generated in dev', () => {
    // Act
    const banner = startupBanner(loadConfig({}), {
      url: 'http://127.0.0.1:8080',
      apiToken: 'generated-0123456789',
      apiTokenSource: 'data-dir',
      sink: undefined,
    });

    // Assess
    expect(banner).toContain('Open http://localhost:8080/#token=generated-0123456789 and click "Send campaign".');
  });

  it.each([
    ['in qa', qaEnv],
    ['in dev', { BATON_API_TOKEN: 'dev-api-token-0123456789' }],
  ])('never prints a token given in BATON_API_TOKEN (%s)', (_, env) => {
    // Prepare
    const config = loadConfig(env);

    // Act
    const banner = startupBanner(config, {
      url: 'http://127.0.0.1:8080',
      apiToken: config.BATON_API_TOKEN!,
      apiTokenSource: 'environment',
      sink: undefined,
    });

    // Assess
    expect(banner).not.toContain(config.BATON_API_TOKEN!);
    expect(banner).not.toContain('#token=');
    expect(banner).toContain('Open http://localhost:8080/ and paste the API token from BATON_API_TOKEN');
  });
});
