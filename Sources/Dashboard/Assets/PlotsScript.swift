// plots.js: SVG line plots (every point drawn, hover read-out), the accuracy-matrix heatmap and
// interval plots of means with confidence intervals (see DashboardAssets).
extension DashboardAssets {
    static let plotsScript = #"""
'use strict';
(function () {
  const { h, s } = NM;
  /** Okabe–Ito colours (distinguishable with colour-blindness), without the pale yellow. */
  NM.palette = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#7f7f7f', '#000000'];
  NM.color = (i) => NM.palette[i % NM.palette.length];

  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return [lo, hi];
  }
  /** Round tick values covering [lo, hi] (about `count`), and the domain widened to them. */
  NM.ticks = (lo, hi, count) => {
    if (!isFinite(lo) || !isFinite(hi)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) { const pad = Math.abs(lo) * 0.05 || 0.5; lo -= pad; hi += pad; }
    const raw = (hi - lo) / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    const first = Math.floor(lo / step + 1e-9) * step, last = Math.ceil(hi / step - 1e-9) * step;
    const ticks = [];
    for (let v = first; v <= last + step * 1e-6; v += step) ticks.push(+v.toPrecision(12));
    return { lo: first, hi: last, ticks, step };
  };
  function tickLabel(v, step) {
    if (v === 0) return '0';
    const a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
    const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return v.toFixed(Math.min(6, decimals));
  }
  function nearest(points, x) {
    let lo = 0, hi = points.length - 1;
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (points[mid][0] < x) lo = mid; else hi = mid; }
    return Math.abs(points[lo][0] - x) <= Math.abs(points[hi][0] - x) ? points[lo] : points[hi];
  }

  /**
   * A line plot of several series over steps. Each series: {label, points: [[x, y], …], color,
   * key, run}. Every finite point is drawn (one polyline per series, `data-key`/`data-run`
   * name it). Hovering reads the nearest point of each series out.
   */
  NM.linePlot = (o) => {
    const W = 640, H = o.height || 250, m = { l: 58, r: 14, t: 10, b: 36 };
    const series = o.series.map((sr, i) => ({
      ...sr, color: sr.color || NM.color(i),
      points: sr.points.filter((p) => p[1] !== null && isFinite(p[1]) && isFinite(p[0])),
    }));
    const xs = [], ys = [];
    for (const sr of series) for (const p of sr.points) { xs.push(p[0]); ys.push(p[1]); }
    const [xmin, xmax] = extent(xs.length ? xs : [0, 1]);
    const [ymin, ymax] = extent(ys.length ? ys : [0, 1]);
    const xt = NM.ticks(xmin, xmax === xmin ? xmin + 1 : xmax, 6);
    const yt = NM.ticks(o.yFrom0 && ymin > 0 ? 0 : ymin, ymax, 5);
    const x0 = xmin, x1 = xmax === xmin ? xmin + 1 : xmax;
    const fx = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
    const fy = (y) => H - m.b - ((y - yt.lo) / (yt.hi - yt.lo)) * (H - m.t - m.b);
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': o.title, class: 'plot' });
    for (const v of yt.ticks) {
      svg.append(s('line', { class: 'gridline', x1: m.l, x2: W - m.r, y1: fy(v), y2: fy(v) }),
        s('text', { x: m.l - 6, y: fy(v) + 4, 'text-anchor': 'end' }, tickLabel(v, yt.step)));
    }
    for (const v of xt.ticks) {
      if (v < x0 - 1e-9 || v > x1 + 1e-9) continue;
      svg.append(s('line', { class: 'axis', x1: fx(v), x2: fx(v), y1: H - m.b, y2: H - m.b + 4 }),
        s('text', { x: fx(v), y: H - m.b + 16, 'text-anchor': 'middle' }, tickLabel(v, xt.step)));
    }
    svg.append(s('line', { class: 'axis', x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }),
      s('text', { x: (m.l + W - m.r) / 2, y: H - 4, 'text-anchor': 'middle' }, o.xLabel || 'step'));
    for (const sr of series) {
      const pts = sr.points.map((p) => fx(p[0]).toFixed(1) + ',' + fy(p[1]).toFixed(1)).join(' ');
      svg.append(s('polyline', { class: 'series', points: pts, stroke: sr.color, 'data-key': sr.key || sr.label, 'data-run': sr.run || null }));
      if (sr.points.length === 1) svg.append(s('circle', { cx: fx(sr.points[0][0]), cy: fy(sr.points[0][1]), r: 3, fill: sr.color }));
    }
    if (!xs.length) svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no points yet'));

    const tip = h('div', { class: 'tooltip' });
    const hover = s('g');
    const overlay = s('rect', { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: 'transparent' });
    svg.append(hover, overlay);
    const fig = h('figure', { class: 'plot-box', 'data-plot': o.id || o.title }, h('figcaption', {}, o.title), svg,
      series.length > 1 || o.legend ? h('div', { class: 'legend' }, series.map((sr) => {
        const sw = h('i'); sw.style.background = sr.color;
        return h('span', {}, sw, sr.label);
      })) : null, tip);
    overlay.addEventListener('mousemove', (ev) => {
      if (!xs.length) return;
      const box = svg.getBoundingClientRect();
      const px = ((ev.clientX - box.left) / box.width) * W;
      const x = x0 + ((px - m.l) / (W - m.l - m.r)) * (x1 - x0);
      hover.replaceChildren();
      const lines = [];
      let sx = null;
      for (const sr of series) {
        if (!sr.points.length) continue;
        const p = nearest(sr.points, x);
        sx = sx === null ? p[0] : sx;
        hover.append(s('circle', { cx: fx(p[0]), cy: fy(p[1]), r: 3.5, fill: sr.color }));
        lines.push(h('div', {}, h('b', {}, sr.label + ': '), NM.num(p[1]), ' @ ', p[0]));
      }
      if (sx !== null) hover.prepend(s('line', { class: 'crosshair', x1: fx(sx), x2: fx(sx), y1: m.t, y2: H - m.b }));
      tip.replaceChildren(...lines);
      tip.style.display = 'block';
      const scale = box.width / W;
      const left = fx(sx) * scale + 14;
      tip.style.left = Math.min(left, box.width - tip.offsetWidth) + 'px';
      tip.style.top = (m.t * scale + 24) + 'px';
    });
    overlay.addEventListener('mouseleave', () => { hover.replaceChildren(); tip.style.display = 'none'; });
    return fig;
  };

