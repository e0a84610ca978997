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
