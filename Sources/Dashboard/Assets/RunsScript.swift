// runs.js: the runs list, a run's page (curves, accuracy matrix, summary, checkpoints; live over
// Server-Sent Events) and the comparison of 2–5 runs (see DashboardAssets).
extension DashboardAssets {
    static let runsScript = #"""
'use strict';
(function () {
  const { h } = NM;
  const STATES = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

  /** What a run's spec says in a few words. */
  NM.describeSpec = (spec) => {
    const model = spec.model || {}, proto = spec.protocol || {};
    const parts = [];
    if (model.kind) parts.push(model.kind + (model.layers ? ' ' + model.layers.join('-') : ''));
    if (proto.kind) parts.push(proto.kind + (proto.scenario ? ' (' + proto.scenario + ')' : ''));
    const nm = spec.neuromodulation && spec.neuromodulation.channels;
    if (nm && nm.length) parts.push([...new Set(nm.map((c) => c.modulator))].join('+'));
    if (spec.consolidation && spec.consolidation.kind) parts.push(spec.consolidation.kind);
    return parts.join(' · ');
  };

  // ---- Metric keys, grouped into plots.
  const GROUPS = [
    ['loss', 'Loss', (k) => /(^|[._])loss$/.test(k) && !k.startsWith('nm.')],
    ['accuracy', 'Accuracy', (k) => /accuracy$/.test(k) && !/^task\.\d+\./.test(k) && !k.startsWith('continual.') && !k.startsWith('nm.')],
    ['tasks', 'Accuracy on each task', (k) => /^task\.\d+\./.test(k)],
    ['signals', 'Neuromodulator signals', (k) => k.startsWith('nm.') && !k.startsWith('nm.effect.')],
    ['effects', 'Neuromodulator effects (factors)', (k) => k.startsWith('nm.effect.')],
    ['spikes', 'Spikes per sample, by layer', (k) => k.startsWith('snn.spikes_per_sample.')],
  ];
  /** [{id, title, keys}] in display order: the named groups, then one plot per other key. */
  NM.groupKeys = (keys) => {
    const groups = GROUPS.map(([id, title]) => ({ id, title, keys: [] }));
    const rest = [];
    for (const k of [...keys].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
      const i = GROUPS.findIndex((g) => g[2](k));
      if (i >= 0) groups[i].keys.push(k); else rest.push({ id: 'key:' + k, title: k, keys: [k] });
    }
    return groups.filter((g) => g.keys.length).concat(rest);
  };
  const shortKey = (k, group) => (group === 'signals' || group === 'effects' ? k.replace(/^nm\.(effect\.)?/, '')
    : group === 'spikes' ? k.replace('snn.spikes_per_sample.', '') : k);

  /**
   * One run's data: the run, its metric series, checkpoints and summary, loaded once and then
   * kept current from its event stream (from the cursor of the metric listing, so nothing is
   * missed; points at steps already held are skipped, so nothing is doubled).
   */
  class RunData {
    constructor(id, page, onChange) {
      this.id = id; this.page = page; this.onChange = onChange;
      this.series = new Map(); this.checkpoints = []; this.summary = null; this.live = 'closed';
    }
    get base() { return '/v1/runs/' + NM.enc(this.id); }
    async load() {
      const signal = this.page.signal;
      this.run = await NM.api(this.base, { signal });
      const listing = await NM.api(this.base + '/metrics', { signal });
      this.cursor = listing.last_event_id;
      await Promise.all(listing.metrics.map(async (m) => { this.series.set(m.key, await NM.series(this.id, m.key, signal)); }));
      await this.refreshFiles();
    }
    async refreshFiles() {
      this.checkpoints = (await NM.api(this.base + '/checkpoints', { signal: this.page.signal })).checkpoints;
      // A summary is written with the first checkpoint: ask only when there can be one.
      if (this.checkpoints.length || this.run.state === 'succeeded') {
        try { this.summary = (await NM.api(this.base + '/summary', { signal: this.page.signal })).summary; } catch (e) { if (e.status !== 404) throw e; }
      }
    }
    follow() {
      if (NM.terminal(this.run.state)) return;
      this.page.follow(this.base + '/events', this.cursor, (msg) => this.message(msg), (status) => { this.live = status; this.onChange('live'); });
    }
    addPoint(key, step, value) {
      let points = this.series.get(key);
      if (!points) { points = []; this.series.set(key, points); }
      if (points.length && points[points.length - 1][0] >= step) return;
      points.push([step, value]);
      const p = this.run.progress;
      if (p && step > p.completed) p.completed = Math.min(step, p.total || step);
    }
    message(msg) {
      const d = JSON.parse(msg.data);
      if (msg.event === 'metrics') {
        for (const p of d.points) this.addPoint(p.key, p.step, p.value);
        this.onChange('metrics');
      } else if (msg.event === 'progress') {
        this.run.progress = Object.assign({}, this.run.progress, d);
        this.onChange('progress');
      } else if (msg.event === 'checkpoint') {
        if (!this.checkpoints.some((c) => c.id === d.id)) {
          this.checkpoints.push(Object.assign({ download: this.base + '/checkpoints/' + d.id, created_at: new Date().toISOString() }, d));
        }
        this.refreshFiles().then(() => this.onChange('checkpoint')).catch(() => this.onChange('checkpoint'));
      } else if (msg.event === 'state') {
        this.run.state = d.state;
        if (d.attempt !== undefined) this.run.attempt = d.attempt;
        if (d.progress) this.run.progress = Object.assign({}, this.run.progress, d.progress);
        if (NM.terminal(d.state)) {
          Promise.all([NM.api(this.base, { signal: this.page.signal }).then((r) => { this.run = r; }), this.refreshFiles()])
            .catch(() => null).then(() => this.onChange('state'));
          return 'end';
        }
        this.onChange('state');
      }
      return undefined;
    }
  }
  NM.RunData = RunData;

  /** Calls `fn` at most once per `ms` (the last call wins). */
  NM.throttle = (ms, fn) => {
    let timer = null;
    return () => { if (timer) return; timer = setTimeout(() => { timer = null; fn(); }, ms); };
  };

  // ---- #/runs
  NM.route(/^\/(?:runs)?\/?$/, 'runs', async (main, _params, page) => {
    const state = page.query.get('state') || '', experiment = page.query.get('experiment') || '';
    const experiments = await NM.listAll('/v1/experiments', 'experiments', 2000, page.signal);
    const names = new Map(experiments.map((e) => [e.id, e.name]));
    const selected = new Set();
    const setQuery = (k, v) => { const q = new URLSearchParams(page.query); if (v) q.set(k, v); else q.delete(k); location.hash = '#/runs' + (q.toString() ? '?' + q : ''); };
    const stateSelect = h('select', { id: 'filter-state', onchange: (e) => setQuery('state', e.target.value) },
      h('option', { value: '' }, 'all states'), STATES.map((s) => h('option', { value: s, selected: s === state }, s)));
    const expSelect = h('select', { id: 'filter-experiment', onchange: (e) => setQuery('experiment', e.target.value) },
      h('option', { value: '' }, 'all experiments'), experiments.map((e) => h('option', { value: e.id, selected: e.id === experiment }, e.name || e.id)));
    const compare = h('button', { type: 'button', id: 'compare', disabled: true, onclick: () => { location.hash = '#/compare/' + [...selected].join(','); } }, 'Compare selected');
    const tbody = h('tbody');
    const more = h('button', { type: 'button', id: 'more' }, 'Load more');
    main.replaceChildren(h('h1', {}, 'Runs'),
      h('div', { class: 'toolbar' }, h('label', {}, 'State', stateSelect), h('label', {}, 'Experiment', expSelect), compare,
        h('span', { class: 'muted' }, 'select 2–5 runs to overlay their curves')),
      h('table', { class: 'grid', id: 'runs' }, h('thead', {}, h('tr', {}, h('th'), h('th', {}, 'Run'), h('th', {}, 'Experiment'),
        h('th', {}, 'Model and protocol'), h('th', {}, 'State'), h('th', {}, 'Progress'), h('th', {}, 'Created'), h('th', {}, 'Study'))), tbody),
      h('p', {}, more));
    const base = (experiment ? '/v1/experiments/' + NM.enc(experiment) + '/runs' : '/v1/runs') + '?order=desc' + (state ? '&state=' + state : '');
    let runs = [], next = null;
    const row = (r) => {
      const box = h('input', { type: 'checkbox', 'data-run': r.id, checked: selected.has(r.id), onchange: (e) => {
        if (e.target.checked) selected.add(r.id); else selected.delete(r.id);
        compare.disabled = selected.size < 2 || selected.size > 5;
      } });
      return h('tr', { 'data-run': r.id }, h('td', {}, box),
        h('td', {}, h('a', { href: '#/runs/' + r.id, class: 'mono' }, NM.short(r.id)), r.spec.name ? h('div', { class: 'muted' }, r.spec.name) : null),
        h('td', {}, h('a', { href: '#/runs?experiment=' + r.experiment_id }, names.get(r.experiment_id) || NM.short(r.experiment_id))),
        h('td', {}, NM.describeSpec(r.spec)),
        h('td', {}, NM.badge(r.state)),
        h('td', {}, NM.progress(r.progress.completed, r.progress.total), ' ', h('span', { class: 'muted' }, r.progress.completed + '/' + r.progress.total)),
        h('td', { title: r.created_at }, NM.ago(r.created_at)),
        h('td', {}, r.study ? h('a', { href: '#/studies/' + r.study.id }, 'cell ' + r.study.cell + ', seed ' + r.study.seed) : ''));
    };
    const render = () => {
      tbody.replaceChildren(...runs.map(row));
      if (!runs.length) tbody.append(h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No runs yet. Submit one with POST /v1/experiments/{id}/runs or `neuromod submit`.')));
      more.hidden = !next;
    };
    const load = async (limit) => {
      const d = await NM.api(base + '&limit=' + limit, { signal: page.signal });
      runs = d.runs; next = d.next_page_token;
    };
    more.addEventListener('click', async () => {
      const d = await NM.api(base + '&limit=50&page_token=' + NM.enc(next), { signal: page.signal });
      runs = runs.concat(d.runs); next = d.next_page_token; render();
    });
    await load(50);
    render();
    NM.ready(main);
    // The list follows new runs and progress: quickly while some run is active.
    let ticks = 0;
    page.every(2000, async () => {
      ticks++;
      if (!runs.some((r) => !NM.terminal(r.state)) && ticks % 5) return;
      try { await load(Math.min(500, Math.max(50, runs.length))); render(); } catch (_) { /* shown on the next navigation */ }
    });
  });

  // ---- #/runs/ID
  function facts(pairs) {
    return h('div', { class: 'facts' }, pairs.filter((p) => p).map(([label, value]) => h('div', {}, h('span', {}, label), value)));
  }
  function summaryFacts(summary) {
    const scalars = [], tables = [];
    for (const [k, v] of Object.entries(summary || {})) {
      if (k === 'accuracy_matrix' || k === 'initial_accuracy') continue;
      if (v === null || typeof v !== 'object') scalars.push([k.replace(/_/g, ' '), h('b', { 'data-summary': k }, typeof v === 'number' ? NM.num(v) : String(v))]);
      else if (!Array.isArray(v) && Object.values(v).every((x) => x === null || typeof x !== 'object')) {
        tables.push(h('div', {}, h('h3', { class: 'muted' }, k.replace(/_/g, ' ')),
          h('table', { class: 'grid' }, h('tbody', {}, Object.entries(v).map(([a, b]) => h('tr', {}, h('td', {}, a), h('td', { class: 'num' }, NM.num(b))))))));
      } else if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
        const cols = [...new Set(v.flatMap((x) => Object.keys(x)))];
        tables.push(h('div', {}, h('h3', { class: 'muted' }, k.replace(/_/g, ' ')),
          h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', {}, '#'), cols.map((c) => h('th', { class: 'num' }, c)))),
            h('tbody', {}, v.map((x, i) => h('tr', {}, h('td', {}, i), cols.map((c) => h('td', { class: 'num' }, NM.num(x[c])))))))));
      } else if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) {
        scalars.push([k.replace(/_/g, ' '), h('span', { class: 'mono' }, v.map((x) => (typeof x === 'number' ? NM.num(x) : String(x))).join(', '))]);
      }
    }
    return [facts(scalars), tables];
  }

