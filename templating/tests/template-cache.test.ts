import { PermanentError } from '@baton/shared';
import { compileCampaignTemplate, type TemplateInput } from '../src/template';
import { TemplateCache } from '../src/template-cache';
import { caught, helloMjml } from './fixtures';

const input: TemplateInput = { from: 'news@acme.example', subject: 'Hi', mjml: helloMjml };
const spring = { customerId: 'acme', campaignId: 'c-spring' };
const autumn = { customerId: 'acme', campaignId: 'c-autumn' };

function spyCompiler() {
  return jest.fn(compileCampaignTemplate);
}

describe('TemplateCache', () => {
  it('compiles a campaign once however many renders ask for it, even concurrently', async () => {
    // Prepare
    const compile = spyCompiler();
    const load = jest.fn(async () => input);
    const cache = new TemplateCache({ compile });

    // Act
    const all = await Promise.all(Array.from({ length: 20 }, () => cache.get(spring, load)));
    const later = await cache.get(spring, load);

    // Assess
    expect(compile).toHaveBeenCalledTimes(1);
    expect(load).toHaveBeenCalledTimes(1);
    expect(new Set([...all, later]).size).toBe(1);
  });

  it('compiles each campaign separately and forgets the least recently used beyond its size', async () => {
    // Prepare
    const compile = spyCompiler();
    const cache = new TemplateCache({ compile, maxSize: 1 });
    const load = async () => input;

    // Act
    await cache.get(spring, load);
    await cache.get(autumn, load);
    await cache.get(spring, load);

    // Assess
    expect(compile).toHaveBeenCalledTimes(3);
    expect(cache.size).toBe(1);
  });

  it('remembers a permanent failure so an invalid template is not recompiled for every recipient', async () => {
    // Prepare
    const compile = jest.fn(async () => {
      throw new PermanentError('TEMPLATE_INVALID', 'broken');
    });
    const cache = new TemplateCache({ compile });

    // Act
    const first = await caught(() => cache.get(spring, async () => input));
    const second = await caught(() => cache.get(spring, async () => input));

    // Assess
    expect(first).toBe(second);
    expect(compile).toHaveBeenCalledTimes(1);
  });

  it('forgets a transient failure so the next render tries again', async () => {
    // Prepare
    const compile = spyCompiler();
    const cache = new TemplateCache({ compile });
    const load = jest.fn().mockRejectedValueOnce(new Error('socket hang up')).mockResolvedValue(input);

    // Act
    const failure = await caught(() => cache.get(spring, load));
    const compiled = await cache.get(spring, load);

    // Assess
    expect(failure).toEqual(new Error('socket hang up'));
    expect(compiled.from).toBe('news@acme.example');
    expect(load).toHaveBeenCalledTimes(2);
  });
});
