// The run page's Plotly figures, drawn from the Trials rows (with the server's plotting fields:
// order, ok, failed, pruned, score, group, higher, best, cum_fit, elapsed) and Histories.
"use strict";
(function () {
  const {unique, engineColor, FAILED, PRUNED} = HP;
  const num = (v) => typeof v === "number" && Number.isFinite(v);
  const key = (r) => `${r.engine}/${r.trial}`;
  // trial colors of the learning curves: not the engine colors (a panel is one engine)
  const RANK_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
    "#1f78b4", "#b15928", "#6a3d9a", "#b2df8a"];

  // Clicks on a mark carrying "engine/trial" as customdata become a plotly_click_key event.
  function clickable(div) {
    if (div.dataset.clickable || !div.on) return;
    div.dataset.clickable = "1";
    div.on("plotly_click", (ev) => {
      const cd = ev.points && ev.points[0] && ev.points[0].customdata;
      if (typeof cd === "string") div.dispatchEvent(new CustomEvent("plotly_click_key", {detail: cd}));
    });
  }
  const hover = "%{customdata}<br>%{text}<extra></extra>";
  const scoreText = (r, v) => (num(v) ? `score ${HP.fmt(v)}` : r.status) + (r.error ? `<br>${String(r.error).slice(0, 80)}` : "");

  // Marks of one group's failed and pruned trials at x(r); edges hold the heights without a score.
  function badMarks(rows, x, edges, axes, legend) {
    const failed = rows.filter((r) => r.failed && x(r) !== null && x(r) !== undefined);
    const pruned = rows.filter((r) => r.pruned && x(r) !== null && x(r) !== undefined);
    const traces = [];
    if (failed.length) {
      traces.push({type: "scatter", mode: "markers", name: "failed trial", legendgroup: "failed",
        showlegend: legend.failed !== true, x: failed.map(x), y: failed.map(() => edges.failed),
        marker: {symbol: "x", color: FAILED, size: 9}, customdata: failed.map(key),
        text: failed.map((r) => scoreText(r, null)), hovertemplate: hover, xaxis: axes[0], yaxis: axes[1]});
      legend.failed = true;
    }
    if (pruned.length) {
      const ys = pruned.map((r) => (num(r.val_score) ? r.val_score : edges.pruned));
      traces.push({type: "scatter", mode: "markers", name: "pruned trial", legendgroup: "pruned",
        showlegend: legend.pruned !== true, x: pruned.map(x), y: ys,
        marker: {symbol: "circle-open", color: PRUNED, size: 9, line: {width: 1.5}},
        customdata: pruned.map(key), text: pruned.map((r) => scoreText(r, r.val_score)),
        hovertemplate: hover, xaxis: axes[0], yaxis: axes[1]});
      legend.pruned = true;
    }
    return {traces, points: failed.length + pruned.length};
  }
  // Trial numbers, epochs and whole-number hyperparameters: ticks 1, 2, 5, 10, ... apart,
  // never at 1.5 (Plotly's automatic ticks go fractional over a short range).
  function wholeTicks(values) {
    const v = values.filter(num);
    const span = v.length ? Math.max(...v) - Math.min(...v) : 0;
    let step = 1;
    for (let k = 0; span / step > 8; k++) step = [2, 5, 10][k % 3] * 10 ** Math.floor(k / 3);
    return {tickmode: "linear", tick0: 0, dtick: step, tickformat: "d"};
  }
  const whole = (values) => values.every((v) => !num(v) || Number.isInteger(v));
  const groupEdges = (rows) => HP.edges(rows.map((r) => (r.ok ? r.score : r.pruned ? r.val_score : null)));
  const yTitle = (rows) => `${rows[0].group}<br>(${HP.direction(rows[0].higher)})`;

  // #plot-progress: score by finish order, best so far as a step line; one panel per metric group.
  function progress(div, rows) {
    const groups = unique(rows.map((r) => r.group));
    const grid = HP.grid(groups.length, 1, groups.length > 1 ? groups : null, {y: 0.16});
    const traces = [], legend = {};
    let points = 0;
    groups.forEach((g, i) => {
      const axes = grid.axes[i], gr = rows.filter((r) => r.group === g);
      for (const engine of unique(gr.map((r) => r.engine))) {
        const er = gr.filter((r) => r.engine === engine), ok = er.filter((r) => r.ok);
        const color = engineColor(engine), best = er.filter((r) => num(r.best));
        traces.push({type: "scatter", mode: "lines", name: `${engine} best so far`, legendgroup: engine,
          showlegend: !legend[engine], x: best.map((r) => r.order), y: best.map((r) => r.best),
          line: {color, width: 2, shape: "hv"}, hoverinfo: "skip", xaxis: axes[0], yaxis: axes[1]});
        traces.push({type: "scatter", mode: "markers", name: engine, legendgroup: engine,
          showlegend: !legend[engine], x: ok.map((r) => r.order), y: ok.map((r) => r.score),
          marker: {color, size: 8}, customdata: ok.map(key), text: ok.map((r) => scoreText(r, r.score)),
          hovertemplate: hover, xaxis: axes[0], yaxis: axes[1]});
        legend[engine] = true;
        points += ok.length;
      }
      const bad = badMarks(gr, (r) => r.order, groupEdges(gr), axes, legend);
      traces.push(...bad.traces);
      points += bad.points;
      const k = i ? i + 1 : "";
      Object.assign(grid.layout[`xaxis${k}`], wholeTicks(gr.map((r) => r.order)), {title: {text: "trial (finish order)"}});
      grid.layout[`yaxis${k}`].title = {text: yTitle(gr)};
    });
    HP.plot(div, rows.length ? traces : [], Object.assign(grid.layout, {height: 150 + 300 * groups.length}), points);
    clickable(div);
  }

  function timeUnit(max) {
    if (max > 3 * 3600) return [3600, "h"];
    if (max > 600) return [60, "min"];
    return [1, "s"];
  }
  // #plot-time: best so far against elapsed wall time or cumulative fit time.
  function time(div, rows, field) {
    const withBest = rows.filter((r) => num(r.best) && num(r[field]));
    const groups = unique(withBest.map((r) => r.group));
    const grid = HP.grid(groups.length, 1, groups.length > 1 ? groups : null, {y: 0.16});
    const [scale, unit] = timeUnit(Math.max(0, ...withBest.map((r) => r[field])));
    const traces = [], shown = new Set();
    groups.forEach((g, i) => {
      const gr = withBest.filter((r) => r.group === g), k = i ? i + 1 : "";
      for (const engine of unique(gr.map((r) => r.engine))) {
        const er = gr.filter((r) => r.engine === engine).sort((a, b) => a[field] - b[field]);
        traces.push({type: "scatter", mode: "lines+markers", name: engine, legendgroup: engine,
          showlegend: !shown.has(engine), x: er.map((r) => r[field] / scale), y: er.map((r) => r.best),
          line: {color: engineColor(engine), shape: "hv", width: 2}, marker: {size: 5},
          customdata: er.map(key), text: er.map((r) => `best so far ${HP.fmt(r.best)}`),
          hovertemplate: hover, xaxis: grid.axes[i][0], yaxis: grid.axes[i][1]});
        shown.add(engine);
      }
      grid.layout[`xaxis${k}`].title = {text: `${field === "cum_fit" ? "cumulative fit time" : "elapsed time"} (${unit})`};
      grid.layout[`yaxis${k}`].title = {text: `best ${yTitle(gr)}`};
    });
    HP.plot(div, traces, Object.assign(grid.layout, {height: 130 + 280 * groups.length}), withBest.length,
      rows.length ? "No successful trials yet." : "No trials yet.");
  }

  const paramNames = (rows) => unique(rows.flatMap(Object.keys)).filter((k) => k.startsWith("param_") &&
    rows.some((r) => r[k] !== null && r[k] !== undefined && r[k] !== ""));
  const isNumeric = (rows, p) => rows.every((r) => r[p] === null || r[p] === undefined || num(r[p]));
  // Rates and penalties are searched on a log scale: plot them so (all values must be > 0).
  const logScale = (rows, p) => /learning_rate|(^|_)lr$|weight_decay|(^|_)l[12]$/.test(p) &&
    rows.every((r) => !num(r[p]) || r[p] > 0);
  function logTicks(values) {  // 1, 2, 5 times powers of ten across the data: readable labels
    const v = values.filter((x) => num(x) && x > 0);
    if (!v.length) return {};
    const lo = Math.min(...v), hi = Math.max(...v), ticks = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) {
        const t = m * 10 ** e;
        if (t >= lo / 1.5 && t <= hi * 1.5) ticks.push(Number(t.toPrecision(1)));
      }
    }
    return {tickvals: ticks, ticktext: ticks.map(HP.fmt)};
  }

  // #plot-params: small multiples of score against each hyperparameter, per metric group.
  function params(div, rows) {
    const names = paramNames(rows), groups = unique(rows.map((r) => r.group));
    const cells = groups.flatMap((g) => names.map((p) => [g, p]));
    const width = div.parentElement.clientWidth || 800;
    const ncols = Math.max(1, Math.min(cells.length, width < 560 ? 1 : width < 900 ? 2 : 3));
    const titles = cells.map(([g, p]) => p.replace(/^param_/, "") + (groups.length > 1 ? ` · ${g}` : ""));
    const grid = HP.grid(cells.length, ncols, titles, {x: 0.08, y: 0.5 / Math.max(1, Math.ceil(cells.length / ncols))});
    const traces = [], legend = {};
    let points = 0;
    cells.forEach(([g, p], i) => {
      const axes = grid.axes[i], k = i ? i + 1 : "", gr = rows.filter((r) => r.group === g);
      const numeric = isNumeric(gr, p), at = (r) => (r[p] === null || r[p] === undefined ? null : numeric ? r[p] : String(r[p]));
      for (const engine of unique(gr.map((r) => r.engine))) {
        const ok = gr.filter((r) => r.engine === engine && r.ok && at(r) !== null && at(r) !== undefined);
        const color = engineColor(engine);
        const common = {name: engine, legendgroup: engine, showlegend: !legend[engine], x: ok.map(at),
          y: ok.map((r) => r.score), customdata: ok.map(key), text: ok.map((r) => scoreText(r, r.score)),
          hovertemplate: hover, xaxis: axes[0], yaxis: axes[1]};
        traces.push(numeric ? Object.assign(common, {type: "scatter", mode: "markers", marker: {color, size: 7, opacity: 0.85}})
          : Object.assign(common, {type: "box", boxpoints: "all", jitter: 0.5, pointpos: 0, offsetgroup: engine,
            marker: {color, size: 6}, line: {color, width: 1}, fillcolor: "rgba(0,0,0,0)"}));
        legend[engine] = true;
        points += ok.length;
      }
      const bad = badMarks(gr, at, groupEdges(gr), axes, legend);
      traces.push(...bad.traces);
      points += bad.points;
      const log = numeric && logScale(gr, p);
      grid.layout[`xaxis${k}`].type = log ? "log" : numeric ? "linear" : "category";
      if (log) Object.assign(grid.layout[`xaxis${k}`], logTicks(gr.map((r) => r[p])));
      else if (numeric && whole(gr.map((r) => r[p]))) Object.assign(grid.layout[`xaxis${k}`], wholeTicks(gr.map((r) => r[p])));
      if (!numeric) grid.layout[`xaxis${k}`].categoryorder = "category ascending";
      if (i % ncols === 0) grid.layout[`yaxis${k}`].title = {text: yTitle(gr), font: {size: 11}};
    });
    const nrows = Math.ceil(cells.length / ncols);
    HP.plot(div, rows.length && cells.length ? traces : [], Object.assign(grid.layout,
      {height: 120 + 250 * nrows, boxmode: "group", margin: {l: 60, r: 20, t: 40, b: 40}}), points,
    rows.length ? "No hyperparameters recorded." : "No trials yet.");
    clickable(div);
  }

  // #plot-parallel: parallel coordinates of the successful trials of the biggest metric group,
  // score as the last axis. Drawn as SVG lines, not Plotly's parcoords: that one needs WebGL and
  // compiles code at run time, which the server's Content-Security-Policy (script-src 'self') blocks.
  const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
  function parallel(div, rows) {
    const ok = rows.filter((r) => r.ok && num(r.score));
    const count = (g) => ok.filter((r) => r.group === g).length;
    const groups = unique(ok.map((r) => r.group)).sort((a, b) => count(b) - count(a));
    const gr = ok.filter((r) => r.group === groups[0]);
    const dims = [];  // {label, pos: value in 0..1 per trial, text per trial, ticks: [[pos, text]]}
    const scaled = (label, values, show, log) => {
      const v = values.map((x) => (log ? Math.log10(x) : x)), lo = Math.min(...v), hi = Math.max(...v);
      const pos = v.map((x) => (hi > lo ? (x - lo) / (hi - lo) : 0.5));
      dims.push({label, pos, text: values.map(show), ticks: hi > lo ? [[0, show(values[v.indexOf(lo)])], [1, show(values[v.indexOf(hi)])]] : [[0.5, show(values[0])]]});
    };
    const categorical = (label, values) => {
      const cats = unique(values.map(String)).sort(), at = (c) => (cats.length > 1 ? cats.indexOf(c) / (cats.length - 1) : 0.5);
      dims.push({label, pos: values.map((v) => at(String(v))), text: values.map(String), ticks: cats.map((c) => [at(c), c])});
    };
    if (unique(gr.map((r) => r.engine)).length > 1) categorical("engine", gr.map((r) => r.engine));
    for (const p of paramNames(gr)) {
      const values = gr.map((r) => r[p]), label = p.replace(/^param_/, "");
      if (values.some((v) => v === null || v === undefined)) continue;  // an axis needs every trial
      if (!isNumeric(gr, p)) categorical(label, values);
      else scaled(logScale(gr, p) ? `${label} (log)` : label, values, HP.fmt, logScale(gr, p));
    }
    const traces = [], layout = {height: 420, showlegend: false, margin: {l: 30, r: 30, t: 30, b: 60},
      hovermode: "closest", shapes: [], annotations: []};
    if (gr.length) {
      const higher = gr[0].higher;
      scaled(yTitle(gr).replace("<br>", " "), gr.map((r) => r.score), HP.fmt, false);
      const last = dims[dims.length - 1].pos;  // the score axis: the better, the brighter
      const bin = (i) => Math.min(9, Math.floor((higher ? last[i] : 1 - last[i]) * 10));
      for (let b = 0; b < 10; b++) {  // one trace per color bin, trials separated by nulls
        const x = [], y = [], text = [];
        gr.forEach((r, i) => {
          if (bin(i) !== b) return;
          dims.forEach((d, j) => { x.push(j); y.push(d.pos[i]); text.push(`${key(r)}<br>${d.label} ${d.text[i]}`); });
          x.push(null); y.push(null); text.push("");
        });
        if (x.length) traces.push({type: "scatter", mode: "lines+markers", x, y, text, hovertemplate: "%{text}<extra></extra>",
          line: {color: VIRIDIS[b], width: 1.6}, marker: {color: VIRIDIS[b], size: 4}, connectgaps: false});
      }
      dims.forEach((d, j) => {
        layout.shapes.push({type: "line", x0: j, x1: j, y0: 0, y1: 1, line: {color: "#999", width: 1}});
        for (const [pos, t] of d.ticks) {
          layout.annotations.push({x: j, y: pos, text: t, showarrow: false, xanchor: "left", xshift: 3,
            font: {size: 10, color: "#333"}, bgcolor: "rgba(255,255,255,0.7)"});
        }
      });
      layout.xaxis = {tickvals: dims.map((_, j) => j), ticktext: dims.map((d) => d.label), range: [-0.2, dims.length - 0.4],
        showgrid: false, zeroline: false, automargin: true};
      layout.yaxis = {visible: false, range: [-0.06, 1.06], fixedrange: true};
    }
    HP.plot(div, traces, layout, gr.length, rows.length ? "No successful trials yet." : "No trials yet.");
    div.title = groups.length > 1 ? `metric group ${groups[0]}; other metric groups left out: ${groups.slice(1).join(", ")}` : "";
  }

  // Which history metric to draw for an engine: the val_ version of its metric group, else loss.
  function defaultMetric(metrics, group) {
    return [`val_${group}`, group, "val_loss", "loss"].find((m) => metrics.has(m)) || [...metrics][0];
  }
  const lowerIsBetter = (metric, group, higher) => {
    const base = metric.replace(/^val_/, "");
    return base === group ? !higher : base === "loss" || base.includes("error");
  };
  // #plot-curves: one line per (trial, fit, metric) of the shown trials, one panel per engine.
  function curves(div, histories, trials, shown, select) {
    const h = (histories && histories.rows) || {};
    const n = (h.engine || []).length;
    const metrics = unique(h.metric || []).sort();
    const current = select.value;  // keep the user's choice while the list grows
    select.replaceChildren(HP.el("option", {value: "", text: "validation score (default)"}),
      ...metrics.map((m) => HP.el("option", {value: m, text: m})));
    select.value = metrics.includes(current) ? current : "";
    const info = {};  // engine -> {group, higher, rank of each top trial}
    for (const r of trials.trials || []) info[r.engine] = info[r.engine] || {group: r.group, higher: r.higher};
    const lines = new Map();  // "engine/trial|fit|metric" -> {engine, trial, fit, metric, x: [], y: []}
    const perEngine = {};
    for (let i = 0; i < n; i++) (perEngine[h.engine[i]] = perEngine[h.engine[i]] || new Set()).add(h.metric[i]);
    const wanted = {};
    for (const [e, ms] of Object.entries(perEngine)) wanted[e] = select.value || defaultMetric(ms, (info[e] || {}).group);
    for (let i = 0; i < n; i++) {
      const k = `${h.engine[i]}/${h.trial[i]}`;
      if (!shown.has(k) || h.metric[i] !== wanted[h.engine[i]] || !num(h.value[i])) continue;
      const id = `${k}|${h.fit[i]}|${h.metric[i]}`;
      if (!lines.has(id)) lines.set(id, {engine: h.engine[i], trial: String(h.trial[i]), fit: String(h.fit[i]), metric: h.metric[i], x: [], y: []});
      lines.get(id).x.push(h.epoch[i]);
      lines.get(id).y.push(h.value[i]);
    }
    const engines = unique([...lines.values()].map((l) => l.engine));
    const grid = HP.grid(engines.length, 1, engines.length > 1 ? engines : null, {y: 0.22 / Math.max(1, engines.length - 1)});
    const traces = [], seen = new Set();
    // one color per shown trial across the engines (the legend is shared): top ones first
    const order = engines.flatMap((e) => unique([...((trials.top || {})[e] || []).map((t) => `${e}/${t}`),
      ...[...lines.values()].filter((l) => l.engine === e).map((l) => `${e}/${l.trial}`).sort()]));
    engines.forEach((engine, i) => {
      const k = i ? i + 1 : "", ls = [...lines.values()].filter((l) => l.engine === engine);
      const best = ((trials.top || {})[engine] || [])[0];
      for (const l of ls) {
        const pts = l.x.map((x, j) => [x, l.y[j]]).sort((a, b) => a[0] - b[0]);
        const tk = `${engine}/${l.trial}`;
        traces.push({type: "scatter", mode: "lines", name: `${engine} ${l.trial}${l.trial === best ? " (best)" : ""}`,
          legendgroup: tk, showlegend: !seen.has(tk), x: pts.map((p) => p[0]), y: pts.map((p) => p[1]),
          line: {color: RANK_COLORS[order.indexOf(tk) % RANK_COLORS.length], width: 1.6, dash: l.fit === "refit" ? "dash" : "solid"},
          hovertemplate: `${tk} fit ${l.fit}<br>epoch %{x}: %{y:.4g}<extra>${l.metric}</extra>`,
          xaxis: grid.axes[i][0], yaxis: grid.axes[i][1]});
        seen.add(tk);
      }
      const m = wanted[engine], e = info[engine] || {};
      Object.assign(grid.layout[`xaxis${k}`], wholeTicks(ls.flatMap((l) => l.x)));
      if (i === engines.length - 1) grid.layout[`xaxis${k}`].title = {text: "epoch"};
      grid.layout[`yaxis${k}`].title = {text: `${m}<br>(${lowerIsBetter(m, e.group, e.higher) ? "lower" : "higher"} is better)`};
    });
    HP.plot(div, traces, Object.assign(grid.layout, {height: 140 + 280 * engines.length}), traces.length,
      n ? "No curves for the shown trials and metric." : "No learning curves yet: each trial's appear when it ends.");
  }

  HP.runPlots = {progress, time, params, parallel, curves};
})();
