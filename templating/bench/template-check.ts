/**
 * `npm run bench:template [-- N…]`: how long `validateCampaignTemplate` takes on an MJML body of
 * N lines `{% assign aN = 1 %}` placed where MJML drops them (default 1,000, 2,000, 4,000, 5,000, 8,000, 20,000),
 * and how large the error it throws is once serialised. See docs/benchmarks.md.
 */
import { validateCampaignTemplate } from '../src/template';

function droppedTags(n: number): string {
  const lines = Array.from({ length: n }, (_, i) => `{% assign a${i} = 1 %}`).join('\n');
  return `<mjml><mj-body>\n${lines}\n<mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>`;
}

async function main(): Promise<void> {
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  // Warm up the libraries once, so the first size is not charged for loading them.
  await validateCampaignTemplate({ from: 'A <a@example.com>', subject: 'x', mjml: droppedTags(10) }).catch(() => undefined);
  for (const n of sizes.length > 0 ? sizes : [1_000, 2_000, 4_000, 5_000, 8_000, 20_000]) {
    const mjml = droppedTags(n);
    const started = performance.now();
    let errorBytes = 0;
    try {
      await validateCampaignTemplate({ from: 'A <a@example.com>', subject: 'x', mjml });
    } catch (err) {
      errorBytes = JSON.stringify({ message: (err as Error).message, issues: (err as { issues?: unknown }).issues }).length;
    }
    const ms = performance.now() - started;
    process.stdout.write(
      `${n.toLocaleString('en')} tags (${Math.round(mjml.length / 1024)} KB): ${ms.toFixed(0)} ms, error ${errorBytes.toLocaleString('en')} bytes\n`,
    );
  }
}

void main();
