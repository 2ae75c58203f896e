// The dashboard's page, stylesheet and icon (see DashboardAssets).
extension DashboardAssets {
    static let indexHTML = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="neuromod-auth" content="{{AUTH}}">
<title>Neuromod</title>
<link rel="icon" href="/dashboard/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/dashboard/style.css">
<script src="/dashboard/core.js" defer></script>
<script src="/dashboard/plots.js" defer></script>
<script src="/dashboard/runs.js" defer></script>
<script src="/dashboard/studies.js" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="#/runs"><img src="/dashboard/favicon.svg" alt="" width="22" height="22"> Neuromod</a>
  <nav>
    <a href="#/runs" data-nav="runs">Runs</a>
    <a href="#/studies" data-nav="studies">Studies</a>
    <a href="#/models" data-nav="models">Models</a>
    <a href="#/datasets" data-nav="datasets">Data sets</a>
  </nav>
  <span id="session" class="session"></span>
</header>
<main id="main" data-state="loading"><p class="muted">Loading…</p></main>
<noscript><p>The dashboard needs JavaScript; the API is described at <a href="/v1/openapi.yaml">/v1/openapi.yaml</a>.</p></noscript>
</body>
</html>
"""#

    static let faviconSVG = #"""
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1d3557"/><path d="M3 20 L9 20 L12 9 L16 26 L19 14 L22 20 L29 20" fill="none" stroke="#f1c453" stroke-width="2.6" stroke-linejoin="round" stroke-linecap="round"/></svg>
"""#

    static let styleCSS = #"""
:root { --fg: #1b1f24; --muted: #5c6670; --line: #d8dee4; --bg: #f6f8fa; --card: #fff; --accent: #1d3557;
        --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --run: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--run); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: var(--accent); color: #fff; }
header.top a { color: #dfe7f1; }
header.top a.brand { color: #fff; font-weight: 600; font-size: 16px; display: flex; align-items: center; gap: 8px; }
header.top nav { display: flex; gap: 16px; }
header.top nav a.active { color: #fff; border-bottom: 2px solid #f1c453; }
.session { margin-left: auto; font-size: 12px; color: #dfe7f1; display: flex; gap: 8px; align-items: center; }
.session button { font-size: 12px; padding: 2px 8px; }
main { padding: 20px 24px 48px; max-width: 1320px; margin: 0 auto; }
h1 { font-size: 20px; margin: 0 0 4px; font-weight: 600; }
h2 { font-size: 16px; margin: 24px 0 8px; font-weight: 600; }
.muted { color: var(--muted); }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin: 12px 0; }
.toolbar { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin: 12px 0; }
.toolbar label { display: flex; gap: 6px; align-items: center; color: var(--muted); }
select, input, button { font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; background: #fff; color: var(--fg); }
button { cursor: pointer; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
table.grid { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
table.grid th, table.grid td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
table.grid th { background: #eef1f4; font-weight: 600; font-size: 12px; color: var(--muted); }
table.grid td.num, table.grid th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.grid tr:last-child td { border-bottom: 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eef1f4; color: var(--muted); }
.badge.succeeded { background: #dafbe1; color: var(--ok); }
.badge.failed { background: #ffebe9; color: var(--bad); }
.badge.canceled { background: #fff8c5; color: var(--warn); }
.badge.running { background: #ddf4ff; color: var(--run); }
.badge.queued { background: #eef1f4; color: var(--muted); }
.progress { width: 140px; height: 8px; background: #eef1f4; border-radius: 4px; overflow: hidden; display: inline-block; vertical-align: middle; }
.progress > div { height: 100%; background: var(--run); width: 0; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 6px 18px; margin: 8px 0; }
.facts div span { display: block; font-size: 12px; color: var(--muted); }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 14px; }
figure.plot-box { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; position: relative; }
figure.plot-box figcaption { font-weight: 600; font-size: 13px; margin-bottom: 4px; }
figure.plot-box svg { width: 100%; height: auto; display: block; }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg .gridline { stroke: #e6eaee; stroke-width: 1; }
svg .axis { stroke: #9aa5b1; stroke-width: 1; }
svg polyline.series { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
svg .crosshair { stroke: #9aa5b1; stroke-dasharray: 3 3; }
svg .ci { stroke-width: 2; }
svg .zero { stroke: #9aa5b1; stroke-dasharray: 4 3; }
svg text.cell-value { font-size: 11px; fill: #1b1f24; text-anchor: middle; dominant-baseline: middle; }
svg text.cell-value.dark { fill: #fff; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); margin-top: 4px; }
.legend i { display: inline-block; width: 12px; height: 3px; border-radius: 2px; vertical-align: middle; margin-right: 5px; }
.tooltip { position: absolute; pointer-events: none; background: rgba(27,31,36,.92); color: #fff; font-size: 12px; padding: 6px 8px; border-radius: 6px; white-space: nowrap; display: none; z-index: 2; }
.tooltip b { font-weight: 600; }
.error { background: #ffebe9; border: 1px solid #ffcecb; color: var(--bad); padding: 10px 14px; border-radius: 8px; margin: 12px 0; }
.notice { background: #ddf4ff; border: 1px solid #b6e3ff; padding: 10px 14px; border-radius: 8px; margin: 12px 0; }
.live { font-size: 12px; color: var(--muted); }
.live.open::before { content: "●"; color: var(--ok); margin-right: 4px; }
.login { max-width: 420px; margin: 60px auto; }
.login input[type=password] { width: 100%; margin: 8px 0; }
details > summary { cursor: pointer; color: var(--muted); }
pre { background: #f0f3f6; padding: 10px; border-radius: 6px; overflow: auto; max-height: 420px; font-size: 12px; }
.bar { display: flex; height: 10px; border-radius: 5px; overflow: hidden; background: #eef1f4; width: 100%; max-width: 260px; }
.bar > div.succeeded { background: var(--ok); } .bar > div.failed { background: var(--bad); }
.bar > div.running { background: var(--run); } .bar > div.canceled { background: #d4a72c; } .bar > div.queued { background: #c8d1da; }
"""#
}
