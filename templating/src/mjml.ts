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

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const mjml2html = require('mjml') as (input: string, options?: MjmlOptions) => Promise<MjmlResult>;

/**
 * MJML's component registry (filled when `mjml` loads): which tags keep their content as raw
 * HTML (`endingTag`, such as mj-text). Text in any other element is dropped by MJML.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { components } = require('mjml-core') as { components: Record<string, { endingTag?: boolean } | undefined> };

export function mjmlEndingTags(): ReadonlySet<string> {
  return new Set(Object.entries(components).flatMap(([name, component]) => (component?.endingTag ? [name] : [])));
}
