/** The API's answers, as the console reads them (docs: /work/console-contract.md, services/conductor/src/http). */

export type Status = 'draft' | 'scheduled' | 'sending' | 'paused' | 'done' | 'cancelled' | 'failed';

export interface Cap {
  perWindow: number;
  windowMs: number;
  perMinute: number;
  /** The cap in words ("20 per 10 s"): the one way Baton states it, never recomputed here. */
  text: string;
}

export interface Setup {
  stage: string;
  sendingDomains: string[];
  customers?: string[];
  cap: Cap;
  local: boolean;
}

export const COUNT_KEYS = [
  'queued',
  'inFlight',
  'retrying',
  'sent',
  'failed',
  'invalid',
  'duplicate',
  'suppressed',
  'inDoubt',
  'notAccepted',
  'cancelled',
] as const;
export type CountKey = (typeof COUNT_KEYS)[number];
export type Counts = Record<CountKey, number> & { total: number; stubbed: number; rendered: number };

export interface Waiting {
  reason: 'scheduled' | 'sendWindow' | 'providerHold' | 'dailyLimit' | 'monthlyLimit';
  until: string;
  message: string;
}

export interface Campaign {
  id: string;
  customerId: string;
  name: string;
  subject: string;
  status: Status;
  createdAt: string;
  sendRequestedAt?: string;
  sendAt?: string;
  finishedAt?: string;
  waiting?: Waiting;
  counts: Counts;
  sentLastMinute: number;
  sendingDomain: string;
  cap?: Cap;
  effectiveCap?: Cap;
  etaSeconds: number | null;
  problems: { line: number; kind: string; reason: string }[];
  error?: { code: string; message: string };
  attention: { key: string; reason: string }[];
  complaints?: { complained: number; rate: number; complete: boolean; warning?: string };
  pause?: { inFlight: number; endsBy: string; message: string };
}

export interface CampaignList {
  campaigns: Campaign[];
  damaged?: { campaignId: string; customerId: string; key: string; reason: string }[];
}

export interface Problem {
  field: 'subject' | 'mjml' | 'audience' | 'from';
  line?: number;
  severity: 'error' | 'warning';
  code: string;
  message: string;
}

export interface CheckResult {
  columns: string[];
  problems: Problem[];
}

export interface Preview {
  subject: string;
  html: string;
  text: string;
  row?: number;
  values?: Record<string, string>;
}

export interface Definition {
  name: string;
  customerId: string;
  sendingDomain: string;
  from: string;
  subject: string;
  mjml: string;
  audienceKey?: string;
  sendAt?: string;
}

export interface RatePoint {
  t: string;
  sent: number;
  domainSent: number;
  cap: number;
  effectiveCap: number;
}

export interface Rate {
  bucketMs: number;
  cap: Cap;
  points: RatePoint[];
}

export interface RecipientRow {
  email: string | null;
  status: CountKey;
  reason: string | null;
  at: string | null;
  providerMessageId: string | null;
}

export interface RecipientsPage {
  recipients: RecipientRow[];
  next: string | null;
}

export interface Suppression {
  email: string | null;
  recipientId: string;
  reason: string;
  at: string | null;
  campaignId: string | null;
  detail: string | null;
}

export interface InboxItem {
  id: string;
  to: string;
  from: string;
  subject: string;
  receivedAt: string;
  campaignId?: string;
}

export interface InboxPage {
  messages: InboxItem[];
  next?: string;
  total: number;
}

export interface InboxMessage extends InboxItem {
  headers: Record<string, string>;
  text: string;
  html: string;
}
