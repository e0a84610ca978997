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
  .status { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #e1e4ea; }
  .status.sending { background: #dbe6ff; } .status.done { background: #d7f5df; }
  .status.paused { background: #fff1c2; } .status.cancelled { background: #f9d6d6; }
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
      <p>Paste the API token printed when Baton started:</p>
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
  var selected = null, previewFor = null, hasInbox = true;

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { if (k === 'text') e.textContent = attrs[k]; else if (k === 'onclick') e.onclick = attrs[k]; else e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function api(method, path, body) {
    return fetch('/api' + path, { method: method, headers: Object.assign({ authorization: 'Bearer ' + token }, body ? { 'content-type': 'application/json' } : {}), body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        if (r.status === 401) { document.getElementById('token-form').hidden = false; throw new Error('The API token is missing or wrong.'); }
        return r.json().then(function (j) { if (!r.ok) throw new Error(j.message || ('HTTP ' + r.status)); return j; });
      });
  }
  function action(label, path, primary) {
    return el('button', { text: label, class: primary ? 'primary' : '', onclick: function (ev) {
      ev.stopPropagation(); ev.target.disabled = true;
      api('POST', path).then(refresh).catch(showError);
    } });
  }
  function showError(e) { document.getElementById('error').textContent = e.message; }
  function bar(c) {
    var total = Math.max(1, c.stubbed || c.total);
    var b = el('div', { class: 'bar' });
    [['sent', c.sent], ['failed', c.failed], ['doubt', c.inDoubt], ['other', c.suppressed + c.cancelled]].forEach(function (p) {
      b.appendChild(el('span', { class: p[0], style: 'width:' + (100 * p[1] / total) + '%' }));
    });
    return b;
  }
  function buttons(c) {
    var id = '/campaigns/' + c.id;
    if (c.status === 'draft') return [action('Send campaign', id + '/send', true)];
    if (c.status === 'sending') return [action('Pause', id + '/pause'), action('Cancel', id + '/cancel')];
    if (c.status === 'paused') return [action('Resume', id + '/resume', true), action('Cancel', id + '/cancel')];
    return [];
  }
  function renderList(list) {
    var box = document.getElementById('campaigns');
    box.textContent = '';
    if (list.length === 0) box.appendChild(el('p', { class: 'muted', text: 'No campaigns yet. Create one with the CLI: npx baton send --help' }));
    list.forEach(function (c) {
      var card = el('div', { class: 'campaign' + (c.id === selected ? ' selected' : ''), onclick: function () { selected = c.id; refresh(); } }, [
        el('div', { class: 'row' }, [el('strong', { text: c.name }), el('span', { class: 'status ' + c.status, text: c.status })]),
        el('div', { class: 'muted', text: c.counts.sent + ' sent of ' + (c.counts.stubbed || c.counts.total) + ' · ' + c.subject }),
        bar(c.counts),
        el('div', { class: 'row', style: 'margin-top:8px' }, [el('span')].concat(buttons(c))),
      ]);
      box.appendChild(card);
    });
    if (!selected && list.length > 0) selected = list[0].id;
  }
  function renderDetail(c) {
    var d = document.getElementById('detail');
    d.textContent = '';
    var k = c.counts;
    var rows = [['Audience rows', k.total], ['Stubbed', k.stubbed], ['Rendered', k.rendered], ['Sent', k.sent], ['Failed', k.failed],
      ['Invalid rows', k.invalid], ['Duplicate rows', k.duplicate], ['Suppressed', k.suppressed], ['In doubt', k.inDoubt], ['Cancelled', k.cancelled], ['With a worker now', k.inFlight]];
    d.appendChild(el('div', { class: 'row' }, [el('h2', { text: c.name }), el('span', { class: 'status ' + c.status, text: c.status })]));
    d.appendChild(el('p', { class: 'muted', text: c.sentLastMinute + ' sent in the last minute (cap ' + c.perMinuteMax + '/min)' + (c.etaSeconds != null ? ' · about ' + c.etaSeconds + ' s to go' : '') }));
    d.appendChild(el('table', {}, rows.map(function (r) { return el('tr', {}, [el('td', { text: r[0] }), el('td', { class: 'n', text: String(r[1]) })]); })));
    if (c.problems.length) {
      d.appendChild(el('h2', { text: 'Audience problems', style: 'margin-top:16px' }));
      d.appendChild(el('table', {}, c.problems.slice(0, 20).map(function (p) { return el('tr', {}, [el('td', { text: 'line ' + p.line }), el('td', { text: p.kind }), el('td', { text: p.reason })]); })));
    }
    var frame = el('iframe', { sandbox: '', title: 'preview' });
    d.appendChild(el('h2', { text: 'Preview', style: 'margin-top:16px' }));
    d.appendChild(frame);
    if (previewFor !== c.id) { previewFor = c.id; previewHtml = ''; api('GET', '/campaigns/' + c.id + '/preview').then(function (p) { previewHtml = p.html; frame.srcdoc = p.html; }).catch(showError); }
    else frame.srcdoc = previewHtml;
    if (hasInbox) {
      var inbox = el('div', {}, [el('p', { class: 'muted', text: 'Loading inbox…' })]);
      d.appendChild(el('h2', { text: 'Local inbox (built-in Mailgun sink)', style: 'margin-top:16px' }));
      d.appendChild(inbox);
      api('GET', '/local/inbox?campaignId=' + encodeURIComponent(c.id)).then(function (r) {
        inbox.textContent = '';
        inbox.appendChild(el('p', { class: 'muted', text: r.total + ' messages received for this campaign; newest first:' }));
        inbox.appendChild(el('table', {}, r.messages.slice(0, 15).map(function (m) { return el('tr', {}, [el('td', { text: m.to }), el('td', { text: m.subject })]); })));
      }).catch(function () { hasInbox = false; inbox.textContent = ''; });
    }
  }
  var previewHtml = '';
  function refresh() {
    return api('GET', '/campaigns').then(function (r) {
      document.getElementById('error').textContent = '';
      renderList(r.campaigns);
      var c = r.campaigns.filter(function (x) { return x.id === selected; })[0];
      if (c) { renderDetail(c); document.getElementById('cap').textContent = 'cap ' + c.perMinuteMax + ' per minute'; }
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