  NM.route(/^\/runs\/([^/]+)$/, 'runs', async (main, [id], page) => {
    const plots = h('div', { class: 'plots', id: 'plots' });
    const header = h('div'), matrix = h('div', { id: 'matrix' }), summary = h('div', { id: 'summary' }), checkpoints = h('div', { id: 'checkpoints' });
    const live = h('span', { class: 'live', id: 'live' });
    let data;
    const renderHeader = () => {
      const r = data.run, spec = r.spec;
      const cancel = !NM.terminal(r.state) ? h('button', { type: 'button', onclick: async (e) => {
        e.target.disabled = true;
        try { await NM.api(data.base + '/cancel', { method: 'POST' }); } catch (err) { NM.flash(err.message); e.target.disabled = false; }
      } }, 'Cancel run') : null;
      const took = r.started_at && r.finished_at ? (Date.parse(r.finished_at) - Date.parse(r.started_at)) / 1000 : null;
      NM.fill(header,
        h('h1', {}, spec.name || 'Run ' + NM.short(r.id)),
        h('div', { class: 'muted mono' }, r.id),
        facts([
          ['State', h('span', { id: 'run-state' }, NM.badge(r.state), ' ', live)],
          ['Progress', h('span', { id: 'run-progress' }, NM.progress(r.progress.completed, r.progress.total), ' ' + r.progress.completed + ' / ' + r.progress.total + ' ' + r.progress.unit)],
          ['Experiment', h('a', { href: '#/runs?experiment=' + r.experiment_id }, data.experimentName || NM.short(r.experiment_id))],
          ['Model and protocol', NM.describeSpec(spec)],
          ['Attempt', String(r.attempt) + (r.failures ? ' (' + r.failures + ' failed)' : '')],
          ['Created', h('span', { title: r.created_at }, NM.ago(r.created_at))],
          took !== null ? ['Training time', NM.duration(took)] : null,
          r.study ? ['Study', h('a', { href: '#/studies/' + r.study.id }, 'cell ' + r.study.cell + ', seed ' + r.study.seed)] : null,
        ]),
        r.failure_reason ? h('div', { class: 'error' }, r.failure_reason) : null,
        h('div', { class: 'toolbar' }, cancel, h('a', { href: '#/runs' }, '← all runs')));
      live.className = 'live ' + data.live;
      live.textContent = data.live === 'open' ? 'live' : data.live === 'retrying' ? 'reconnecting…' : '';
    };
    const renderPlots = () => {
      const groups = NM.groupKeys([...data.series.keys()]);
      plots.replaceChildren(...groups.map((g) => NM.linePlot({
        id: g.id, title: g.title, yFrom0: g.id === 'spikes',
        series: g.keys.map((k) => ({ label: shortKey(k, g.id), key: k, run: data.id, points: data.series.get(k) })),
      })));
      if (!groups.length) plots.append(h('p', { class: 'muted' }, NM.terminal(data.run.state) ? 'This run recorded no metrics.' : 'No metric points yet.'));
    };
    const renderFiles = () => {
      const s = data.summary;
      matrix.replaceChildren();
      if (s && Array.isArray(s.accuracy_matrix) && s.accuracy_matrix.length) {
        const tasks = Array.isArray(s.tasks) ? s.tasks : null;
        NM.fill(matrix, h('h2', {}, 'Accuracy matrix'),
          NM.heatmap({ title: 'Accuracy on each task after training each task' + (s.complete === false ? ' (so far)' : ''), matrix: s.accuracy_matrix,
            colLabel: (j) => 'task ' + j, rowLabel: (i) => 'after task ' + i }),
          tasks ? h('p', { class: 'muted' }, tasks.map((t, i) => 'task ' + i + ': ' + t).join(' · ')) : null);
      }
      summary.replaceChildren();
      if (s) {
        NM.fill(summary, h('h2', {}, data.run.state === 'succeeded' ? 'Results' : 'Results so far (at the last checkpoint)'), ...summaryFacts(s),
          h('details', {}, h('summary', {}, 'summary as JSON'), h('pre', {}, JSON.stringify(s, null, 2))));
      }
      checkpoints.replaceChildren(h('h2', {}, 'Checkpoints'));
      if (!data.checkpoints.length) { checkpoints.append(h('p', { class: 'muted' }, 'None yet.')); return; }
      checkpoints.append(h('table', { class: 'grid', id: 'checkpoint-table' },
        h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'Step'), h('th', {}, 'Score'), h('th', { class: 'num' }, 'Size'), h('th', {}, 'SHA-256'), h('th', {}, 'Created'), h('th', {}, 'Download'))),
        h('tbody', {}, data.checkpoints.map((c) => h('tr', { 'data-checkpoint': c.id },
          h('td', { class: 'num' }, c.step),
          h('td', {}, c.score === null || c.score === undefined ? '–' : NM.num(c.score) + ' ' + (c.score_metric || '')),
          h('td', { class: 'num' }, NM.bytes(c.size)),
          h('td', { class: 'mono', title: c.sha256 }, c.sha256.slice(0, 16) + '…'),
          h('td', {}, NM.ago(c.created_at)),
          h('td', {}, NM.downloadLink(c.download, data.id + '-step' + c.step + '.safetensors', 'safetensors')))))));
    };
    const renderPlotsSoon = NM.throttle(300, () => page.alive && renderPlots());
    data = new RunData(id, page, (what) => {
      if (!page.alive) return;
      renderHeader();
      if (what === 'metrics') renderPlotsSoon();
      if (what === 'checkpoint' || what === 'state') { renderFiles(); renderPlots(); }
    });
    await data.load();
    data.experimentName = await NM.api('/v1/experiments/' + NM.enc(data.run.experiment_id), { signal: page.signal }).then((e) => e.name).catch(() => null);
    main.replaceChildren(header, h('h2', {}, 'Curves'), plots, matrix, summary, checkpoints,
      h('h2', {}, 'Spec'), h('details', {}, h('summary', {}, 'the stored spec (sha256 ' + data.run.spec_hash.slice(0, 12) + '…)'), h('pre', {}, JSON.stringify(data.run.spec, null, 2))));
    renderHeader(); renderPlots(); renderFiles();
    data.follow();
    NM.ready(main);
  });

  // ---- #/compare/ID,ID,…
  NM.route(/^\/compare\/([^/]+)$/, 'runs', async (main, [list], page) => {
    const ids = [...new Set(list.split(',').filter(Boolean))];
    if (ids.length < 2 || ids.length > 5) throw new Error('Compare takes 2 to 5 runs; this link names ' + ids.length + '.');
    const plots = h('div', { class: 'plots', id: 'plots' }), table = h('div', { id: 'compare-summary' }), legend = h('div', { class: 'legend' });
    const runs = [];
    const render = () => {
      const keys = new Map();
      for (const d of runs) for (const k of d.series.keys()) keys.set(k, (keys.get(k) || 0) + 1);
      const shared = [...keys.keys()].filter((k) => keys.get(k) >= 2).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
      plots.replaceChildren(...shared.map((k) => NM.linePlot({
        id: k, title: k, legend: true,
        series: runs.filter((d) => d.series.has(k)).map((d) => ({ label: NM.short(d.id), key: k, run: d.id, color: NM.color(runs.indexOf(d)), points: d.series.get(k) })),
      })));
      if (!shared.length) plots.append(h('p', { class: 'muted' }, 'These runs share no metric.'));
      const fields = [...new Set(runs.flatMap((d) => Object.entries(d.summary || {}).filter(([, v]) => typeof v === 'number').map(([k]) => k)))].sort();
      NM.fill(table, h('h2', {}, 'Results'), h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, h('th', {}, ''), runs.map((d) => h('th', { class: 'num' }, h('a', { href: '#/runs/' + d.id }, NM.short(d.id)))))),
        h('tbody', {},
          h('tr', {}, h('td', {}, 'state'), runs.map((d) => h('td', { class: 'num' }, NM.badge(d.run.state)))),
          h('tr', {}, h('td', {}, 'spec'), runs.map((d) => h('td', { class: 'num' }, NM.describeSpec(d.run.spec)))),
          fields.map((f) => h('tr', {}, h('td', {}, f.replace(/_/g, ' ')), runs.map((d) => h('td', { class: 'num' }, NM.num(d.summary ? d.summary[f] : null))))))));
      legend.replaceChildren(...runs.map((d, i) => { const sw = h('i'); sw.style.background = NM.color(i); return h('span', {}, sw, NM.short(d.id) + ' ' + (d.run.spec.name || NM.describeSpec(d.run.spec))); }));
    };
    const soon = NM.throttle(300, () => page.alive && render());
    for (const id of ids) runs.push(new RunData(id, page, soon));
    await Promise.all(runs.map((d) => d.load()));
    main.replaceChildren(h('h1', {}, 'Compare ' + ids.length + ' runs'), legend, h('h2', {}, 'Curves (metrics two or more of the runs record)'), plots, table);
    render();
    for (const d of runs) d.follow();
    NM.ready(main);
  });
})();
"""#
}
