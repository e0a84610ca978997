/** A small client of the campaign API: bearer token, JSON, errors that keep the server's message. */
export interface CampaignCounts {
  total: number;
  stubbed: number;
  rendered: number;
  sent: number;
  failed: number;
  invalid: number;
  duplicate: number;
  suppressed: number;
  inDoubt: number;
  cancelled: number;
  inFlight: number;
}
export interface CampaignView {
  id: string;
  name: string;
  status: string;
  counts: CampaignCounts;
  sentLastMinute: number;
  perMinuteMax: number;
  etaSeconds: number | null;
  problems: { line: number; kind: string; reason: string }[];
  error?: { code: string; message: string };
}

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
    const { res, text } = await this.exchange(method, path, body);
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new ApiError(res.status, `unexpected answer from ${path}: HTTP ${res.status}`);
    }
    if (!res.ok) {
      const j = json as { message?: string; issues?: { where: string; message: string }[] };
      throw new ApiError(res.status, j.message ?? `HTTP ${res.status}`, j.issues ?? []);
    }
    return json as T;
  }

  /** A text answer (a CSV listing) as it came; an error answer is read as JSON like `request`'s. */
  async text(method: string, path: string): Promise<string> {
    const { res, text } = await this.exchange(method, path, undefined);
    if (res.ok) return text;
    let j: { message?: string; issues?: { where: string; message: string }[] } = {};
    try {
      j = JSON.parse(text) as typeof j;
    } catch {
      // not JSON: the status says it
    }
    throw new ApiError(res.status, j.message ?? `HTTP ${res.status}`, j.issues ?? []);
  }

  private async exchange(method: string, path: string, body: unknown): Promise<{ res: Response; text: string }> {
    let res: Response;
    try {
      res = await fetch(this.baseUrl.replace(/\/+$/, '') + path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND…) is in its cause.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new ApiError(0, `cannot reach the Baton API at ${this.baseUrl} (${reason}); is \`npm start\` running?`);
    }
    return { res, text: await res.text() };
  }
}
