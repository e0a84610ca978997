/**
 * `npm run bench:template [-- N…]`: how long `validateCampaignTemplate` takes on an MJML body of
 * N lines `{% assign aN = 1 %}` placed where MJML drops them (default 1,000, 2,000, 4,000, 5,000, 8,000, 20,000),
 * and how large the error it throws is once serialised. See docs/benchmarks.md.
 *
 * `npm run bench:template -- --nesting [KB]`: the same for markup that nests deep only as HTML or
 * XML reads it, `KB` of it (default 2,048) in one `<mj-text>`, with an inline style (MJML's style
 * inliner reads the HTML again), with and without `<mj-html-attributes>` in the head.
 */
import { validateCampaignTemplate } from '../src/template';

function droppedTags(n: number): string {
  const lines = Array.from({ length: n }, (_, i) => `{% assign a${i} = 1 %}`).join('\n');
  return `<mjml><mj-body>\n${lines}\n<mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>`;
}

const HTML_ATTRIBUTES =
  '<mj-html-attributes><mj-selector path=".n div"><mj-html-attribute name="data-id">1</mj-html-attribute></mj-selector></mj-html-attributes>';

function inText(text: string, head: string): string {
  return `<mjml><mj-head>${head}<mj-style inline="inline">.n { color: red; }</mj-style></mj-head><mj-body><mj-section><mj-column><mj-text css-class="n">${text}</mj-text></mj-column></mj-section></mj-body></mjml>`;
}

async function nesting(kb: number): Promise<void> {
  const units = ['<span />', '<span / >', '<p>x<span />', '<br>', '<p>x', '<span></span>', '<div><span></span></div>'];
  const cases = units.flatMap((unit) =>
    ['', HTML_ATTRIBUTES].map((head) => ({
      name: `${unit} × ${Math.floor((kb * 1024) / unit.length).toLocaleString('en')}${head ? ', <mj-html-attributes>' : ''}`,
      mjml: inText(unit.repeat(Math.floor((kb * 1024) / unit.length)), head),
    })),
  );
  cases.push({
    name: '<xmp> hiding a second mj-text',
    mjml: inText(`<xmp></mj-text><mj-text>${'<span />'.repeat(kb * 128)}</mj-text></xmp>`, ''),
  });
  // Whitespace MJML strips after an Outlook conditional comment, before its XML reading.
  const spaced = '<span> </span>';
  cases.push({
    name: `${spaced} × ${Math.floor((kb * 1024) / spaced.length).toLocaleString('en')} after <!--[if x]>, <mj-html-attributes>`,
    mjml: inText(`<!--[if x]>-->${spaced.repeat(Math.floor((kb * 1024) / spaced.length))}<![endif]-->`, HTML_ATTRIBUTES),
  });
  // Attributes MJML writes on every element a selector matches, and selectors it runs over the whole body.
  const attribute = (name: string, value: string) => `<mj-html-attribute name="${name}">${value}</mj-html-attribute>`;
  const selector = (path: string, inner: string) =>
    `<mj-html-attributes><mj-selector path="${path}">${inner}</mj-selector></mj-html-attributes>`;
  cases.push({
    name: `a ${kb - 16} KB value on every element (path "*"), 150 elements`,
    mjml: inText('<b>x</b>'.repeat(150), selector('*', attribute('d', 'a'.repeat((kb - 16) * 1024)))),
  });
  cases.push({
    name: '5,000 attributes over 40,000 elements',
    mjml: inText(
      '<b>x</b>'.repeat(40_000),
      selector('.zz', Array.from({ length: 5_000 }, (_, i) => `<mj-html-attribute name="a${i}"/>`).join('')),
    ),
  });
  // A carousel's HTML grows with the square of its images.
  cases.push({
    name: 'a carousel of 1,000 images',
    mjml: `<mjml><mj-body><mj-section><mj-column><mj-carousel>${'<mj-carousel-image src="https://x.example/i.png" />'.repeat(1_000)}</mj-carousel></mj-column></mj-section></mj-body></mjml>`,
  });
  await validateCampaignTemplate({ from: 'A <a@example.com>', subject: 'x', mjml: inText('Hi', HTML_ATTRIBUTES) }).catch(() => undefined);
  for (const { name, mjml } of cases) {
    const started = performance.now();
    let answer = 'accepted';
    try {
      await validateCampaignTemplate({ from: 'A <a@example.com>', subject: 'x', mjml });
    } catch (err) {
      const [issue] = (err as { issues?: { message: string }[] }).issues ?? [{ message: (err as Error).message }];
      answer = `refused: ${issue!.message.slice(0, 70)}…`;
    }
    process.stdout.write(`${name}: ${(performance.now() - started).toFixed(0)} ms, ${answer}\n`);
  }
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--nesting');
  if (at >= 0) return nesting(Number(process.argv[at + 1] ?? 2048) || 2048);
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
