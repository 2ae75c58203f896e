// studies.js: the studies list, a study's page (cell means with 95% intervals, differences from
// the control, per-seed values; live over its event stream), the model registry and the uploaded
// data sets (see DashboardAssets).
extension DashboardAssets {
    static let studiesScript = #"""
'use strict';
(function () {
  const { h } = NM;

  function stateBar(runs) {
    const bar = h('div', { class: 'bar', title: ['succeeded', 'running', 'queued', 'failed', 'canceled'].map((s) => s + ' ' + (runs[s] || 0)).join(', ') });
    for (const s of ['succeeded', 'running', 'queued', 'failed', 'canceled']) {
      if (!runs[s]) continue;
      const d = h('div', { class: s });
      d.style.width = (100 * runs[s]) / Math.max(1, runs.total) + '%';
      bar.append(d);
    }
    return bar;
  }

  // ---- #/studies
  NM.route(/^\/studies\/?$/, 'studies', async (main, _params, page) => {
    const tbody = h('tbody');
    main.replaceChildren(h('h1', {}, 'Studies'),
      h('p', { class: 'muted' }, 'Designs of cells × seeds, submitted with POST /v1/experiments/{id}/studies.'),
      h('table', { class: 'grid', id: 'studies' }, h('thead', {}, h('tr', {}, h('th', {}, 'Study'), h('th', {}, 'Experiment'),
        h('th', {}, 'State'), h('th', { class: 'num' }, 'Runs'), h('th', {}, 'Created'))), tbody));
    const load = async () => {
      const [studies, experiments] = await Promise.all([NM.listAll('/v1/studies', 'studies', 2000, page.signal),
        NM.listAll('/v1/experiments', 'experiments', 2000, page.signal)]);
      const names = new Map(experiments.map((e) => [e.id, e.name]));
      tbody.replaceChildren(...studies.reverse().map((st) => h('tr', { 'data-study': st.id },
        h('td', {}, h('a', { href: '#/studies/' + st.id }, st.name || NM.short(st.id)), h('div', { class: 'muted mono' }, st.id)),
        h('td', {}, h('a', { href: '#/runs?experiment=' + st.experiment_id }, names.get(st.experiment_id) || NM.short(st.experiment_id))),
        h('td', {}, NM.badge(st.state)), h('td', { class: 'num' }, st.runs), h('td', { title: st.created_at }, NM.ago(st.created_at)))));
      if (!studies.length) tbody.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No studies yet.')));
      return studies;
    };
    const studies = await load();
    NM.ready(main);
    if (studies.some((st) => !NM.terminal(st.state))) page.every(3000, () => load().catch(() => null));
  });

  // ---- #/studies/ID
  NM.route(/^\/studies\/([^/]+)$/, 'studies', async (main, [id], page) => {
    const base = '/v1/studies/' + NM.enc(id);
    const body = h('div');
    const live = h('span', { class: 'live', id: 'live' });
    let report;
    const render = () => {
      const r = report;
      const controlName = r.control && r.control.name;
      NM.fill(body,
        h('h1', {}, r.name || 'Study ' + NM.short(r.id)),
        h('div', { class: 'muted mono' }, r.id),
        h('div', { class: 'facts' },
          h('div', {}, h('span', {}, 'State'), NM.badge(r.state), ' ', live),
          h('div', {}, h('span', {}, 'Runs'), stateBar(r.runs), h('span', {}, r.runs.succeeded + ' of ' + r.runs.total + ' succeeded' + (r.runs.failed ? ', ' + r.runs.failed + ' failed' : ''))),
          h('div', {}, h('span', {}, 'Design'), r.design.design + ', ' + r.cells.length + ' cells × ' + r.design.seeds.length + ' seeds'),
          h('div', {}, h('span', {}, 'Control'), controlName || '–'),
          h('div', {}, h('span', {}, 'Results'), NM.downloadLink(base + '/results.csv', id + '.csv', 'CSV'), ' · ', NM.downloadLink(base + '/results.jsonl', id + '.jsonl', 'JSON lines'))),
        (r.table || []).map((t) => {
          const rows = t.cells.map((c) => ({ label: c.name, mean: c.mean, lo: c.ci95 ? c.ci95[0] : null, hi: c.ci95 ? c.ci95[1] : null, highlight: c.cell === t.control }));
          const diffs = t.cells.filter((c) => c.vs_control).map((c) => ({ label: c.name, mean: c.vs_control.mean_difference,
            lo: c.vs_control.ci95 ? c.vs_control.ci95[0] : null, hi: c.vs_control.ci95 ? c.vs_control.ci95[1] : null }));
          return h('section', { 'data-metric': t.metric },
            h('h2', {}, t.metric),
            h('div', { class: 'plots' },
              NM.intervalPlot({ id: 'means:' + t.metric, title: 'Mean and 95% CI per cell (control in orange)', rows, xLabel: t.metric }),
              diffs.length ? NM.intervalPlot({ id: 'diffs:' + t.metric, title: 'Seed-paired difference from the control, 95% CI', rows: diffs, zero: 0, xLabel: 'Δ ' + t.metric }) : null),
            h('table', { class: 'grid cells', 'data-metric': t.metric },
              h('thead', {}, h('tr', {}, ['Cell', 'n', 'Mean', '95% CI', 'SD', 'Δ vs control', 'Δ 95% CI', 'p', 'p (Holm)', 'Per seed']
                .map((x, i) => h('th', { class: i > 0 && i < 9 ? 'num' : null }, x)))),
              h('tbody', {}, t.cells.map((c) => {
                const v = c.vs_control;
                return h('tr', { 'data-cell': c.cell },
                  h('td', {}, c.name, c.cell === t.control ? h('span', { class: 'muted' }, ' (control)') : null),
                  h('td', { class: 'num' }, c.n), h('td', { class: 'num' }, NM.num(c.mean)),
                  h('td', { class: 'num' }, c.ci95 ? '[' + NM.num(c.ci95[0]) + ', ' + NM.num(c.ci95[1]) + ']' : '–'),
                  h('td', { class: 'num' }, NM.num(c.sd)),
                  h('td', { class: 'num' }, v ? NM.num(v.mean_difference) : '–'),
                  h('td', { class: 'num' }, v && v.ci95 ? '[' + NM.num(v.ci95[0]) + ', ' + NM.num(v.ci95[1]) + ']' : '–'),
                  h('td', { class: 'num' }, v ? NM.num(v.p) : '–'), h('td', { class: 'num' }, v ? NM.num(v.p_holm) : '–'),
                  h('td', { class: 'mono' }, Object.entries(c.per_seed || {}).map(([seed, x]) => seed + ': ' + NM.num(x, 3)).join('  ')));
              }))));
        }),
        h('h2', {}, 'Cells'),
        h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'Cell'), h('th', {}, 'Kind'), h('th', {}, 'Factors'))),
          h('tbody', {}, r.cells.map((c) => h('tr', {}, h('td', {}, c.index), h('td', {}, c.name), h('td', {}, c.kind + (c.source !== null && c.source !== undefined ? ' of cell ' + c.source : '')),
            h('td', { class: 'mono' }, Object.entries(c.factors || {}).map(([k, v]) => k + ' = ' + JSON.stringify(v)).join(', ') || (c.ablation ? JSON.stringify(c.ablation) : '–')))))),
        h('h2', {}, 'Design'), h('details', {}, h('summary', {}, 'the stored design'), h('pre', {}, JSON.stringify(r.design, null, 2))));
    };
    report = await NM.api(base, { signal: page.signal });
    main.replaceChildren(body);
    render();
    NM.ready(main);
    if (NM.terminal(report.state)) return;
    // Live: any run of the study changing state or checkpointing can change the table.
    const refresh = NM.throttle(1000, async () => {
      try { report = await NM.api(base, { signal: page.signal }); if (page.alive) render(); } catch (_) { /* kept until the next change */ }
    });
    page.follow(base + '/events', report.last_event_id, (msg) => {
      if (msg.event === 'state' || msg.event === 'checkpoint') refresh();
      if (msg.event === 'study') { refresh(); return 'end'; }
      return undefined;
    }, (status) => { live.className = 'live ' + status; live.textContent = status === 'open' ? 'live' : status === 'retrying' ? 'reconnecting…' : ''; });
  });

  // ---- #/datasets
  NM.route(/^\/datasets\/?$/, 'datasets', async (main, _params, page) => {
    const datasets = await NM.listAll('/v1/datasets', 'datasets', 5000, page.signal);
    const tbody = h('tbody', {}, datasets.slice().reverse().map((d) => h('tr', { 'data-dataset': d.id },
      h('td', {}, h('b', {}, d.name), h('div', { class: 'muted mono' }, d.id)),
      h('td', {}, d.format),
      h('td', { class: 'mono' }, '[' + d.sample_shape.join(', ') + ']'),
      h('td', { class: 'num' }, d.classes),
      h('td', { class: 'num' }, NM.num(d.counts.train)), h('td', { class: 'num' }, NM.num(d.counts.test)),
      h('td', { class: 'num' }, d.counts.validation === null ? '–' : NM.num(d.counts.validation)),
      h('td', { class: 'num' }, NM.bytes(d.bytes)),
      h('td', { class: 'mono', title: d.sha256 }, d.sha256.slice(0, 12) + '…'),
      h('td', { title: d.created_at }, NM.ago(d.created_at)))));
    if (!datasets.length) tbody.append(h('tr', {}, h('td', { colspan: 10, class: 'muted' }, 'No data sets uploaded. POST the file to /v1/datasets (see the README).')));
    main.replaceChildren(h('h1', {}, 'Data sets'),
      h('p', { class: 'muted' }, 'Uploaded data sets; name one in a run spec as data.dataset. The built-in fashion-mnist is always there.'),
      h('table', { class: 'grid', id: 'datasets' }, h('thead', {}, h('tr', {}, ['Data set', 'Format', 'Sample shape', 'Classes', 'Train', 'Test', 'Validation', 'Size', 'SHA-256', 'Uploaded']
        .map((x, i) => h('th', { class: i >= 3 && i <= 7 ? 'num' : null }, x)))), tbody));
    NM.ready(main);
  });

  // ---- #/models
  NM.route(/^\/models\/?$/, 'models', async (main, _params, page) => {
    const list = h('div', { id: 'models' });
    main.replaceChildren(h('h1', {}, 'Models'),
      h('p', { class: 'muted' }, 'Registered checkpoints, served at /v1/models/{name}/predict and /v2/models/{name}/infer.'), list);
    const load = async () => {
      const { models } = await NM.api('/v1/models', { signal: page.signal });
      const details = await Promise.all(models.map((m) => NM.api('/v1/models/' + NM.enc(m.name), { signal: page.signal })));
      list.replaceChildren(...details.map((m) => {
        const aliasesOf = (v) => Object.entries(m.aliases || {}).filter(([, n]) => n === v).map(([a]) => a);
        const sv = m.serving || {};
        return h('section', { class: 'card', 'data-model': m.name },
          h('h2', {}, m.name),
          h('div', { class: 'facts' },
            h('div', {}, h('span', {}, 'Kind'), m.model_kind),
            h('div', {}, h('span', {}, 'Input'), JSON.stringify(m.input_shape)),
            h('div', {}, h('span', {}, 'Outputs'), (m.output_labels || []).length + ' labels'),
            h('div', {}, h('span', {}, 'Tasks'), String(m.tasks) + (m.requires_task ? ' (a task must be given)' : '')),
            h('div', {}, h('span', {}, 'Served version'), String(sv.version)),
            h('div', {}, h('span', {}, 'Requests'), h('b', { 'data-counter': 'requests' }, NM.num(sv.requests))),
            h('div', {}, h('span', {}, 'Rows predicted'), h('b', { 'data-counter': 'rows' }, NM.num(sv.rows))),
            h('div', {}, h('span', {}, 'Forward passes'), NM.num(sv.forward_passes)),
            h('div', {}, h('span', {}, 'Micro-batching'), 'up to ' + sv.max_batch + ' rows, ' + sv.max_delay_us + ' µs')),
          h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'Version'), h('th', {}, 'Aliases'), h('th', {}, 'Run'), h('th', {}, 'Checkpoint'), h('th', {}, 'Registered'))),
            h('tbody', {}, m.versions.slice().reverse().map((v) => h('tr', { 'data-version': v.version },
              h('td', { class: 'num' }, v.version), h('td', {}, aliasesOf(v.version).map((a) => h('span', { class: 'badge' }, a))),
              h('td', {}, h('a', { href: '#/runs/' + v.run_id, class: 'mono' }, NM.short(v.run_id))),
              h('td', { class: 'mono' }, NM.downloadLink('/v1/runs/' + NM.enc(v.run_id) + '/checkpoints/' + NM.enc(v.checkpoint_id), m.name + '-v' + v.version + '.safetensors', NM.short(v.checkpoint_id))),
              h('td', { title: v.created_at }, NM.ago(v.created_at)))))));
      }));
      if (!models.length) list.append(h('p', { class: 'muted' }, 'No models registered. POST /v1/models with a run (and optionally a checkpoint).'));
    };
    await load();
    NM.ready(main);
    page.every(5000, () => load().catch(() => null));
  });
})();
"""#
}
