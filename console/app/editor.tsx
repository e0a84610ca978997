import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, api, describe } from './api';
import { headOf, isoFromLocalInput } from './format';
import { useDebounced } from './hooks';
import { PreviewPane } from './preview-pane';
import type { CheckResult, Definition, DraftPreview, Problem, Setup } from './types';

/** How much of an audience file the checks and the preview read: its header and first rows. */
const HEAD_BYTES = 64 * 1024;

const STARTER = `<mjml>
  <mj-body background-color="#f5f6f8">
    <mj-section background-color="#ffffff">
      <mj-column>
        <mj-text font-size="16px">Hello {{ first_name | default: "there" }},</mj-text>
        <mj-text>Write your message here.</mj-text>
        <mj-text font-size="12px" color="#6b7385"><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;

const FIELD_LABEL: Record<Problem['field'], string> = { subject: 'Subject', mjml: 'Template', audience: 'Audience', from: 'From' };

interface Draft {
  name: string;
  customerId: string;
  sendingDomain: string;
  from: string;
  subject: string;
  mjml: string;
  sendAt: string;
}

interface Audience {
  file: File;
  head: string;
}

/** New and Clone: the form, the checks as you type, and the server's preview of one audience row. */
export function Editor(props: {
  setup: Setup | null;
  from?: Definition;
  fromName?: string;
  onCreated: (id: string) => void;
  onClose: () => void;
}) {
  const { setup, from } = props;
  const [draft, setDraft] = useState<Draft>(() => ({
    name: from ? `${from.name} (copy)` : '',
    customerId: from?.customerId ?? setup?.customers?.[0] ?? '',
    sendingDomain: from?.sendingDomain ?? setup?.sendingDomains[0] ?? '',
    from: from?.from ?? '',
    subject: from?.subject ?? '',
    mjml: from?.mjml ?? STARTER,
    sendAt: '',
  }));
  const [audience, setAudience] = useState<Audience | null>(null);
  const [keepAudienceKey, setKeepAudienceKey] = useState(from?.audienceKey);
  const [dragging, setDragging] = useState(false);
  const [check, setCheck] = useState<CheckResult | null>(null);
  const [checkError, setCheckError] = useState('');
  const [row, setRow] = useState(1);
  const [preview, setPreview] = useState<DraftPreview | null>(null);
  const [previewError, setPreviewError] = useState('');
  const [busy, setBusy] = useState(false);
  const [createError, setCreateError] = useState('');
  const template = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  // /api/setup may answer after the form opened: fill the choices it brings, never over what was typed.
  useEffect(() => {
    if (!setup) return;
    setDraft((d) => ({
      ...d,
      sendingDomain: d.sendingDomain || setup.sendingDomains[0] || '',
      customerId: d.customerId || setup.customers?.[0] || '',
    }));
  }, [setup]);

  const set = (field: keyof Draft) => (e: { currentTarget: { value: string } }) => setDraft({ ...draft, [field]: e.currentTarget.value });
  const source = audience ? { audienceCsv: audience.head } : keepAudienceKey ? { audienceKey: keepAudienceKey } : {};
  const checkInput = useMemo(
    () => ({ subject: draft.subject, mjml: draft.mjml, ...(draft.from ? { from: draft.from } : {}), ...source }),

    [draft.subject, draft.mjml, draft.from, audience, keepAudienceKey],
  );

  // Answers can come back out of order: only the latest request's is shown.
  const asked = useRef({ check: 0, preview: 0 });
  useDebounced(checkInput, 400, (input) => {
    const mine = ++asked.current.check;
    api<CheckResult>('POST', '/drafts/check', input).then(
      (r) => {
        if (mine !== asked.current.check) return;
        setCheck(r);
        setCheckError('');
      },
      (e: unknown) => {
        if (mine !== asked.current.check) return;
        setCheckError(
          e instanceof ApiError && e.status === 404 ? 'This server has no draft checks (POST /api/drafts/check).' : describe(e),
        );
      },
    );
  });
  const previewInput = useMemo(() => ({ subject: checkInput.subject, mjml: checkInput.mjml, row, ...source }), [checkInput, row]);
  useDebounced(previewInput, 500, (input) => {
    if (!input.subject || !input.mjml) return;
    const mine = ++asked.current.preview;
    api<DraftPreview>('POST', '/drafts/preview', input).then(
      (p) => {
        if (mine !== asked.current.preview) return;
        setPreview(p);
        setPreviewError('');
      },
      (e: unknown) => {
        if (mine === asked.current.preview) setPreviewError(describe(e));
      },
    );
  });

  const chooseFile = async (file: File | undefined) => {
    if (!file) return;
    const text = await file.slice(0, HEAD_BYTES).text();
    setAudience({ file, head: headOf(text, file.size <= HEAD_BYTES) });
    setKeepAudienceKey(undefined);
  };

  const goToLine = (line: number | undefined) => {
    const area = template.current;
    if (!area || !line) return;
    const lines = area.value.split('\n');
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    area.focus();
    area.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
  };

  const create = async (ev: Event) => {
    ev.preventDefault();
    setCreateError('');
    const sendAt = isoFromLocalInput(draft.sendAt);
    const fields: Record<string, string> = {
      name: draft.name,
      customerId: draft.customerId.trim(),
      from: draft.from,
      subject: draft.subject,
      mjml: draft.mjml,
      ...(draft.sendingDomain ? { sendingDomain: draft.sendingDomain } : {}),
      ...(sendAt ? { sendAt } : {}),
    };
    let body: unknown;
    if (audience) {
      // Streamed: the browser sends the file part as it reads it; the file is the last part (the server reads nothing after it).
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      form.append('audience', audience.file, audience.file.name);
      body = form;
    } else if (keepAudienceKey) body = { ...fields, audienceKey: keepAudienceKey };
    else {
      setCreateError('Choose an audience file (a CSV with an email column).');
      return;
    }
    setBusy(true);
    try {
      const { id } = await api<{ id: string }>('POST', '/campaigns', body);
      props.onCreated(id);
    } catch (err) {
      setCreateError(`Not created: ${describe(err)}`);
    } finally {
      setBusy(false);
    }
  };

  const problems = check?.problems ?? [];
  const errors = problems.filter((p) => p.severity === 'error').length;
  return (
    <form class="editor" onSubmit={create} aria-label="Campaign editor">
      <div class="title-row">
        <h2>{from ? `Clone of ${props.fromName ?? from.name}` : 'New campaign'}</h2>
        <div class="actions">
          <button type="button" onClick={props.onClose}>
            Discard
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create campaign'}
          </button>
        </div>
      </div>
      {createError && (
        <p class="failure" role="alert">
          {createError}
        </p>
      )}
      <div class="editor-grid">
        <div class="card fields">
          <div class="two">
            <Field id="f-name" label="Name">
              <input id="f-name" required maxLength={200} value={draft.name} onInput={set('name')} placeholder="Spring newsletter" />
            </Field>
            <Field id="f-customer" label="Customer">
              <input
                id="f-customer"
                required
                list="customers"
                pattern="[a-z0-9][a-z0-9-]{1,62}"
                title="lower-case letters, digits and dashes"
                value={draft.customerId}
                onInput={set('customerId')}
                placeholder="acme"
              />
              <datalist id="customers">
                {(setup?.customers ?? []).map((c) => (
                  <option key={c} value={c} />
                ))}
              </datalist>
            </Field>
          </div>
          <div class="two">
            <Field id="f-domain" label="Sending domain">
              <select id="f-domain" value={draft.sendingDomain} onChange={set('sendingDomain')}>
                {(setup?.sendingDomains ?? [draft.sendingDomain]).map((d) => (
                  <option key={d} value={d}>
                    {d || 'the default domain'}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="f-from" label="From">
              <input id="f-from" required value={draft.from} onInput={set('from')} placeholder="Acme News <news@acme.example>" />
            </Field>
          </div>
          <Field id="f-subject" label="Subject" hint={`${draft.subject.length} of 998 characters`}>
            <input id="f-subject" required value={draft.subject} onInput={set('subject')} placeholder="Hello {{ first_name }}" />
          </Field>
          <Field id="f-template" label="Template" hint="MJML; merge fields as {{ column }}">
            <textarea
              id="f-template"
              ref={template}
              required
              spellcheck={false}
              wrap="off"
              rows={18}
              value={draft.mjml}
              onInput={set('mjml')}
            />
          </Field>
          <div
            class={`drop ${dragging ? 'over' : ''}`}
            onDragOver={(e) => {
              e.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={(e) => {
              e.preventDefault();
              setDragging(false);
              const files = e.dataTransfer?.files;
              // The picker shows the dropped file too.
              if (files?.length && fileInput.current) fileInput.current.files = files;
              void chooseFile(files?.[0]);
            }}
          >
            <label for="f-audience">Audience</label>
            <input
              id="f-audience"
              ref={fileInput}
              type="file"
              accept=".csv,text/csv"
              onChange={(e) => void chooseFile(e.currentTarget.files?.[0])}
            />
            <p class="muted">
              {audience
                ? `${audience.file.name}, ${formatBytes(audience.file.size)}${check ? ` · columns: ${check.columns.join(', ')}` : ''}`
                : keepAudienceKey
                  ? `Keeps the audience of ${props.fromName ?? 'the campaign it was cloned from'}; choose or drop a file to replace it.`
                  : 'Drop a CSV file here or choose one: an email column, one row per recipient; the other columns are merge fields.'}
            </p>
          </div>
          <Field id="f-send-at" label="Send at (optional)" hint="Leave empty to create a draft and send it from its page">
            <input id="f-send-at" type="datetime-local" value={draft.sendAt} onInput={set('sendAt')} />
          </Field>
        </div>
        <div class="side">
          <div class="card">
            <h3>
              Checks{' '}
              {check && (
                <span class={`pill ${errors ? 'bad' : problems.length ? 'warn' : 'good'}`}>
                  {problems.length === 0 ? 'no problems' : `${problems.length} to look at`}
                </span>
              )}
            </h3>
            {checkError && <p class="failure">{checkError}</p>}
            {!check && !checkError && <p class="muted">Checking…</p>}
            {check && problems.length === 0 && <p class="ok">No problems found in the subject, template and audience.</p>}
            {!audience && !keepAudienceKey && (
              <p class="muted">Choose an audience to check the merge fields against its columns and preview a real row.</p>
            )}
            <ul class="problems" aria-label="Problems">
              {problems.map((p, i) => (
                <li key={i} class={p.severity}>
                  <button type="button" class="link" disabled={p.field !== 'mjml' || !p.line} onClick={() => goToLine(p.line)}>
                    {FIELD_LABEL[p.field] ?? p.field}
                    {p.line ? ` line ${p.line}` : ''}
                  </button>
                  <span class="sev">{p.severity === 'error' ? 'Error' : 'Warning'}</span> {p.message}
                </li>
              ))}
            </ul>
          </div>
          <div class="card">
            <PreviewPane
              row={row}
              onRow={setRow}
              preview={preview}
              caption={preview?.values?.email ? `as ${preview.values.email} gets it` : undefined}
              error={previewError}
              empty={<p class="muted">The preview appears once there is a subject and a template.</p>}
            />
          </div>
        </div>
      </div>
    </form>
  );
}

function Field(props: { id: string; label: string; hint?: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && <span class="hint">{props.hint}</span>}
    </div>
  );
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
