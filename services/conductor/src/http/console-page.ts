/**
 * The marketer's console: one page, no build step, no dependencies. The API token comes from the
 * URL fragment (`/#token=…`, printed at start) and is kept in sessionStorage, never sent in a URL.
 * Every value from the API is put into the page as text (textContent), never as HTML; the preview
 * renders in a sandboxed iframe (no scripts, no same origin).
 *
 * It polls `GET /api/campaigns` once a second (the next poll starts when the last one ended). The
 * campaign cards and the detail panel are built once and then only their text changes, so nothing
 * flickers, buttons are not swapped under the pointer and the preview iframe loads once per
 * campaign. Note: this file is a template literal; the script below uses no backticks, no
 * dollar-brace and no backslashes.
 */
export const consoleHtml = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Baton</title>
<link rel="icon" href="data:,">
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f5f6f8; line-height: 1.4; }
  body { margin: 0; }
  header { background: #1d2330; color: #fff; padding: 12px 24px; display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
  header h1 { margin: 0; font-size: 20px; }
  header .info { color: #c9cedb; font-size: 14px; }
  header .live { margin-left: auto; color: #c9cedb; font-size: 13px; }
  main { display: grid; grid-template-columns: minmax(300px, 1fr) 2fr; gap: 16px; padding: 16px 24px; align-items: start; }
  @media (max-width: 860px) { main { grid-template-columns: 1fr; padding: 12px; } }
  section { background: #fff; border-radius: 8px; padding: 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); min-width: 0; }
  h2 { font-size: 18px; margin: 0; }
  h3 { font-size: 15px; margin: 24px 0 8px; }
  p { margin: 8px 0; }
  .banner { margin: 16px 24px 0; padding: 10px 14px; border-radius: 6px; background: #fdecea; color: #8a1c13; }
  .banner:empty { display: none; }
  #token-form { margin: 16px 24px 0; }
  #token-form input { width: min(420px, 100%); font: inherit; padding: 6px 8px; border: 1px solid #8a94a6; border-radius: 6px; }
  .campaign { display: block; width: 100%; text-align: left; border: 1px solid #d5d9e1; border-radius: 6px; padding: 10px; margin-bottom: 8px; background: #fff; color: inherit; }
  .campaign[aria-current="true"] { border-color: #2b5bd7; box-shadow: 0 0 0 1px #2b5bd7; background: #f7f9ff; }
  .campaign .line { display: block; }
  .row { display: flex; justify-content: space-between; align-items: center; gap: 8px; flex-wrap: wrap; }
  .status { display: inline-block; font-size: 12px; font-weight: 600; padding: 2px 8px; border-radius: 10px; background: #e1e4ea; white-space: nowrap; }
  .status.sending { background: #dbe6ff; } .status.done { background: #d7f5df; }
  .status.paused, .status.scheduled { background: #fff1c2; } .status.cancelled, .status.failed { background: #f9d6d6; }
  .bar { height: 10px; background: #e1e4ea; border-radius: 5px; overflow: hidden; margin-top: 8px; display: flex; }
  .bar span { display: block; height: 100%; transition: width .4s; }
  .sent { background: #2fa84f; } .failed { background: #d64545; } .doubt { background: #e0a100; } .other { background: #8a94a6; }
  .legend { display: flex; gap: 16px; flex-wrap: wrap; font-size: 13px; margin: 6px 0; }
  .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
  .big { font-size: 22px; font-weight: 600; margin: 12px 0 0; font-variant-numeric: tabular-nums; }
  .actions { display: flex; gap: 8px; flex-wrap: wrap; margin: 12px 0; }
  button { font: inherit; border: 0; border-radius: 6px; padding: 7px 14px; cursor: pointer; background: #e1e4ea; color: #1d2330; }
  button:hover:not(:disabled) { filter: brightness(.95); }
  button.primary { background: #2b5bd7; color: #fff; }
  button.danger { background: #fff; color: #b42318; box-shadow: inset 0 0 0 1px #b42318; }
  button:disabled { opacity: .55; cursor: default; }
  :focus-visible { outline: 2px solid #2b5bd7; outline-offset: 2px; }
  .note { background: #f1f4fa; border-radius: 6px; padding: 8px 12px; }
  .failure { background: #fdecea; color: #8a1c13; border-radius: 6px; padding: 8px 12px; }
  dl.counts { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 8px; margin: 12px 0 0; }
  dl.counts div { border: 1px solid #e1e4ea; border-radius: 6px; padding: 6px 10px; }
  dl.counts dt { font-size: 12px; color: #5b6376; }
  dl.counts dd { margin: 0; font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
  details { font-size: 13px; color: #5b6376; margin-top: 8px; }
  details ul { margin: 6px 0; padding-left: 20px; }
  table { border-collapse: collapse; width: 100%; font-size: 14px; }
  td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f4; vertical-align: top; overflow-wrap: anywhere; }
  th, td.short { white-space: nowrap; overflow-wrap: normal; }
  th { font-size: 12px; color: #5b6376; font-weight: 600; }
  iframe { width: 100%; height: 460px; border: 1px solid #e1e4ea; border-radius: 6px; background: #fff; }
  form.inline { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
  form.inline input { font: inherit; padding: 6px 8px; border: 1px solid #8a94a6; border-radius: 6px; width: min(280px, 100%); }
  .muted { color: #5b6376; font-size: 13px; }
  .ok { color: #1d6b33; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header><h1>Baton</h1><span id="cap" class="info"></span><span id="live" class="live" aria-live="off"></span></header>
<p id="error" class="banner" role="alert"></p>
<p id="damaged" class="banner" role="status" hidden></p>
<form id="token-form" hidden>
  <label for="token-input"><strong>API token</strong>: paste the token printed when Baton started (the part after <code>#token=</code> in the link), or the one set in <code>BATON_API_TOKEN</code>.</label><br>
  <input id="token-input" type="password" autocomplete="off" required> <button type="submit" class="primary">Use token</button>
</form>
<main id="app">
  <section aria-labelledby="campaigns-title">
    <h2 id="campaigns-title" style="margin-bottom:12px">Campaigns</h2>
    <div id="campaigns"><p class="muted">Loading…</p></div>
  </section>
  <section id="detail"><p class="muted">Select a campaign.</p></section>
</main>
<script>
(function () {
  'use strict';
  var fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('token')) sessionStorage.setItem('batonToken', fragment.get('token'));
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  var token = sessionStorage.getItem('batonToken') || '';

  var list = [];          // the last campaign list from the API
  var selected = null;    // id of the campaign in the detail panel
  var cards = {};         // id -> the parts of its card
  var detail = null;      // the parts of the detail panel, for one campaign
  var hasInbox = true;    // the local inbox route exists (only with the built-in Mailgun sink)
  var busy = false;       // an action (send, pause…) is on its way
  var stickyUntil = 0;    // an action's error stays up until then, whatever the polls say
  var asked = 0, applied = 0;

  var STATUS = { draft: 'Draft', scheduled: 'Scheduled', sending: 'Sending', paused: 'Paused', done: 'Done', cancelled: 'Cancelled', failed: 'Failed' };
  var COUNTS = [
    ['total', 'Audience rows'], ['invalid', 'Invalid rows'], ['duplicate', 'Duplicate rows'], ['stubbed', 'Recipients'],
    ['rendered', 'Rendered'], ['queued', 'Waiting to send'], ['retrying', 'Waiting to retry'], ['inFlight', 'With a worker now'],
    ['sent', 'Sent'], ['failed', 'Failed'], ['inDoubt', 'In doubt'], ['notAccepted', 'Not accepted by the provider'],
    ['suppressed', 'Suppressed'], ['cancelled', 'Cancelled']];
  var MEANINGS = [
    'Audience rows: rows in the audience file. Invalid and duplicate rows are skipped; the reasons are listed under Audience problems.',
    'Recipients: valid, unique addresses this campaign goes to.',
    'Rendered: personalised emails ready to go. Sending starts before all are rendered.',
    'With a worker now: being handed to the mail provider at this moment.',
    'Sent: accepted by the mail provider. Failed: refused by it (the provider said why).',
    'In doubt: the provider may or may not have taken it (for example after a timeout). Baton never resends these by itself, so nobody gets the email twice.',
    'Suppressed: the address unsubscribed earlier, so it was skipped. Cancelled: not sent because the campaign was cancelled.'];

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'onclick' || k === 'onsubmit') e[k] = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function setText(node, text) { text = String(text); if (node.textContent !== text) node.textContent = text; }
  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }
  function duration(s) {
    if (s < 60) return Math.max(1, Math.round(s)) + ' s';
    if (s < 3600) { var m = Math.floor(s / 60), r = Math.round(s % 60); return m + ' min' + (r ? ' ' + r + ' s' : ''); }
    return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
  }
  function clock(iso) { var d = new Date(iso); return isNaN(d) ? '' : d.toLocaleTimeString(); }
  function current() { return list.filter(function (c) { return c.id === selected; })[0]; }

  function showError(message, sticky) {
    if (sticky) stickyUntil = Date.now() + 15000;
    else if (!message && Date.now() < stickyUntil) return;
    setText($('error'), message || '');
  }
  function askForToken(message) {
    var form = $('token-form');
    if (form.hidden) { form.hidden = false; $('app').hidden = true; $('token-input').focus(); }
    setText($('live'), '');
    showError(message);
  }
  function api(method, path, body) {
    var headers = { authorization: 'Bearer ' + token };
    if (body) headers['content-type'] = 'application/json';
    return fetch('/api' + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .catch(function () { throw new Error('Cannot reach Baton. Is it still running? (retrying every second)'); })
      .then(function (r) {
        return r.text().then(function (t) {
          var j = {};
          try { j = t ? JSON.parse(t) : {}; } catch (e) { /* not JSON: use the status below */ }
          if (r.ok) return j;
          var err = new Error(r.status === 401 ? 'Baton did not accept this API token.' : (j.message || ('The server answered HTTP ' + r.status + '.')));
          err.status = r.status;
          if (r.status === 401) askForToken(err.message);
          throw err;
        });
      });
  }

  function makeBar() {
    var b = el('span', { class: 'bar', 'aria-hidden': 'true' });
    ['sent', 'failed', 'doubt', 'other'].forEach(function (k) { b.appendChild(el('span', { class: k })); });
    return b;
  }
  function updateBar(b, k) {
    var total = Math.max(1, k.stubbed), parts = [k.sent, k.failed, k.inDoubt, k.suppressed + k.cancelled];
    for (var i = 0; i < 4; i++) b.children[i].style.width = Math.min(100, 100 * parts[i] / total) + '%';
  }
  /** One line for a card or the panel: where the campaign stands. */
  function progress(c) {
    var k = c.counts;
    if (c.status === 'draft') return 'Not sent yet';
    if (k.total === 0 && k.stubbed === 0) return c.status === 'failed' ? 'Stopped before sending' : 'Reading the audience…';
    if (k.total === 0) return 'Reading the audience… ' + plural(k.stubbed, 'recipient', 'recipients') + ' so far';
    return k.sent + ' of ' + plural(k.stubbed, 'recipient', 'recipients') + ' sent' + (k.stubbed ? ' (' + Math.floor(100 * k.sent / k.stubbed) + '%)' : '');
  }

  // ---- the list: one card per campaign, kept and updated in place ---------------------------
  function renderList() {
    var box = $('campaigns');
    if (list.length === 0) {
      box.textContent = ''; cards = {};
      box.appendChild(el('p', { class: 'muted', text: 'No campaigns yet. Create one with the CLI: npx baton send --help' }));
      return;
    }
    if (box.querySelector('p')) box.textContent = '';
    var seen = {};
    list.forEach(function (c, i) {
      seen[c.id] = true;
      var card = cards[c.id];
      if (!card) {
        card = cards[c.id] = { root: el('button', { type: 'button', class: 'campaign' }), name: el('strong'), status: el('span', { class: 'status' }),
          progress: el('span', { class: 'line muted' }), subject: el('span', { class: 'line muted' }), bar: makeBar() };
        card.root.onclick = function () { select(c.id); };
        card.root.appendChild(el('span', { class: 'row' }, [card.name, card.status]));
        card.root.appendChild(card.subject);
        card.root.appendChild(card.progress);
        card.root.appendChild(card.bar);
      }
      if (box.children[i] !== card.root) box.insertBefore(card.root, box.children[i] || null);
      card.root.setAttribute('aria-current', c.id === selected ? 'true' : 'false');
      setText(card.name, c.name);
      setText(card.status, STATUS[c.status] || c.status); card.status.className = 'status ' + c.status;
      setText(card.subject, 'Subject: ' + c.subject);
      setText(card.progress, progress(c));
      card.bar.hidden = c.status === 'draft';
      updateBar(card.bar, c.counts);
    });
    Object.keys(cards).forEach(function (id) { if (!seen[id]) { cards[id].root.remove(); delete cards[id]; } });
  }
  function select(id) {
    if (selected === id) return;
    selected = id;
    renderList(); renderDetail(); refreshInbox();
  }

  // ---- the detail panel: built once per selected campaign; each poll only changes its text ----
  function buildDetail(c) {
    var box = $('detail');
    box.textContent = '';
    var x = { id: c.id, title: el('h2'), status: el('span', { class: 'status' }), subject: el('p', { class: 'muted' }),
      failure: el('p', { class: 'failure' }), attention: el('p', { class: 'failure', role: 'status' }), complaints: el('p', { class: 'failure', role: 'status' }), note: el('p', { class: 'note' }), big: el('p', { class: 'big' }), bar: makeBar(),
      legend: el('p', { class: 'legend' }), legendCells: {}, rate: el('p', { class: 'muted' }), buttons: {}, counts: el('dl', { class: 'counts' }), cells: {},
      problemsTitle: el('h3', { text: 'Audience problems' }), problemsNote: el('p', { class: 'muted' }), problems: el('table'), problemsKey: null,
      previewSubject: el('p', { class: 'muted', text: 'Loading the preview…' }), frame: el('iframe', { sandbox: '', title: 'Preview of the email' }),
      testResult: el('p', { class: 'muted', 'aria-live': 'polite' }),
      inbox: el('div'), inboxNote: el('p', { class: 'muted', text: 'Loading…' }), inboxRows: el('tbody'), inboxKey: null };
    box.appendChild(el('div', { class: 'row' }, [x.title, x.status]));
    box.appendChild(x.subject);
    box.appendChild(x.failure);
    box.appendChild(x.attention);
    box.appendChild(x.complaints);

    [['send', 'Send campaign', 'primary'], ['pause', 'Pause', ''], ['resume', 'Resume', 'primary'], ['cancel', 'Cancel campaign', 'danger']].forEach(function (b) {
      x.buttons[b[0]] = el('button', { type: 'button', class: b[2], text: b[1], onclick: function () { act(b[0]); } });
    });
    box.appendChild(el('div', { class: 'actions' }, [x.buttons.send, x.buttons.pause, x.buttons.resume, x.buttons.cancel]));
    box.appendChild(x.note);

    x.progressBox = el('div', {}, [x.big, x.bar, x.legend, x.rate]);
    box.appendChild(x.progressBox);
    [['sent', 'sent'], ['failed', 'failed'], ['doubt', 'in doubt'], ['other', 'skipped (suppressed or cancelled)']].forEach(function (p) {
      x.legendCells[p[0]] = el('span');
      x.legend.appendChild(el('span', {}, [el('i', { class: p[0] }), x.legendCells[p[0]], ' ' + p[1]]));
    });
    COUNTS.forEach(function (r) { x.cells[r[0]] = el('dd'); x.counts.appendChild(el('div', {}, [el('dt', { text: r[1] }), x.cells[r[0]]])); });
    x.countsBox = el('div', {}, [x.counts, el('details', {}, [el('summary', { text: 'What do these numbers mean?' }),
      el('ul', {}, MEANINGS.map(function (m) { return el('li', { text: m }); }))])]);
    box.appendChild(x.countsBox);
    x.problemsBox = el('div', {}, [x.problemsTitle, x.problemsNote, x.problems]);
    box.appendChild(x.problemsBox);

    box.appendChild(el('h3', { text: 'Preview' }));
    box.appendChild(x.previewSubject);
    box.appendChild(x.frame);

    var input = el('input', { id: 'test-to', type: 'email', required: '', autocomplete: 'email', placeholder: 'you@example.com' });
    var testButton = el('button', { type: 'submit', text: 'Send test' });
    box.appendChild(el('h3', { text: 'Send yourself a test' }));
    box.appendChild(el('form', { class: 'inline', onsubmit: function (ev) {
      ev.preventDefault();
      var to = input.value.trim();
      testButton.disabled = true; setText(x.testResult, 'Sending…'); x.testResult.className = 'muted';
      api('POST', '/campaigns/' + encodeURIComponent(x.id) + '/test-send', { to: to }).then(function () {
        setText(x.testResult, 'Test sent to ' + to + ' (subject starts with [TEST]).' + (hasInbox ? ' It shows in the local inbox below.' : ''));
        x.testResult.className = 'ok'; refreshInbox();
      }, function (e) { setText(x.testResult, 'Test not sent: ' + e.message); x.testResult.className = 'failure'; }).then(function () { testButton.disabled = false; });
    } }, [el('label', { for: 'test-to', text: 'Your email address' }), input, testButton]));
    box.appendChild(x.testResult);

    x.inbox.appendChild(el('h3', { text: 'Local inbox' }));
    x.inbox.appendChild(el('p', { class: 'muted', text: "What Baton's built-in stand-in for Mailgun received for this campaign; nothing leaves this machine." }));
    x.inbox.appendChild(x.inboxNote);
    x.inbox.appendChild(el('table', {}, [el('thead', {}, [el('tr', {}, [el('th', { text: 'To' }), el('th', { text: 'Subject' }), el('th', { text: 'Received' })])]), x.inboxRows]));
    box.appendChild(x.inbox);

    api('GET', '/campaigns/' + encodeURIComponent(c.id) + '/preview').then(function (p) {
      if (detail !== x) return;
      setText(x.previewSubject, 'Subject: ' + p.subject + ' (as the first recipient of the audience will see it)');
      x.frame.srcdoc = p.html;
    }, function (e) { if (detail === x) setText(x.previewSubject, 'No preview: ' + e.message); });
    return x;
  }

  function renderDetail() {
    var c = current();
    if (!c) { if (detail) { detail = null; $('detail').textContent = ''; $('detail').appendChild(el('p', { class: 'muted', text: 'Select a campaign.' })); } return; }
    if (!detail || detail.id !== c.id) detail = buildDetail(c);
    var x = detail, k = c.counts, s = c.status, sending = s === 'sending', live = sending || s === 'paused';
    setText(x.title, c.name);
    setText(x.status, STATUS[s] || s); x.status.className = 'status ' + s;
    setText(x.subject, 'Subject: ' + c.subject + ' · created ' + new Date(c.createdAt).toLocaleString());
    x.failure.hidden = !c.error;
    setText(x.failure, c.error ? 'This campaign failed: ' + c.error.message + ' (' + c.error.code + ')' : '');
    var attention = c.attention || [];
    x.attention.hidden = attention.length === 0;
    setText(x.attention, attention.length === 0 ? '' : 'Needs attention: ' + attention.map(function (a) { return a.key + ' cannot be read (' + a.reason + ')'; }).join('; ') +
      '. The rest of the campaign goes on; nobody is sent twice.');
    var complaintWarning = c.complaints && c.complaints.warning;
    x.complaints.hidden = !complaintWarning;
    setText(x.complaints, complaintWarning ? 'Spam complaints: ' + complaintWarning + '. Complainers are suppressed; check who this campaign went to.' : '');

    x.buttons.send.hidden = s !== 'draft' && s !== 'scheduled';
    x.buttons.pause.hidden = !sending;
    x.buttons.resume.hidden = s !== 'paused';
    x.buttons.cancel.hidden = !(s === 'draft' || s === 'scheduled' || live);
    Object.keys(x.buttons).forEach(function (b) { x.buttons[b].disabled = busy; });

    var note = '';
    if (s === 'draft') note = 'Not sent yet. Check the preview below and send yourself a test, then click Send campaign. The audience file is read when sending starts.';
    else if (s === 'paused') note = 'Paused: nothing more goes out until you click Resume.';
    else if (c.waiting) note = c.waiting.message + (s === 'scheduled' ? ' (' + new Date(c.waiting.until).toLocaleString() + ' here). Click Send campaign to start now.' : '.');
    else if (s === 'cancelled') note = c.finishedAt ? 'Cancelled at ' + clock(c.finishedAt) + '. Nobody else will get this email.' : 'Cancelled: nobody else will get this email; the sends already with a worker are finishing.';
    else if (s === 'done') note = 'Finished' + (c.finishedAt ? ' at ' + clock(c.finishedAt) : '') + '.' + (k.inDoubt ? ' ' + plural(k.inDoubt, 'recipient is', 'recipients are') + ' in doubt: Baton asks the mail provider about them and never resends them on its own (baton recipients ' + c.id + ' --status in-doubt lists them).' : '') + (k.notAccepted ? ' The provider never took ' + plural(k.notAccepted, 'recipient', 'recipients') + ': POST /api/campaigns/' + c.id + '/resend sends to them again.' : '');
    x.note.hidden = !note;
    setText(x.note, note);

    x.progressBox.hidden = x.countsBox.hidden = s === 'draft';
    setText(x.big, progress(c));
    updateBar(x.bar, k);
    setText(x.legendCells.sent, k.sent); setText(x.legendCells.failed, k.failed);
    setText(x.legendCells.doubt, k.inDoubt); setText(x.legendCells.other, k.suppressed + k.cancelled);
    var rate = 'Sent in the last minute: ' + c.sentLastMinute + ' (cap ' + c.perMinuteMax + ' per minute via ' + c.sendingDomain + ')';
    if (c.effectivePerMinute < c.perMinuteMax) rate += ' · the provider pushed back: sending at up to ' + c.effectivePerMinute + ' per minute for now';
    if (sending) {
      if (c.etaSeconds === 0) rate += ' · finishing';
      else if (c.etaSeconds != null && c.sentLastMinute > 0) rate += ' · about ' + duration(c.etaSeconds) + ' left';
      else rate += ' · estimating the time left…';
    }
    x.rate.hidden = !(live || c.sentLastMinute > 0);
    setText(x.rate, rate);
    COUNTS.forEach(function (r) { setText(x.cells[r[0]], k[r[0]]); });

    var pkey = JSON.stringify(c.problems);
    x.problemsBox.hidden = c.problems.length === 0;
    if (x.problemsKey !== pkey) {
      x.problemsKey = pkey;
      var shown = c.problems.slice(0, 20), more = k.invalid + k.duplicate - shown.length;
      setText(x.problemsNote, plural(k.invalid, 'invalid row', 'invalid rows') + ' and ' + plural(k.duplicate, 'duplicate', 'duplicates') + ' were skipped' + (more > 0 ? '; the first ' + shown.length + ' are listed.' : '.'));
      x.problems.textContent = '';
      x.problems.appendChild(el('thead', {}, [el('tr', {}, [el('th', { text: 'Line' }), el('th', { text: 'Problem' }), el('th', { text: 'Reason' })])]));
      x.problems.appendChild(el('tbody', {}, shown.map(function (p) { return el('tr', {}, [el('td', { class: 'short', text: p.line }), el('td', { class: 'short', text: p.kind }), el('td', { text: p.reason })]); })));
    }
    x.inbox.hidden = !hasInbox;
  }

  function refreshInbox() {
    var x = detail;
    if (!x || !hasInbox) return Promise.resolve();
    return api('GET', '/local/inbox?campaignId=' + encodeURIComponent(x.id)).then(function (r) {
      if (detail !== x) return;
      var key = r.total + ' ' + (r.messages[0] ? r.messages[0].id : '');
      if (x.inboxKey === key) return;
      x.inboxKey = key;
      setText(x.inboxNote, r.total === 0 ? 'No messages yet.' : plural(r.total, 'message', 'messages') + ' received' + (r.total > 15 ? '; the newest 15:' : ', newest first:'));
      x.inboxRows.textContent = '';
      r.messages.slice(0, 15).forEach(function (m) {
        x.inboxRows.appendChild(el('tr', {}, [el('td', { text: m.to }), el('td', { text: m.subject }), el('td', { class: 'short', text: clock(m.receivedAt) })]));
      });
    }, function (e) {
      if (e.status === 404) { hasInbox = false; if (detail) detail.inbox.hidden = true; return; }
      throw e;
    });
  }

  function act(what) {
    var c = current();
    if (!c || busy) return;
    var ask = {
      send: 'Send "' + c.name + '" now? Everyone in its audience will get this email.',
      cancel: 'Cancel "' + c.name + '"? People not sent to yet will not get it. This cannot be undone.',
    }[what];
    if (ask && !window.confirm(ask)) return;
    busy = true; renderDetail();
    api('POST', '/campaigns/' + encodeURIComponent(c.id) + '/' + what)
      .then(function () { stickyUntil = 0; showError(''); return refresh(); }, function (e) { showError('Could not ' + what + ' "' + c.name + '": ' + e.message, true); })
      .then(function () { busy = false; renderDetail(); });
  }

  function refresh() {
    if (!token) { askForToken('Baton needs its API token: open the link printed when it started, or paste the token here.'); return Promise.resolve(); }
    var mine = ++asked;
    return api('GET', '/campaigns').then(function (r) {
      if (mine < applied) return;   // an older answer that arrived late
      applied = mine;
      list = r.campaigns;
      var damaged = r.damaged || [];
      $('damaged').hidden = damaged.length === 0;
      setText($('damaged'), damaged.length === 0 ? '' : 'Campaigns that cannot be read (an operator should look): ' +
        damaged.map(function (d) { return d.campaignId + ' of ' + d.customerId + ' (' + d.key + ': ' + d.reason + ')'; }).join('; '));
      if (!selected || !current()) selected = list.length ? list[0].id : null;
      renderList(); renderDetail();
      if (list[0]) setText($('cap'), 'Cap: ' + list[0].perMinuteMax + ' emails per minute');
      return refreshInbox().then(function () { showError(''); setText($('live'), 'Updated ' + new Date().toLocaleTimeString()); });
    }).catch(function (e) {
      if (e.status === 401) return;
      showError(e.message);
      setText($('live'), 'Not up to date');
    });
  }
  function poll() {
    var next = function () { setTimeout(poll, 1000); };
    if (!$('token-form').hidden) return next();
    refresh().then(next, next);
  }

  $('token-form').onsubmit = function (ev) {
    ev.preventDefault();
    token = $('token-input').value.trim();
    if (!token) return;
    sessionStorage.setItem('batonToken', token);
    $('token-input').value = '';
    $('token-form').hidden = true; $('app').hidden = false;
    showError('');
    refresh();
  };
  poll();
})();
</script>
</body>
</html>
`;
