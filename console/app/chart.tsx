import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { api, describe, enc } from './api';
import { usePoll } from './hooks';
import type { Campaign, Rate } from './types';

const WINDOWS = [5, 15, 60] as const;

/** "Since it started": the minutes from the send (or creation) to now, within 1–60. */
export function minutesSince(c: Campaign, now: number): number {
  const start = Date.parse(c.sendRequestedAt ?? c.createdAt);
  const elapsed = Number.isNaN(start) ? 5 : Math.ceil((now - start) / 60_000);
  return Math.min(60, Math.max(1, elapsed));
}

/**
 * Sends per bucket (the governor's window) for this campaign and for every campaign on its
 * sending domain, against the cap and the cap after push-back (GET /api/campaigns/:id/rate).
 */
export function RateChart({ campaign }: { campaign: Campaign }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [choice, setChoice] = useState<number | 'auto'>('auto');
  const minutes = choice === 'auto' ? minutesSince(campaign, Date.now()) : choice;
  const [rate, setRate] = useState<Rate | null>(null);
  const [error, setError] = useState('');
  const live = campaign.status === 'sending' || campaign.status === 'paused';

  usePoll(
    async (alive) => {
      try {
        const r = await api<Rate>('GET', `/campaigns/${enc(campaign.id)}/rate?minutes=${minutes}`);
        if (!alive()) return;
        setRate(r);
        setError('');
      } catch (err) {
        if (alive()) setError(describe(err));
      }
    },
    live ? 2000 : 15000,
    [campaign.id, minutes, live],
  );

  useEffect(() => {
    const el = box.current;
    if (!el || !rate) return;
    // Each bar ends where its bucket ends: the bucket under way is drawn up to now, inside the chart.
    const data: uPlot.AlignedData = [
      rate.points.map((p) => (Date.parse(p.t) + rate.bucketMs) / 1000),
      rate.points.map((p) => p.domainSent),
      rate.points.map((p) => p.sent),
      rate.points.map((p) => p.cap),
      rate.points.map((p) => p.effectiveCap),
    ];
    if (plot.current) {
      plot.current.setData(data);
      return;
    }
    const stepped = uPlot.paths.stepped!({ align: -1 });
    const bars = uPlot.paths.bars!({ size: [0.8, 40], align: -1 });
    plot.current = new uPlot(
      {
        width: Math.max(300, el.clientWidth),
        height: 240,
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.15] } },
        axes: [{}, { label: `sends per ${describeBucket(rate.bucketMs)}`, size: 60 }],
        series: [
          {},
          { label: 'All campaigns on the domain', stroke: '#8a94a6', fill: 'rgba(138,148,166,.18)', paths: bars, points: { show: false } },
          { label: 'This campaign', stroke: '#2b5bd7', fill: 'rgba(43,91,215,.55)', paths: bars, points: { show: false } },
          { label: 'Cap', stroke: '#b42318', width: 2, paths: stepped, points: { show: false } },
          { label: 'Cap after push-back', stroke: '#e0a100', width: 2, dash: [6, 4], paths: stepped, points: { show: false } },
        ],
      },
      data,
      el,
    );
  }, [rate]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const observer = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(300, el.clientWidth), height: 240 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  return (
    <section class="card chart-card" aria-label="Sends against the cap">
      <div class="row">
        <h3>Sends against the cap{rate ? ` (${rate.cap.text})` : ''}</h3>
        <label class="inline-label">
          Period{' '}
          <select
            value={String(choice)}
            onChange={(e) => setChoice(e.currentTarget.value === 'auto' ? 'auto' : Number(e.currentTarget.value))}
          >
            <option value="auto">since it started</option>
            {WINDOWS.map((m) => (
              <option key={m} value={m}>
                last {m} minutes
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && <p class="failure">No chart: {error}</p>}
      <div ref={box} class="chart" role="img" aria-label={chartSummary(rate)} />
    </section>
  );
}

function describeBucket(ms: number): string {
  if (ms === 60_000) return 'minute';
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** The chart in words, for screen readers and tests: the last bucket's figures. */
function chartSummary(rate: Rate | null): string {
  const last = rate?.points[rate.points.length - 1];
  if (!rate || !last) return 'No sends yet';
  const total = rate.points.reduce((n, p) => n + p.sent, 0);
  return `${total} sent by this campaign in the chart's period; last ${describeBucket(rate.bucketMs)}: ${last.sent} of ${last.domainSent} on the domain, cap ${last.cap}, after push-back ${last.effectiveCap}`;
}
