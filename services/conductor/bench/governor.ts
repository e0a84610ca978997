/**
 * `npm run bench:governor [-- --json] [-- --only steady-4,burst-429]`: the governor simulation.
 * Every scenario runs under Baton — the real conductor core and the real worker core (runWorker),
 * on simulated ports — and under two naive baselines, on a virtual clock; see
 * services/conductor/src/sim and docs/benchmarks.md.
 */
import { SCENARIOS } from '../src/sim/scenarios';
import { STRATEGIES, simulate, type RunResult } from '../src/sim/simulate';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const onlyArg =
    args.find((a) => a.startsWith('--only='))?.slice('--only='.length) ??
    (args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined);
  const only = onlyArg?.split(',');
  const scenarios = SCENARIOS.filter((s) => !only || only.includes(s.name));
  if (scenarios.length === 0) throw new Error(`no scenario named ${onlyArg}; there are ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const results: RunResult[] = [];
  for (const scenario of scenarios) {
    for (const strategy of STRATEGIES) {
      const r = await simulate(scenario, strategy);
      results.push(r);
      if (!json) process.stderr.write(`${scenario.name} / ${strategy}: ${(r.wallMs / 1000).toFixed(1)} s\n`);
    }
  }
  if (json) {
    process.stdout.write(
      JSON.stringify({ scenarios: scenarios.map(({ name, description }) => ({ name, description })), results }, null, 2) + '\n',
    );
    return;
  }
  const rows = results.map((r) => {
    const small = r.campaigns.length > 1 ? r.campaigns.reduce((a, b) => (a.size < b.size ? a : b)) : undefined;
    return [
      r.scenario,
      r.strategy,
      r.fullWindowUsePct.toFixed(1),
      String(r.maxCalendar),
      String(r.maxSliding),
      String(r.violations),
      r.completionS.toFixed(0),
      r.idealS.toFixed(0),
      (r.vsIdealPct >= 0 ? '+' : '') + r.vsIdealPct.toFixed(1) + '%',
      small ? `${small.doneS.toFixed(0)} s (ideal ${small.idealS.toFixed(0)} s)` : '',
      // The limiter hands out keys, not permits: nothing to waste.
      r.strategy === 'sliding-limiter' ? '—' : r.wastedPermitsPct.toFixed(1),
      String(r.throttled),
      String(r.maxDay),
      String(r.limited),
      r.days ? String(r.dayViolations) : '—',
      r.zones ? String(r.early) : '—',
      String(r.inDoubt),
      String(r.duplicates),
    ];
  });
  const head = [
    'scenario',
    'strategy',
    'full windows % of cap',
    'max calendar',
    'max sliding',
    'violations',
    'done s',
    'ideal s',
    'vs ideal',
    'small campaign done',
    'permits wasted %',
    '429s',
    'max day',
    '420s',
    'over a day',
    'before local time',
    'in doubt',
    'sent twice',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
  // The calendar's figures, where a scenario has them: each day against its limit, each zone against its local time.
  for (const r of results.filter((x) => x.strategy === 'baton')) {
    if (r.days) console.log(`\n${r.scenario}: ${r.days.map((d) => `${d.day} ${d.calls}/${d.limit}`).join(', ')}`);
    if (r.zones)
      console.log(
        `\n${r.scenario}: ` +
          r.zones
            .map(
              (z) =>
                `${z.timeZone} (its local time: ${z.opensAt}) ${z.recipients}: first +${z.firstS.toFixed(1)} s, last +${z.lastS.toFixed(0)} s, early ${z.early}`,
            )
            .join('; '),
      );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
