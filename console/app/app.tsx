import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api, describe, onUnauthorised, takeTokenFromUrl, token } from './api';
import { CampaignPanel } from './campaign';
import { CampaignListView } from './campaign-list';
import { Editor } from './editor';
import { usePoll } from './hooks';
import type { CampaignList, Definition, Setup } from './types';

type View = { kind: 'campaign'; id: string | null } | { kind: 'new'; from?: Definition; fromName?: string };

/** The whole page: header, token form or campaign list with the selected campaign (or the editor). */
export function App() {
  const [needToken, setNeedToken] = useState(
    token.get() === '' ? 'Baton needs its API token: open the link printed when it started, or paste the token here.' : '',
  );
  const [setup, setSetup] = useState<Setup | null>(null);
  const [list, setList] = useState<CampaignList | null>(null);
  const [error, setError] = useState('');
  const [updated, setUpdated] = useState('');
  const [view, setView] = useState<View>({ kind: 'campaign', id: null });

  useEffect(() => onUnauthorised((message) => setNeedToken(message)), []);
  useEffect(() => {
    // The start link opened again in this tab: a new token in the fragment, without a reload.
    const onHash = () => {
      if (takeTokenFromUrl()) setNeedToken('');
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const refresh = useCallback(
    async (alive: () => boolean = () => true) => {
      if (needToken) return;
      try {
        const [next, maybeSetup] = await Promise.all([
          api<CampaignList>('GET', '/campaigns'),
          setup
            ? Promise.resolve(setup)
            : api<Setup>('GET', '/setup').catch((e: unknown) => (e instanceof ApiError && e.status === 404 ? null : Promise.reject(e))),
        ]);
        if (!alive()) return;
        setList(next);
        if (maybeSetup && !setup) setSetup(maybeSetup);
        setError('');
        setUpdated(`Updated ${new Date().toLocaleTimeString()}`);
      } catch (err) {
        if (!alive() || (err instanceof ApiError && err.status === 401)) return;
        setError(describe(err));
        setUpdated('Not up to date');
      }
    },
    [needToken, setup],
  );

  usePoll(refresh, 1000, [needToken, setup]);

  const campaigns = list?.campaigns ?? [];
  const selectedId = view.kind === 'campaign' ? (view.id ?? campaigns[0]?.id ?? null) : null;
  const selected = campaigns.find((c) => c.id === selectedId);

  return (
    <>
      <header class="top">
        <span class="brand">Baton</span>
        {setup && <span class="stage">{setup.stage}</span>}
        {setup && (
          <span class="cap" title="The most Baton sends through one sending domain: the same figure as the CLI and /metrics">
            Cap: {setup.cap.text}
            {setup.sendingDomains.length > 1 ? ` via ${setup.sendingDomains[0]}` : ''}
          </span>
        )}
        <span class="live" aria-live="off">
          {updated}
        </span>
      </header>
      {error && (
        <p class="banner" role="alert">
          {error}
        </p>
      )}
      {list?.damaged && list.damaged.length > 0 && (
        <p class="banner" role="status">
          Campaigns that cannot be read (an operator should look):{' '}
          {list.damaged.map((d) => `${d.campaignId} of ${d.customerId} (${d.key}: ${d.reason})`).join('; ')}
        </p>
      )}
      {needToken ? (
        <TokenForm
          message={needToken}
          onToken={(value) => {
            token.set(value);
            setNeedToken('');
            setError('');
          }}
        />
      ) : (
        <main class="layout">
          <aside class="sidebar" aria-label="Campaigns">
            <div class="sidebar-head">
              <h2>Campaigns</h2>
              <button type="button" class="primary" onClick={() => setView({ kind: 'new' })}>
                New campaign
              </button>
            </div>
            <CampaignListView
              campaigns={list ? campaigns : null}
              selected={selectedId}
              onSelect={(id) => setView({ kind: 'campaign', id })}
            />
          </aside>
          <section class="content">
            {view.kind === 'new' ? (
              <Editor
                key={view.fromName ?? 'new'}
                setup={setup}
                from={view.from}
                fromName={view.fromName}
                onCreated={(id) => {
                  setView({ kind: 'campaign', id });
                  void refresh();
                }}
                onClose={() => setView({ kind: 'campaign', id: null })}
              />
            ) : selected ? (
              <CampaignPanel
                key={selected.id}
                campaign={selected}
                setup={setup}
                refresh={() => refresh()}
                onClone={(from) => setView({ kind: 'new', from, fromName: selected.name })}
                onDeleted={() => {
                  setView({ kind: 'campaign', id: null });
                  void refresh();
                }}
              />
            ) : list ? (
              <div class="empty">
                <h2>No campaign selected</h2>
                <p>Click New campaign to write one, or pick one from the list.</p>
              </div>
            ) : (
              <p class="muted">Loading…</p>
            )}
          </section>
        </main>
      )}
    </>
  );
}

function TokenForm({ message, onToken }: { message: string; onToken: (token: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      class="card token-form"
      onSubmit={(ev) => {
        ev.preventDefault();
        if (value.trim()) onToken(value.trim());
      }}
    >
      <p role="alert" class="banner inline">
        {message}
      </p>
      <label for="token-input">API token</label>
      <p class="muted">
        The part after <code>#token=</code> in the link printed when Baton started, or the value of <code>BATON_API_TOKEN</code>.
      </p>
      <div class="row">
        <input
          id="token-input"
          type="password"
          autocomplete="off"
          required
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
        <button type="submit" class="primary">
          Use token
        </button>
      </div>
    </form>
  );
}
