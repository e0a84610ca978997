import type { ApiErrorBody, CampaignView as ApiCampaignView } from '@baton/shared';

/**
 * A campaign as the API answers it (shared api-types.ts, the conductor's own type). Conductors
 * from before the cap in words (`cap`, `effectiveCap`) answered without them: the CLI then states
 * `perMinuteMax`.
 */
export type CampaignView = Omit<ApiCampaignView, 'cap' | 'effectiveCap'> & Partial<Pick<ApiCampaignView, 'cap' | 'effectiveCap'>>;

/** A small client of the campaign API: bearer token, JSON, errors that keep the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues: { where: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.fetch(method, path, body, AbortSignal.timeout(60_000));
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new ApiError(res.status, `unexpected answer from ${path}: HTTP ${res.status}`);
    }
    if (!res.ok) {
      const j = json as Partial<ApiErrorBody>;
      throw new ApiError(res.status, j.message ?? `HTTP ${res.status}`, j.issues ?? []);
    }
    return json as T;
  }

  /** A text answer (a CSV listing) as it came; an error answer is read as JSON like `request`'s. */
  async text(method: string, path: string): Promise<string> {
    const res = await this.fetch(method, path, undefined, AbortSignal.timeout(60_000));
    const text = await res.text();
    if (res.ok) return text;
    let j: Partial<ApiErrorBody> = {};
    try {
      j = JSON.parse(text) as typeof j;
    } catch {
      // not JSON: the status says it
    }
    throw new ApiError(res.status, j.message ?? `HTTP ${res.status}`, j.issues ?? []);
  }

  /** A GET whose body is copied to `out` as it arrives (a CSV of any length); an error answer throws like `request`. */
  async stream(path: string, out: NodeJS.WritableStream): Promise<void> {
    const res = await this.fetch('GET', path, undefined);
    if (!res.ok || !res.body) {
      await this.request('GET', path); // the same error, with the server's message
      return;
    }
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
    }
  }

  private async fetch(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    try {
      return await fetch(this.baseUrl.replace(/\/+$/, '') + path, {
        method,
        // A FormData (a create with its audience as a file part) sets its own multipart content type.
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined || body instanceof FormData ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND…) is in its cause.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new ApiError(0, `cannot reach the Baton API at ${this.baseUrl} (${reason}); is \`npm start\` running?`);
    }
  }
}
