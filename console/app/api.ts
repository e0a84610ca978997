/**
 * The campaign API from the page. The token comes from the URL fragment (`/#token=…`, printed at
 * start) or the token form, is kept in sessionStorage and only ever sent as a bearer header,
 * never in a URL (downloads are fetched, then saved from a blob).
 */

import type { ApiErrorBody } from '@baton/shared/api-types';

const KEY = 'batonToken';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: { where: string; message: string }[],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Listener = (message: string) => void;
const unauthorised = new Set<Listener>();

/** Called with a sentence whenever the server refuses the token. */
export function onUnauthorised(listener: Listener): () => void {
  unauthorised.add(listener);
  return () => unauthorised.delete(listener);
}

/** Keeps a `#token=…` from the address and takes it out of the address bar; true when there was one. */
export function takeTokenFromUrl(): boolean {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get('token');
  if (token) sessionStorage.setItem(KEY, token);
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  return Boolean(token);
}

export const token = {
  get: (): string => sessionStorage.getItem(KEY) ?? '',
  set: (value: string): void => sessionStorage.setItem(KEY, value),
};

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token.get()}` };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(`/api${path}`, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, 'UNREACHABLE', 'Cannot reach Baton. Is it still running? The page tries again every second.');
  }
  if (res.ok) return res;
  const text = await res.text();
  let json: Partial<ApiErrorBody> = {};
  try {
    json = text ? (JSON.parse(text) as typeof json) : {};
  } catch {
    // not JSON (a proxy's page): the status says enough
  }
  if (res.status === 401) {
    const message = 'Baton did not accept this API token.';
    unauthorised.forEach((l) => l(message));
    throw new ApiError(401, 'UNAUTHORIZED', message);
  }
  throw new ApiError(
    res.status,
    json.error ?? `HTTP_${res.status}`,
    json.message ?? `The server answered HTTP ${res.status}.`,
    json.issues,
  );
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await call(method, path, body);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** Saves what `path` answers as a file (the recipients or suppressions CSV), with the token in the header. */
export async function download(path: string, fallbackName: string): Promise<string> {
  const res = await call('GET', path);
  const disposition = res.headers.get('content-disposition') ?? '';
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const link = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}

/** An error's message in words, with the field the server named (`body.subject: is required`). */
export function describe(err: unknown): string {
  if (err instanceof ApiError && err.issues?.length) {
    return `${err.message}: ${err.issues.map((i) => `${i.where} ${i.message}`).join('; ')}`;
  }
  return err instanceof Error ? err.message : String(err);
}

export const enc = encodeURIComponent;
