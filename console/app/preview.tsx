import { useEffect, useState } from 'preact/hooks';
import { api, describe, enc } from './api';
import { PreviewPane } from './preview-pane';
import type { Campaign, CampaignPreview } from './types';

/** The campaign as one audience row gets it (rendered by the server), and a test send to yourself. */
export function PreviewAndTest({ campaign, local }: { campaign: Campaign; local: boolean }) {
  const [row, setRow] = useState(1);
  const [preview, setPreview] = useState<CampaignPreview | null>(null);
  const [error, setError] = useState('');
  const [to, setTo] = useState('');
  const [sending, setSending] = useState(false);
  const [result, setResult] = useState<{ text: string; bad: boolean } | null>(null);

  useEffect(() => {
    let live = true;
    api<CampaignPreview>('GET', `/campaigns/${enc(campaign.id)}/preview?row=${row}`).then(
      (p) => {
        if (!live) return;
        setPreview(p);
        setError('');
      },
      (e: unknown) => live && setError(describe(e)),
    );
    return () => {
      live = false;
    };
  }, [campaign.id, row]);

  const testSend = async (ev: Event) => {
    ev.preventDefault();
    setSending(true);
    setResult({ text: 'Sending…', bad: false });
    try {
      await api('POST', `/campaigns/${enc(campaign.id)}/test-send`, { to: to.trim() });
      setResult({
        text: `Test sent to ${to.trim()} (its subject starts with [TEST]).${local ? ' It shows in the Local inbox tab.' : ''}`,
        bad: false,
      });
    } catch (err) {
      setResult({ text: `Test not sent: ${describe(err)}`, bad: true });
    } finally {
      setSending(false);
    }
  };

  return (
    <div class="preview-tab">
      <form class="card inline-form" onSubmit={testSend}>
        <h3>Send yourself a test</h3>
        <label for="test-to">Your email address</label>
        <input
          id="test-to"
          type="email"
          required
          autocomplete="email"
          placeholder="you@example.com"
          value={to}
          onInput={(e) => setTo(e.currentTarget.value)}
        />
        <button type="submit" disabled={sending}>
          Send test
        </button>
        {result && (
          <p class={result.bad ? 'failure' : 'ok'} aria-live="polite">
            {result.text}
          </p>
        )}
      </form>
      <section class="card">
        <PreviewPane
          row={row}
          onRow={setRow}
          preview={preview}
          caption={preview ? `as row ${preview.row ?? row} of the audience gets it` : undefined}
          error={error && `No preview: ${error}`}
        />
      </section>
    </div>
  );
}
