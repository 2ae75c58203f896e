// core.js: DOM helpers, the API client (bearer token), Server-Sent Events over fetch, formatting
// and the hash router (see DashboardAssets).
extension DashboardAssets {
    static let coreScript = #"""
'use strict';
(function () {
  const NM = window.NM = {};

  // ---- DOM: elements are built from data with createElement, never from HTML strings.
  function setAttributes(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function appendChildren(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  /** An HTML element: h('a', {href: '#/runs'}, 'Runs'). */
  NM.h = (tag, attrs, ...children) => { const el = document.createElement(tag); setAttributes(el, attrs); return appendChildren(el, children); };
  /** An SVG element. */
  NM.s = (tag, attrs, ...children) => {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag); setAttributes(el, attrs); return appendChildren(el, children);
  };
  /** Replaces an element's children (nested arrays flattened, null and false skipped). */
  NM.fill = (el, ...children) => { el.replaceChildren(); return appendChildren(el, children); };
  NM.enc = encodeURIComponent;

  // ---- Bearer token: kept for the tab (sessionStorage) or, if asked, on this device (localStorage).
  const meta = document.querySelector('meta[name="neuromod-auth"]');
  NM.authRequired = !!meta && meta.getAttribute('content') === 'required';
  const TOKEN = 'neuromod.token';
  NM.token = () => sessionStorage.getItem(TOKEN) || localStorage.getItem(TOKEN) || '';
  NM.setToken = (token, remember) => {
    sessionStorage.setItem(TOKEN, token);
    if (remember) localStorage.setItem(TOKEN, token); else localStorage.removeItem(TOKEN);
  };
  NM.clearToken = () => { sessionStorage.removeItem(TOKEN); localStorage.removeItem(TOKEN); };
  NM.headers = (extra) => {
    const headers = Object.assign({ Accept: 'application/json' }, extra || {});
    const t = NM.token();
    if (t) headers.Authorization = 'Bearer ' + t;
    return headers;
  };

  /** An answer of the API other than 2xx: its status, error code, message and field. */
  class APIError extends Error {
    constructor(status, code, message, field) { super(message); this.status = status; this.code = code; this.field = field; }
  }
  NM.APIError = APIError;

  /** A JSON request to the API; throws APIError. A 401 sends the visitor to the token form. */
  NM.api = async (path, options) => {
    const o = options || {};
    const init = { method: o.method || 'GET', headers: NM.headers(o.body ? { 'Content-Type': 'application/json' } : {}), signal: o.signal, cache: 'no-store' };
    if (o.body) init.body = JSON.stringify(o.body);
    const r = await fetch(path, init);
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!r.ok) {
      const e = (data && data.error) || {};
      const err = new APIError(r.status, e.code || 'http_' + r.status, e.message || (r.status + ' ' + r.statusText), e.field);
      if (r.status === 401) NM.signIn('The server did not accept the token: ' + err.message);
      throw err;
    }
    return data;
  };

  /** Every page of a list endpoint (`key`: the array's name), up to `max` items. */
  NM.listAll = async (path, key, max, signal) => {
    const items = [];
    let token = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const page = await NM.api(path + sep + 'limit=500' + (token ? '&page_token=' + NM.enc(token) : ''), { signal });
      items.push(...page[key]);
      token = page.next_page_token;
    } while (token && items.length < (max || 5000));
    return items;
  };

  /** A run's metric series as [[step, value], …], every page. */
  NM.series = async (runID, key, signal) => {
    const points = [];
    let after = null;
    for (;;) {
      const q = 'limit=10000' + (after === null ? '' : '&after_step=' + after);
      const d = await NM.api('/v1/runs/' + NM.enc(runID) + '/metrics/' + NM.enc(key) + '?' + q, { signal });
      for (const p of d.points) points.push([p.step, p.value]);
      if (d.next_after_step === null || d.next_after_step === undefined) return points;
      after = d.next_after_step;
    }
  };

  /** Downloads `path` with the token and saves it as `filename` (links cannot carry a header). */
  NM.download = async (path, filename) => {
    const r = await fetch(path, { headers: NM.headers({ Accept: '*/*' }) });
    if (!r.ok) throw new APIError(r.status, 'http_' + r.status, 'download failed: ' + r.status);
    const url = URL.createObjectURL(await r.blob());
    const a = NM.h('a', { href: url, download: filename });
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };
  /** A link that downloads through NM.download when a token is set, and is a plain link otherwise. */
  NM.downloadLink = (path, filename, label) => NM.h('a', {
    href: path, download: filename,
    onclick: (ev) => { if (!NM.token()) return; ev.preventDefault(); NM.download(path, filename).catch((e) => NM.flash(e.message)); },
  }, label);

  // ---- Server-Sent Events over fetch (EventSource cannot send an Authorization header).
  function parseMessage(block) {
    const msg = { id: null, event: 'message', data: '' };
    const data = [];
    for (const line of block.split(/\r\n|\r|\n/)) {
      if (line === '' || line[0] === ':') continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'id') msg.id = value;
      else if (field === 'event') msg.event = value;
      else if (field === 'data') data.push(value);
    }
    msg.data = data.join('\n');
    return msg;
  }
  /**
   * Follows an event stream from `after` (an event id): `onMessage({id, event, data})` for each
   * message, returning 'end' when it was the last one wanted. Reconnects with Last-Event-ID
   * (backing off to 15 s) until then or until close(). `onStatus('open'|'retrying'|'closed')`.
   */
  NM.follow = (path, after, onMessage, onStatus) => {
    let lastID = after === null || after === undefined ? null : String(after);
    let stopped = false, controller = null, delay = 1000;
    const status = (s) => { if (onStatus && !stopped) onStatus(s); };
    (async () => {
      while (!stopped) {
        controller = new AbortController();
        let ended = false;
        try {
          const headers = NM.headers({ Accept: 'text/event-stream' });
          if (lastID !== null) headers['Last-Event-ID'] = lastID;
          const r = await fetch(path, { headers, signal: controller.signal, cache: 'no-store' });
          if (r.status === 401) { NM.signIn('The server did not accept the token.'); return; }
          if (r.status === 404) { status('closed'); return; }
          if (!r.ok || !r.body) throw new Error('event stream answered ' + r.status);
          status('open');
          delay = 1000;
          const reader = r.body.getReader();
          const decoder = new TextDecoder();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += decoder.decode(value, { stream: true });
            let m;
            while ((m = /\r\n\r\n|\n\n|\r\r/.exec(buffer))) {
              const msg = parseMessage(buffer.slice(0, m.index));
              buffer = buffer.slice(m.index + m[0].length);
              if (msg.id !== null) lastID = msg.id;
              if (msg.data !== '' && onMessage(msg) === 'end') ended = true;
            }
          }
        } catch (e) {
          if (stopped || (e && e.name === 'AbortError')) return;
        }
        if (ended || stopped) { status('closed'); return; }
        status('retrying');
        await new Promise((res) => setTimeout(res, delay));
        delay = Math.min(delay * 2, 15000);
      }
    })();
    return { close() { stopped = true; if (controller) controller.abort(); } };
  };

  // ---- Formatting
  NM.short = (id) => (id && id.length > 14 ? id.slice(0, id.indexOf('_') + 9) + '…' : id || '');
  NM.num = (v, digits) => {
    if (v === null || v === undefined) return '–';
    if (typeof v !== 'number') return String(v);
    if (!isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential((digits || 4) - 1);
    return String(+v.toPrecision(digits || 4));
  };
  NM.bytes = (n) => (n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : (n / 1048576).toFixed(1) + ' MiB');
  NM.ago = (iso) => {
    if (!iso) return '–';
    const s = (Date.now() - Date.parse(iso)) / 1000;
    if (s < 60) return Math.max(0, Math.round(s)) + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return Math.round(s / 3600) + ' h ago';
    return new Date(iso).toISOString().slice(0, 10);
  };
  NM.duration = (s) => {
    if (!(s >= 0)) return '–';
    if (s < 60) return s.toFixed(1) + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
  };
  NM.badge = (state) => NM.h('span', { class: 'badge ' + state, 'data-state': state }, state);
  NM.terminal = (state) => state === 'succeeded' || state === 'failed' || state === 'canceled';
  NM.progress = (completed, total) => {
    const bar = NM.h('div');
    bar.style.width = (total > 0 ? Math.min(100, (100 * completed) / total) : 0) + '%';
    return NM.h('span', { class: 'progress', title: completed + ' / ' + total }, bar);
  };
  NM.errorBox = (e) => NM.h('div', { class: 'error', role: 'alert' }, e && e.message ? e.message : String(e));
  NM.flash = (message) => {
    const main = document.getElementById('main');
    main.insertBefore(NM.errorBox(message), main.firstChild);
  };

  // ---- Router: '#/runs', '#/runs/ID', … ; a page gets its parameters, query and a lifetime.
  const routes = [];
  let current = null;
  /** Registers a page: `render(main, params, page)`, async; `page` collects what to stop on leaving. */
  NM.route = (pattern, nav, render) => routes.push({ pattern, nav, render });

  class Page {
    constructor(query) { this.query = query; this.cleanups = []; this.alive = true; this.controller = new AbortController(); }
    get signal() { return this.controller.signal; }
    onLeave(fn) { this.cleanups.push(fn); }
    every(ms, fn) { const t = setInterval(() => { if (this.alive) fn(); }, ms); this.onLeave(() => clearInterval(t)); }
    follow(path, after, onMessage, onStatus) { const f = NM.follow(path, after, onMessage, onStatus); this.onLeave(() => f.close()); return f; }
    leave() { this.alive = false; this.controller.abort(); for (const fn of this.cleanups) { try { fn(); } catch (_) { /* leaving */ } } }
  }

  function renderSession() {
    const el = document.getElementById('session');
    el.replaceChildren();
    const t = NM.token();
    if (t) {
      el.append(NM.h('span', {}, 'token …' + t.slice(-4)),
        NM.h('button', { type: 'button', onclick: () => { NM.clearToken(); NM.signIn(); } }, 'Sign out'));
    } else if (!NM.authRequired) {
      el.append(NM.h('span', {}, 'open server (no tokens)'));
    }
  }

  /** The token form, in place of the page. */
  NM.signIn = (message) => {
    if (current) { current.leave(); current = null; }
    const main = document.getElementById('main');
    const input = NM.h('input', { type: 'password', id: 'token', autocomplete: 'current-password', placeholder: 'bearer token', required: true });
    const remember = NM.h('input', { type: 'checkbox', id: 'remember' });
    const form = NM.h('form', { class: 'card login', id: 'login' },
      NM.h('h1', {}, 'Sign in'),
      NM.h('p', { class: 'muted' }, 'This server needs a bearer token; a read token is enough to look.'),
      message ? NM.h('div', { class: 'error' }, message) : null,
      input,
      NM.h('label', {}, remember, ' remember on this device'),
      NM.h('p', {}, NM.h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      NM.setToken(input.value.trim(), remember.checked);
      NM.navigate();
    });
    main.replaceChildren(form);
    main.dataset.state = 'signin';
    renderSession();
    input.focus();
  };

  /** Renders the page of the current location. */
  NM.navigate = () => {
    if (current) current.leave();
    current = null;
    renderSession();
    const main = document.getElementById('main');
    if (NM.authRequired && !NM.token()) { NM.signIn(); return; }
    const hash = location.hash.replace(/^#/, '') || '/runs';
    const [path, qs] = hash.split('?');
    main.replaceChildren(NM.h('p', { class: 'muted' }, 'Loading…'));
    main.dataset.state = 'loading';
    for (const r of routes) {
      const m = path.match(r.pattern);
      if (!m) continue;
      for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === r.nav);
      const page = current = new Page(new URLSearchParams(qs || ''));
      Promise.resolve()
        .then(() => r.render(main, m.slice(1).map(decodeURIComponent), page))
        .catch((e) => {
          if (!page.alive || (e && e.name === 'AbortError')) return;
          if (e instanceof APIError && e.status === 401) return;
          main.replaceChildren(NM.errorBox(e));
          main.dataset.state = 'error';
        });
      return;
    }
    main.replaceChildren(NM.h('h1', {}, 'Not found'), NM.h('p', {}, NM.h('a', { href: '#/runs' }, 'Runs')));
    main.dataset.state = 'ready';
  };
  /** Marks the page rendered (browser tests wait for this). */
  NM.ready = (main) => { main.dataset.state = 'ready'; };

  window.addEventListener('hashchange', () => NM.navigate());
  document.addEventListener('DOMContentLoaded', () => NM.navigate());
})();
"""#
}
