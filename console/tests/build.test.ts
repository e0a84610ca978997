import { buildConsole } from '../src/index';

describe('the console build', () => {
  it('bundles the app into content-hashed files and names them in the page', async () => {
    // Act
    const files = await buildConsole();
    // Assess
    const names = [...files.keys()];
    const script = names.find((n) => /^app-[A-Z0-9]{8}\.js$/.test(n))!;
    const style = names.find((n) => /^app-[A-Z0-9]{8}\.css$/.test(n))!;
    const page = new TextDecoder().decode(files.get('index.html'));
    expect(page).toContain(`<script type="module" src="/console/${script}"></script>`);
    expect(page).toContain(`<link rel="stylesheet" href="/console/${style}" />`);
    expect(page).toContain('<title>Baton</title>');
    // uPlot's own styles come along with ours.
    expect(new TextDecoder().decode(files.get(style))).toContain('.uplot');
    expect(names).toContain(`${script}.map`);
  });
});
