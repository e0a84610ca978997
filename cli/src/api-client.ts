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
    let res: Response;
    try {
      res = await fetch(this.baseUrl.replace(/\/+$/, '') + path, {
        method,
        // A FormData (a create with its audience as a file part) sets its own multipart content type.
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined || body instanceof FormData ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND…) is in its cause.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new ApiError(0, `cannot reach the Baton API at ${this.baseUrl} (${reason}); is \`npm start\` running?`);
    }
    const text = await res.text();
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
}
