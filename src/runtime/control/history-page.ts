/**
 * The checkpoint history page a job's REST server serves at `GET /` (README, "Checkpoint history
 * page"): per checkpoint its id, status, trigger time, end-to-end duration, state size and
 * processed/persisted bytes, and two inline SVG charts (duration and size over time). One
 * self-contained HTML document (no external asset: works offline) whose script polls the job's
 * own `GET /jobs/:jobid/checkpoints` every 2 s and keeps every checkpoint it has seen.
 *
 * Credentials: the page itself holds no job data and is served to anyone, like `GET /config`;
 * its script presents the job's secret as `Authorization: Bearer`, read from the URL fragment
 * (`#/jobs/<jobId>/checkpoints?token=<secret>`, which browsers never send to a server), kept in
 * the tab's sessionStorage and removed from the address bar. Under mutual TLS the browser's client
 * certificate is the credential. Every other endpoint still refuses a request without one.
 * Strict CSP: the inline script is allowed by its hash only, fetches go to the same origin only.
 * Must not import the job or the checkpoint layer; writes nothing but the response.
 * Tests: test/history-page.test.ts (in Chromium).
 */
import { createHash } from 'node:crypto'
import type { ServerResponse } from 'node:http'

/** Whether a request asks for the page (answered before authentication: it holds no job data). */
export function isHistoryPageRequest(method: string, pathname: string): boolean {
  return (method === 'GET' || method === 'HEAD') && (pathname === '/' || pathname === '/index.html')
}

/** The address `tsflink web` prints: the page, with the job and (when the job has one) its secret in the fragment. */
export function historyPageUrl(endpoint: string, jobId: string, opts: { secret?: string | undefined; tls: boolean }): string {
  const token = opts.secret === undefined ? '' : `?token=${encodeURIComponent(opts.secret)}`
  return `${opts.tls ? 'https' : 'http'}://${endpoint}/#/jobs/${jobId}/checkpoints${token}`
}

const SCRIPT = String.raw`
'use strict';
(function () {
  var REFRESH_MS = 2000;
  var seen = new Map();
  var params = (function () {
    var h = location.hash.replace(/^#/, '');
    var q = h.indexOf('?');
    var path = q < 0 ? h : h.slice(0, q);
    var sp = new URLSearchParams(q < 0 ? '' : h.slice(q + 1));
    var m = /^\/jobs\/([0-9a-fA-F]{32})\/checkpoints$/.exec(path);
    return { jobId: m ? m[1].toLowerCase() : null, token: sp.get('token') };
  })();
  var jobId = params.jobId;
  var tokenKey = 'tsflink-token-' + jobId;
  if (params.token) {
    sessionStorage.setItem(tokenKey, params.token);
    history.replaceState(null, '', location.pathname + '#/jobs/' + jobId + '/checkpoints');
  }
  var token = sessionStorage.getItem(tokenKey);
  function $(id) { return document.getElementById(id); }
  function text(el, s) { el.textContent = s; return el; }
  function el(tag, cls, s) { var e = document.createElement(tag); if (cls) e.className = cls; if (s !== undefined) e.textContent = s; return e; }
  function bytes(n) {
    if (typeof n !== 'number' || n < 0) return '\u2013';
    if (n < 1024) return n + ' B';
    var u = ['KiB', 'MiB', 'GiB', 'TiB'], v = n / 1024, i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return v.toFixed(1) + ' ' + u[i];
  }
  function ms(n) { return typeof n === 'number' && n >= 0 ? n + ' ms' : '\u2013'; }
  function time(t) { return typeof t === 'number' && t > 0 ? new Date(t).toISOString().replace('T', ' ').replace('Z', ' UTC') : '\u2013'; }
  function sizeOf(c) { return typeof c.state_size === 'number' ? c.state_size : typeof c.checkpointed_size === 'number' ? c.checkpointed_size : null; }
  function api(path) {
    var headers = { accept: 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    return fetch(path, { headers: headers, cache: 'no-store', credentials: 'same-origin' }).then(function (r) {
      if (r.status === 401) throw new Error('Unauthorized: open the address "tsflink web ' + jobId + '" prints (it carries the job\'s secret).');
      if (!r.ok) throw new Error('HTTP ' + r.status + ' for ' + path);
      return r.json();
    });
  }
  var SVGNS = 'http://www.w3.org/2000/svg';
  function chart(svg, points, unit, empty) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = 600, H = 160, L = 70, R = 10, T = 10, B = 24;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('data-points', String(points.length));
    function add(tag, attrs, content) {
      var e = document.createElementNS(SVGNS, tag);
      for (var k in attrs) e.setAttribute(k, attrs[k]);
      if (content !== undefined) e.textContent = content;
      svg.appendChild(e);
      return e;
    }
    add('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' });
    add('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' });
    if (points.length === 0) { add('text', { x: L + 10, y: H / 2, class: 'empty' }, empty); return; }
    var xs = points.map(function (p) { return p[0]; }), ys = points.map(function (p) { return p[1]; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y1 = Math.max.apply(null, ys.concat([1]));
    function X(x) { return x1 === x0 ? (L + W - R) / 2 : L + (x - x0) / (x1 - x0) * (W - R - L); }
    function Y(y) { return H - B - y / y1 * (H - B - T); }
    add('text', { x: L - 6, y: T + 10, class: 'label', 'text-anchor': 'end' }, unit === 'bytes' ? bytes(y1) : y1 + ' ms');
    add('text', { x: L - 6, y: H - B, class: 'label', 'text-anchor': 'end' }, '0');
    add('text', { x: L, y: H - 6, class: 'label' }, time(x0));
    add('text', { x: W - R, y: H - 6, class: 'label', 'text-anchor': 'end' }, time(x1));
    add('polyline', { class: 'line', points: points.map(function (p) { return X(p[0]).toFixed(1) + ',' + Y(p[1]).toFixed(1); }).join(' ') });
    points.forEach(function (p) { add('circle', { class: 'dot', cx: X(p[0]).toFixed(1), cy: Y(p[1]).toFixed(1), r: 2.5 }); });
  }
  function render(stats) {
    (stats.history || []).forEach(function (c) { seen.set(c.id, c); });
    var list = Array.from(seen.values()).sort(function (a, b) { return b.id - a.id; });
    var body = $('rows');
    while (body.firstChild) body.removeChild(body.firstChild);
    list.forEach(function (c) {
      var tr = el('tr');
      tr.setAttribute('data-id', String(c.id));
      [String(c.id), c.status, c.is_savepoint ? 'savepoint' : 'checkpoint', time(c.trigger_timestamp), ms(c.end_to_end_duration), bytes(sizeOf(c)),
        bytes(c.processed_data), bytes(c.persisted_data)].forEach(function (v, i) {
        var td = el('td', i === 1 ? 'status ' + String(c.status).toLowerCase() : '', v);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    var done = list.filter(function (c) { return c.status === 'COMPLETED'; }).sort(function (a, b) { return a.trigger_timestamp - b.trigger_timestamp; });
    chart($('duration'), done.map(function (c) { return [c.trigger_timestamp, c.end_to_end_duration]; }), 'ms', 'no completed checkpoint yet');
    chart($('size'), done.filter(function (c) { return sizeOf(c) !== null; }).map(function (c) { return [c.trigger_timestamp, sizeOf(c)]; }), 'bytes', 'no state size reported (state_size) yet');
    var n = stats.counts || {};
    text($('counts'), 'completed ' + (n.completed || 0) + ' \u00b7 in progress ' + (n.in_progress || 0) + ' \u00b7 failed ' + (n.failed || 0) + ' \u00b7 restored ' + (n.restored || 0));
  }
  function refresh() {
    Promise.all([api('/jobs/' + jobId), api('/jobs/' + jobId + '/checkpoints')]).then(function (r) {
      text($('job'), r[0].name + ' (' + r[0].state + ')');
      render(r[1]);
      text($('error'), '');
      text($('updated'), 'updated ' + time(Date.now()));
      document.body.setAttribute('data-loaded', 'true');
    }).catch(function (e) { text($('error'), String(e.message || e)); }).finally(function () { setTimeout(refresh, REFRESH_MS); });
  }
  if (!jobId) { text($('error'), 'No job in the address: open the address "tsflink web <jobId>" prints.'); return; }
  text($('jobid'), jobId);
  refresh();
})();
`