  // A perceptually ordered ramp (viridis, sampled), for values in [0, 1].
  const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  NM.ramp = (t) => {
    t = Math.max(0, Math.min(1, t));
    const f = t * (RAMP.length - 1), i = Math.min(RAMP.length - 2, Math.floor(f)), u = f - i;
    const c = RAMP[i].map((a, k) => Math.round(a + (RAMP[i + 1][k] - a) * u));
    return { fill: `rgb(${c[0]},${c[1]},${c[2]})`, dark: t < 0.55 };
  };

  /**
   * The accuracy matrix of a continual run: row i = after training task i, column j = accuracy on
   * task j; colours over [0, 1], the value printed in each cell.
   */
  NM.heatmap = (o) => {
    const rows = o.matrix.length, cols = rows ? Math.max(...o.matrix.map((r) => r.length)) : 0;
    const cell = Math.max(30, Math.min(64, Math.floor(560 / Math.max(1, cols))));
    const m = { l: 104, t: 46, r: 10, b: 10 };
    const W = m.l + cols * cell + m.r, H = m.t + rows * cell + m.b;
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': o.title, class: 'heatmap' });
    svg.style.maxWidth = W * 1.2 + 'px';
    for (let j = 0; j < cols; j++) {
      svg.append(s('text', { x: m.l + j * cell + cell / 2, y: m.t - 8, 'text-anchor': 'middle' }, o.colLabel ? o.colLabel(j) : 'task ' + j));
    }
    svg.append(s('text', { x: m.l + (cols * cell) / 2, y: 14, 'text-anchor': 'middle' }, 'accuracy on task →'));
    for (let i = 0; i < rows; i++) {
      svg.append(s('text', { x: m.l - 8, y: m.t + i * cell + cell / 2 + 4, 'text-anchor': 'end' }, o.rowLabel ? o.rowLabel(i) : 'after task ' + i));
      for (let j = 0; j < cols; j++) {
        const v = o.matrix[i][j];
        const known = typeof v === 'number' && isFinite(v);
        const c = known ? NM.ramp(v) : { fill: '#eef1f4', dark: false };
        const g = s('g', { class: 'cell', 'data-row': i, 'data-col': j, 'data-value': known ? v : null });
        g.append(s('rect', { x: m.l + j * cell, y: m.t + i * cell, width: cell - 2, height: cell - 2, rx: 3, fill: c.fill },
          s('title', {}, `after task ${i}, task ${j}: ${known ? NM.num(v) : 'not evaluated'}`)));
        g.append(s('text', { class: 'cell-value' + (c.dark ? ' dark' : ''), x: m.l + j * cell + (cell - 2) / 2, y: m.t + i * cell + (cell - 2) / 2 },
          known ? v.toFixed(2) : '–'));
        svg.append(g);
      }
    }
    return h('figure', { class: 'plot-box', 'data-plot': 'accuracy_matrix' }, h('figcaption', {}, o.title), svg);
  };

