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

  it("bundles nothing of @baton/shared or of Node: the API's types are imported type-only", async () => {
    // Act
    const files = await buildConsole({ minify: false });

    // Assess: every input esbuild read is named in the source map.
    const map = [...files.keys()].find((n) => /^app-[A-Z0-9]{8}\.js\.map$/.test(n))!;
    const sources = (JSON.parse(new TextDecoder().decode(files.get(map))) as { sources: string[] }).sources;
    expect(sources.some((s) => s.includes('app/types.ts') || s.includes('app/main.tsx'))).toBe(true);
    expect(sources.filter((s) => /(^|\/)shared\/|node:|zod|pino/.test(s))).toEqual([]);
  });
});