const STYLE = `
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .2em}.sub{color:#666;margin-bottom:1em}
#error{color:#b00020;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{background:#fff;border:1px solid #ddd;padding:.5em;flex:1 1 420px}
.chart h2{font-size:1em;margin:.2em 0}svg{width:100%;height:auto}
.axis{stroke:#999;stroke-width:1}.line{fill:none;stroke:#1f77b4;stroke-width:2}.dot{fill:#1f77b4}.label,.empty{font-size:10px;fill:#555}
table{border-collapse:collapse;margin-top:1em;background:#fff;width:100%}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#eee}td:nth-child(2),td:nth-child(3),td:nth-child(4){text-align:left}
.status.completed{color:#1b7f3b}.status.failed{color:#b00020}.status.in_progress{color:#a66b00}
`

const HTML_HEAD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,"><title>Checkpoints · tsflink</title><style>${STYLE}</style></head>
<body><h1>Checkpoint history</h1>
<div class="sub">Job <code id="jobid">–</code> <span id="job"></span> · <span id="counts"></span> · <span id="updated"></span></div>
<div id="error" role="alert"></div>
<div class="charts">
<div class="chart"><h2>End-to-end duration</h2><svg id="duration" role="img" aria-label="End-to-end duration of completed checkpoints over time"></svg></div>
<div class="chart"><h2>State size</h2><svg id="size" role="img" aria-label="State size of completed checkpoints over time"></svg></div>
</div>
<table><thead><tr><th>ID</th><th>Status</th><th>Type</th><th>Trigger time</th><th>End-to-end duration</th><th>State size</th><th>Processed</th><th>Persisted</th></tr></thead>
<tbody id="rows"></tbody></table>
`

let page: { body: Buffer; csp: string } | undefined

/** The document and its Content-Security-Policy, built once on first use. */
function historyPage(): { body: Buffer; csp: string } {
  if (page === undefined) {
    const hash = createHash('sha256').update(SCRIPT).digest('base64')
    page = {
      body: Buffer.from(`${HTML_HEAD}<script>${SCRIPT}</script>\n</body></html>\n`),
      csp: `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    }
  }
  return page
}

/** Answers a request for the page (GET or HEAD). */
export function serveHistoryPage(res: ServerResponse, method: string): void {
  const { body, csp } = historyPage()
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': body.length,
    'content-security-policy': csp,
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
  })
  res.end(method === 'HEAD' ? undefined : body)
}