  /**
   * Means with intervals, one row each: {label, mean, lo, hi, highlight}. A dashed line at `zero`
   * (when given) marks no difference.
   */
  NM.intervalPlot = (o) => {
    const rowH = 26, longest = Math.max(8, ...o.rows.map((r) => r.label.length));
    const m = { l: Math.min(300, 16 + longest * 6.4), r: 20, t: 8, b: 34 };
    const W = 680, H = m.t + o.rows.length * rowH + m.b;
    const values = [];
    for (const r of o.rows) for (const v of [r.mean, r.lo, r.hi]) if (typeof v === 'number' && isFinite(v)) values.push(v);
    if (typeof o.zero === 'number') values.push(o.zero);
    const [lo, hi] = extent(values.length ? values : [0, 1]);
    const t = NM.ticks(lo, hi, 5);
    const fx = (x) => m.l + ((x - t.lo) / (t.hi - t.lo)) * (W - m.l - m.r);
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': o.title, class: 'intervals' });
    for (const v of t.ticks) {
      svg.append(s('line', { class: 'gridline', x1: fx(v), x2: fx(v), y1: m.t, y2: H - m.b }),
        s('text', { x: fx(v), y: H - m.b + 16, 'text-anchor': 'middle' }, tickLabel(v, t.step)));
    }
    if (typeof o.zero === 'number') svg.append(s('line', { class: 'zero', x1: fx(o.zero), x2: fx(o.zero), y1: m.t, y2: H - m.b }));
    svg.append(s('text', { x: (m.l + W - m.r) / 2, y: H - 4, 'text-anchor': 'middle' }, o.xLabel || ''));
    o.rows.forEach((r, i) => {
      const y = m.t + i * rowH + rowH / 2;
      const color = r.highlight ? NM.color(1) : NM.color(0);
      svg.append(s('text', { x: m.l - 8, y: y + 4, 'text-anchor': 'end' }, r.label));
      const g = s('g', { class: 'interval', 'data-row': i });
      if (typeof r.lo === 'number' && typeof r.hi === 'number') {
        g.append(s('line', { class: 'ci', x1: fx(r.lo), x2: fx(r.hi), y1: y, y2: y, stroke: color }),
          s('line', { class: 'ci', x1: fx(r.lo), x2: fx(r.lo), y1: y - 5, y2: y + 5, stroke: color }),
          s('line', { class: 'ci', x1: fx(r.hi), x2: fx(r.hi), y1: y - 5, y2: y + 5, stroke: color }));
      }
      if (typeof r.mean === 'number') {
        g.append(s('circle', { class: 'mean', cx: fx(r.mean), cy: y, r: 4.5, fill: color },
          s('title', {}, `${r.label}: ${NM.num(r.mean)} [${NM.num(r.lo)}, ${NM.num(r.hi)}]`)));
      }
      svg.append(g);
    });
    return h('figure', { class: 'plot-box', 'data-plot': o.id || o.title }, h('figcaption', {}, o.title), svg);
  };
})();
"""#
}
