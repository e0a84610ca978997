/**
 * The marketer's console: one page, no build step. The API token comes from the URL fragment
 * (`/#token=…`, printed at start) and is kept in sessionStorage, never sent in a URL.
 * Every value from the API is put into the page as text, never as HTML; the preview renders in
 * a sandboxed iframe.
 */
export const consoleHtml = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Baton</title>
<link rel="icon" href="data:,">
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f5f6f8; }
  body { margin: 0; }
  header { background: #1d2330; color: #fff; padding: 12px 24px; display: flex; align-items: baseline; gap: 16px; }
  header h1 { margin: 0; font-size: 20px; }
  header small { opacity: .7; }
  main { display: grid; grid-template-columns: minmax(320px, 1fr) 2fr; gap: 16px; padding: 16px 24px; }
  section { background: #fff; border-radius: 8px; padding: 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  h2 { font-size: 16px; margin: 0 0 12px; }
  .campaign { border: 1px solid #e1e4ea; border-radius: 6px; padding: 10px; margin-bottom: 8px; cursor: pointer; }
  .campaign.selected { border-color: #3a6df0; box-shadow: 0 0 0 1px #3a6df0; }
  .row { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
  .actions { margin-top: 8px; justify-content: flex-end; }
  .campaign:focus-visible { outline: 2px solid #3a6df0; outline-offset: 2px; }
  .status { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #e1e4ea; }
  .status.sending { background: #dbe6ff; } .status.done { background: #d7f5df; }
  .status.paused { background: #fff1c2; } .status.cancelled, .status.failed { background: #f9d6d6; }
  .bar { height: 8px; background: #e1e4ea; border-radius: 4px; overflow: hidden; margin-top: 8px; display: flex; }
  .bar span { display: block; height: 100%; }
  .sent { background: #2fa84f; } .failed { background: #d64545; } .doubt { background: #e0a100; } .other { background: #8a94a6; }
  button { font: inherit; border: 0; border-radius: 6px; padding: 6px 12px; cursor: pointer; background: #e1e4ea; }
  button.primary { background: #3a6df0; color: #fff; }
  button:disabled { opacity: .5; cursor: default; }
  table { border-collapse: collapse; width: 100%; font-size: 14px; }
  td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f4; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  iframe { width: 100%; height: 420px; border: 1px solid #e1e4ea; border-radius: 6px; background: #fff; }
  .muted { color: #6b7385; font-size: 13px; }
  .error { color: #b42318; }
  #token-form input { width: 320px; }
</style>
</head>
<body>
<header><h1>Baton</h1><small id="cap"></small></header>
<main>
  <section>
    <h2>Campaigns</h2>
    <div id="token-form" hidden>
      <label for="token-input">Paste the API token printed when Baton started:</label><br>
      <input id="token-input" type="password" autocomplete="off"> <button id="token-save" class="primary">Use token</button>
    </div>
    <p id="error" class="error"></p>
    <div id="campaigns"><p class="muted">Loading…</p></div>
  </section>
  <section id="detail"><p class="muted">Select a campaign.</p></section>
</main>
<script>
(function () {
  var fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('token')) { sessionStorage.setItem('batonToken', fragment.get('token')); history.replaceState(null, '', location.pathname); }
  var token = sessionStorage.getItem('batonToken') || '';
  var selected = null, hasInbox = true, cards = {}, detail = null;

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { if (k === 'text') e.textContent = attrs[k]; else if (k === 'onclick') e.onclick = attrs[k]; else e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
  function api(method, path, body) {
    return fetch('/api' + path, { method: method, headers: Object.assign({ authorization: 'Bearer ' + token }, body ? { 'content-type': 'application/json' } : {}), body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        if (r.status === 401) { document.getElementById('token-form').hidden = false; throw new Error('The API token is missing or wrong.'); }
        return r.json().then(function (j) { if (!r.ok) throw new Error(j.message || ('HTTP ' + r.status)); return j; });
      });
  }
  function showError(e) { setText(document.getElementById('error'), e.message); }
  function action(label, path, primary) {
    return el('button', { type: 'button', text: label, class: primary ? 'primary' : '', onclick: function (ev) {
      ev.stopPropagation(); ev.target.disabled = true;
      api('POST', path).then(refresh).catch(function (e) { ev.target.disabled = false; showError(e); });
    } });
  }
  function buttons(c) {
    var id = '/campaigns/' + c.id;
    if (c.status === 'draft') return [action('Send campaign', id + '/send', true)];
    if (c.status === 'sending') return [action('Pause', id + '/pause'), action('Cancel', id + '/cancel')];
    if (c.status === 'paused') return [action('Resume', id + '/resume', true), action('Cancel', id + '/cancel')];
    return [];
  }
  function bar() {
    var b = el('div', { class: 'bar', role: 'img' });
    ['sent', 'failed', 'doubt', 'other'].forEach(function (k) { b.appendChild(el('span', { class: k })); });
    return b;
  }
  function updateBar(b, k) {
    var total = Math.max(1, k.stubbed || k.total), parts = [k.sent, k.failed, k.inDoubt, k.suppressed + k.cancelled];
    for (var i = 0; i < 4; i++) b.children[i].style.width = (100 * parts[i] / total) + '%';
    b.setAttribute('aria-label', k.sent + ' sent, ' + k.failed + ' failed, ' + k.inDoubt + ' in doubt of ' + (k.stubbed || k.total));
  }

  // The list: one card per campaign, kept and updated in place (a button is never swapped under the pointer).
  function renderList(list) {
    var box = document.getElementById('campaigns');
    if (list.length === 0) { box.textContent = ''; box.appendChild(el('p', { class: 'muted', text: 'No campaigns yet. Create one with the CLI: npx baton send --help' })); return; }
    if (box.querySelector('p.muted')) box.textContent = '';
    list.forEach(function (c, i) {
      var card = cards[c.id];
      if (!card) {
        card = cards[c.id] = { root: el('div', { class: 'campaign', tabindex: '0' }), name: el('strong'), status: el('span', { class: 'status' }), summary: el('div', { class: 'muted' }), bar: bar(), actions: el('div', { class: 'row actions' }), buttonsFor: null };
        card.root.onclick = function () { selected = c.id; refresh(); };
        card.root.onkeydown = function (ev) { if (ev.key === 'Enter') { selected = c.id; refresh(); } };
        card.root.appendChild(el('div', { class: 'row' }, [card.name, card.status]));
        card.root.appendChild(card.summary);
        card.root.appendChild(card.bar);
        card.root.appendChild(card.actions);
      }
      if (box.children[i] !== card.root) box.insertBefore(card.root, box.children[i] || null);
      card.root.className = 'campaign' + (c.id === selected ? ' selected' : '');
      setText(card.name, c.name);
      setText(card.status, c.status); card.status.className = 'status ' + c.status;
      setText(card.summary, c.counts.sent + ' sent of ' + (c.counts.stubbed || c.counts.total) + ' · ' + c.subject);
      updateBar(card.bar, c.counts);
      if (card.buttonsFor !== c.status) {
        card.buttonsFor = c.status;
        card.actions.textContent = '';
        buttons(c).forEach(function (b) { card.actions.appendChild(b); });
      }
    });
    if (!selected) selected = list[0].id;
  }

  var ROWS = [['total', 'Audience rows'], ['stubbed', 'Stubbed'], ['rendered', 'Rendered'], ['sent', 'Sent'], ['failed', 'Failed'],
    ['invalid', 'Invalid rows'], ['duplicate', 'Duplicate rows'], ['suppressed', 'Suppressed'], ['inDoubt', 'In doubt'], ['cancelled', 'Cancelled'], ['inFlight', 'With a worker now']];

  // The detail panel: built once per selected campaign; each poll only changes its text.
  function buildDetail(c) {
    var d = document.getElementById('detail');
    d.textContent = '';
    var x = { id: c.id, title: el('h2'), status: el('span', { class: 'status' }), rate: el('p', { class: 'muted' }), error: el('p', { class: 'error' }), cells: {},
      problemsTitle: el('h2', { text: 'Audience problems', style: 'margin-top:16px' }), problems: el('table'), problemsCount: -1,
      frame: el('iframe', { sandbox: '', title: 'Preview of the email' }), inbox: el('div'), inboxTitle: el('h2', { text: 'Local inbox (built-in Mailgun sink)', style: 'margin-top:16px' }) };
    d.appendChild(el('div', { class: 'row' }, [x.title, x.status]));
    d.appendChild(x.rate);
    d.appendChild(x.error);
    d.appendChild(el('table', {}, ROWS.map(function (r) { x.cells[r[0]] = el('td', { class: 'n' }); return el('tr', {}, [el('td', { text: r[1] }), x.cells[r[0]]]); })));
    d.appendChild(x.problemsTitle); d.appendChild(x.problems);
    d.appendChild(el('h2', { text: 'Preview', style: 'margin-top:16px' }));
    d.appendChild(x.frame);
    d.appendChild(x.inboxTitle); d.appendChild(x.inbox);
    api('GET', '/campaigns/' + c.id + '/preview').then(function (p) { x.frame.srcdoc = p.html; }).catch(showError);
    return x;
  }
  function renderDetail(c) {
    if (!detail || detail.id !== c.id) detail = buildDetail(c);
    var x = detail, k = c.counts;
    setText(x.title, c.name);
    setText(x.status, c.status); x.status.className = 'status ' + c.status;
    setText(x.rate, c.sentLastMinute + ' sent in the last minute (cap ' + c.perMinuteMax + '/min)' + (c.etaSeconds != null ? ' · about ' + c.etaSeconds + ' s to go' : ''));
    setText(x.error, c.error ? c.error.code + ': ' + c.error.message : '');
    ROWS.forEach(function (r) { setText(x.cells[r[0]], String(k[r[0]])); });
    x.problemsTitle.hidden = x.problems.hidden = c.problems.length === 0;
    if (x.problemsCount !== c.problems.length) {
      x.problemsCount = c.problems.length;
      x.problems.textContent = '';
      c.problems.slice(0, 20).forEach(function (p) { x.problems.appendChild(el('tr', {}, [el('td', { text: 'line ' + p.line }), el('td', { text: p.kind }), el('td', { text: p.reason })])); });
    }
    x.inboxTitle.hidden = x.inbox.hidden = !hasInbox;
    if (hasInbox) {
      api('GET', '/local/inbox?campaignId=' + encodeURIComponent(c.id)).then(function (r) {
        if (detail !== x) return;
        x.inbox.textContent = '';
        x.inbox.appendChild(el('p', { class: 'muted', text: r.total + ' messages received for this campaign' + (r.total ? '; newest first:' : '.') }));
        x.inbox.appendChild(el('table', {}, r.messages.slice(0, 15).map(function (m) { return el('tr', {}, [el('td', { text: m.to }), el('td', { text: m.subject })]); })));
      }).catch(function () { hasInbox = false; x.inboxTitle.hidden = x.inbox.hidden = true; });
    }
  }
  function refresh() {
    return api('GET', '/campaigns').then(function (r) {
      setText(document.getElementById('error'), '');
      renderList(r.campaigns);
      var c = r.campaigns.filter(function (x) { return x.id === selected; })[0];
      if (c) { renderDetail(c); setText(document.getElementById('cap'), 'cap ' + c.perMinuteMax + ' per minute'); }
    }).catch(showError);
  }
  document.getElementById('token-save').onclick = function () {
    token = document.getElementById('token-input').value.trim();
    sessionStorage.setItem('batonToken', token);
    document.getElementById('token-form').hidden = true;
    refresh();
  };
  refresh();
  setInterval(refresh, 1000);
})();
</script>
</body>
</html>
`;
