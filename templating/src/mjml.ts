/**
 * The slice of MJML 5 that Baton uses, typed here because the package ships no declarations
 * (kept local rather than as a global `declare module`, so importing this package never
 * clashes with another package's declaration).
 */

export interface MjmlValidationIssue {
  line: number;
  message: string;
  tagName: string;
  formattedMessage?: string;
}

export interface MjmlOptions {
  validationLevel?: 'strict' | 'soft' | 'skip';
  keepComments?: boolean;
  ignoreIncludes?: boolean;
  minify?: boolean;
  beautify?: boolean;
}

export interface MjmlResult {
  html: string;
  errors: MjmlValidationIssue[];
}

/** What `mjml2html` throws under `validationLevel: 'strict'`. */
export interface MjmlStrictError extends Error {
  errors?: MjmlValidationIssue[];
}

type Mjml2Html = (input: string, options?: MjmlOptions) => Promise<MjmlResult>;

let mjml: Mjml2Html | undefined;

/**
 * MJML loads at the first compile, not with this package: the package is imported wherever an
 * audience is parsed or an address checked (the conductor's thread too), but only the threads
 * that compile templates need MJML's chain (mjml-core, juice, cheerio, undici, js-beautify,
 * postcss: about 800 modules, docs/benchmarks.md).
 */
export function mjml2html(input: string, options?: MjmlOptions): Promise<MjmlResult> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  mjml ??= require('mjml') as Mjml2Html;
  return mjml(input, options);
}

let endingTags: ReadonlySet<string> | undefined;

/**
 * MJML's component registry (filled when `mjml` loads): which tags keep their content as raw
 * HTML (`endingTag`, such as mj-text). Text in any other element is dropped by MJML.
 */
export function mjmlEndingTags(): ReadonlySet<string> {
  if (endingTags === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('mjml');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { components } = require('mjml-core') as { components: Record<string, { endingTag?: boolean } | undefined> };
    endingTags = new Set(Object.entries(components).flatMap(([name, component]) => (component?.endingTag ? [name] : [])));
  }
  return endingTags;
}

/** Loads MJML now (a thread that will compile soon: its first compile then does not wait for it). */
export function loadMjml(): void {
  mjmlEndingTags();
}
