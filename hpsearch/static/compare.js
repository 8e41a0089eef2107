// The compare page: runs side by side from /api/compare (tables, test-score bars, progress).
"use strict";
(function () {
  const {el, fmt, unique, engineColor} = HP;
  const main = document.getElementById("compare");
  const ids = JSON.parse(main.dataset.ids || "[]");
  const $ = (id) => document.getElementById(id);
  const DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"];
  const label = (r) => `${r.run}<br>${r.engine}`;  // two lines: narrow screens keep room for bars

  function runsTable(runs) {
    new HP.Table($("compare-runs"), [
      {key: "id", label: "run", cell: (r) => el("a", {href: r.url, text: r.id})},
      {key: "dataset"},
      {key: "engines", value: (r) => (r.engines || []).join(", ")},
      {key: "state", cell: (r) => HP.stateBadge(r.state)},
      {key: "trials", value: (r) => r.trials_done, cell: (r) => fmt(r.trials_done) +
        (r.trials_planned === null || r.trials_planned === undefined ? "" : ` / ${fmt(r.trials_planned)}`)},
      {key: "started_at", label: "started", format: HP.when},
      {key: "duration_seconds", label: "duration", format: HP.duration},
    ], {sortable: true, rowAttrs: (r) => ({"data-run": r.id})}).setRows(runs);
  }

  function bestTable(rows, runs) {
    const keys = unique(rows.flatMap(Object.keys));
    const url = Object.fromEntries(runs.map((r) => [r.id, r.url]));
    const labels = {best_trial: "best trial", best_val_score: "best val score", n_trials: "trials",
      n_failed: "failed", n_pruned: "pruned", epochs_run_total: "epochs", fit_seconds_total: "fit seconds",
      engine_seconds: "engine seconds", wall_seconds: "wall seconds"};
    const cols = ["run", "engine", "status", "metric", "best_trial", "best_val_score"]
      .concat(keys.filter((k) => k.startsWith("test_")),
        ["n_trials", "n_failed", "n_pruned", "epochs_run_total", "fit_seconds_total", "engine_seconds", "wall_seconds"],
        keys.filter((k) => k.startsWith("param_")))
      .filter((k) => keys.includes(k))
      .map((k) => ({key: k, label: labels[k] || k.replace(/^param_/, ""),
        cell: k === "run" ? (r) => el("a", {href: url[r.run] || `/runs/${r.run}`, text: r.run})
          : k === "engine" ? (r) => [HP.swatch(r.engine), r.engine] : null,
        cls: k === "status" ? (r) => `status-${r.status}` : null}));
    new HP.Table($("compare-table"), cols, {sortable: true,
      rowAttrs: (r) => ({"data-run": r.run, "data-engine": r.engine})}).setRows(rows);
  }

  // #plot-compare-test: one panel per test_* column, a horizontal bar per run · engine.
  function testBars(rows) {
    const tests = unique(rows.flatMap(Object.keys)).filter((k) => k.startsWith("test_") &&
      rows.some((r) => typeof r[k] === "number"));
    const per = tests.map((t) => rows.filter((r) => typeof r[t] === "number"));
    const most = Math.max(1, ...per.map((p) => p.length));
    const grid = HP.grid(tests.length, 1, tests, {y: 0.5 / Math.max(1, tests.length) + 0.04});
    const traces = [], legend = new Set();
    let points = 0;
    tests.forEach((t, i) => {
      const k = i ? i + 1 : "";
      for (const engine of unique(per[i].map((r) => r.engine))) {
        const er = per[i].filter((r) => r.engine === engine);
        traces.push({type: "bar", orientation: "h", name: engine, legendgroup: engine, showlegend: !legend.has(engine),
          y: er.map(label), x: er.map((r) => r[t]), marker: {color: engineColor(engine)},
          text: er.map((r) => fmt(r[t])), textposition: "auto",
          hovertemplate: `%{y}<br>${t} %{x:.4g}<extra></extra>`, xaxis: grid.axes[i][0], yaxis: grid.axes[i][1]});
        legend.add(engine);
        points += er.length;
      }
      grid.layout[`yaxis${k}`].categoryorder = "array";
      grid.layout[`yaxis${k}`].categoryarray = per[i].map(label).reverse();  // table order, top down
    });
    HP.plot($("plot-compare-test"), traces, Object.assign(grid.layout, {barmode: "group",
      height: 110 + tests.length * (70 + 40 * most), margin: {l: 20, r: 20, t: 30, b: 40}}), points, "No test scores yet.");
  }

  // #plot-compare-progress: best so far against cumulative fit time, one line per series.
  function progress(series, rows) {
    const meta = Object.fromEntries(rows.map((r) => [`${r.run}|${r.engine}`, r]));
    const group = (s) => String((meta[`${s.run}|${s.engine}`] || {}).metric || "score").replace(/^val_/, "");
    const groups = unique(series.map(group));
    const runsOrder = unique(series.map((s) => s.run));
    const grid = HP.grid(groups.length, 1, groups.length > 1 ? groups : null, {y: 0.16});
    const traces = [];
    let points = 0;
    groups.forEach((g, i) => {
      const k = i ? i + 1 : "";
      let lower = false;
      for (const s of series.filter((x) => group(x) === g)) {
        lower = (meta[`${s.run}|${s.engine}`] || {}).direction === "minimize";
        traces.push({type: "scatter", mode: "lines+markers", name: s.series, x: s.cum_fit, y: s.best,
          line: {color: engineColor(s.engine), shape: "hv", width: 2, dash: DASHES[runsOrder.indexOf(s.run) % DASHES.length]},
          marker: {size: 4}, connectgaps: false,
          hovertemplate: `${s.series}<br>%{x:.1f} s: %{y:.4g}<extra></extra>`, xaxis: grid.axes[i][0], yaxis: grid.axes[i][1]});
        points += 1;
      }
      grid.layout[`xaxis${k}`].title = {text: "cumulative fit time (s)"};
      grid.layout[`yaxis${k}`].title = {text: `best ${g}<br>(${HP.direction(!lower)})`};
    });
    HP.plot($("plot-compare-progress"), traces, Object.assign(grid.layout,
      {height: 160 + 320 * groups.length}), points);
  }

  async function load() {
    if (!ids.length) return;
    const url = `${main.dataset.api}?` + ids.map((id) => `run=${encodeURIComponent(id)}`).join("&");
    try {
      const data = await HP.fetchJSON(url);
      runsTable(data.runs || []);
      bestTable(data.table || [], data.runs || []);
      testBars(data.table || []);
      progress(data.progress || [], data.table || []);
    } catch (e) {
      $("compare-error").textContent = e.message;
      $("compare-error").hidden = false;
    }
  }
  load();
})();
