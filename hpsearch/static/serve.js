// Shared helpers of the hpsearch serve pages: JSON fetches, polling, tables, formatting, plots.
// Plain script (no modules, no build step): everything hangs off window.HP.
"use strict";
(function () {
  const HP = {};

  // --- formatting (mirrors hpsearch.templating.fmt so server and JS cells agree) ---
  function g4(x) {  // Python's f"{x:.4g}"
    const [mant, e] = x.toExponential(3).split("e");
    const exp = Number(e);
    const strip = (s) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
    if (exp < -4 || exp >= 4) {
      const digits = String(Math.abs(exp)).padStart(2, "0");
      return `${strip(mant)}e${exp < 0 ? "-" : "+"}${digits}`;
    }
    return strip(x.toFixed(Math.max(0, 3 - exp)));
  }
  HP.fmt = function (v) {
    if (v === null || v === undefined || (typeof v === "number" && Number.isNaN(v))) return "";
    if (typeof v === "number") {
      if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
      return Math.abs(v) >= 1000 ? v.toFixed(1) : g4(v);
    }
    if (typeof v === "boolean") return v ? "True" : "False";
    return String(v);
  };
  HP.duration = function (s) {  // same rule as the runs.html macro
    if (s === null || s === undefined) return "";
    if (s < 60) return `${Math.round(s)} s`;
    if (s < 3600) return `${(s / 60).toFixed(1)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  };
  // ISO time as the server wrote it (UTC), minutes precision: same text as the templates.
  HP.when = (iso) => (iso ? String(iso).slice(0, 16).replace("T", " ") : "");

  // --- DOM ---
  HP.el = function (tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  };
  HP.stateBadge = (state, id) =>
    HP.el("span", {id, class: `state state-${state || "unknown"}`, text: state || "unknown"});

  // --- engine colors: fixed by name so an engine keeps its color on every page ---
  const PALETTE = ["#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f"];
  // each engine's own colour, from the registry (base.html), as in the static report
  const KNOWN = JSON.parse(document.body.dataset.colours || "{}");
  HP.FAILED = "#d62728";
  HP.PRUNED = "#8c8c8c";
  HP.engineColor = function (name) {
    if (KNOWN[name]) return KNOWN[name];
    let h = 0;
    for (const ch of String(name)) h = (h + ch.charCodeAt(0)) % 9973;
    return PALETTE[h % PALETTE.length];
  };
  HP.swatch = (engine) => HP.el("span", {class: "swatch", style: `background:${HP.engineColor(engine)}`});

  // --- HTTP: every API answer is JSON; errors carry {"error": "one line"} ---
  HP.fetchJSON = async function (url, options) {
    const resp = await fetch(url, Object.assign({credentials: "same-origin",
      headers: {Accept: "application/json"}}, options || {}));
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    if (!resp.ok) {
      const err = new Error((body && body.error) || `${resp.status} ${resp.statusText}`);
      err.status = resp.status;
      throw err;
    }
    return body;
  };
  HP.post = (url, body, contentType) => HP.fetchJSON(url, {method: "POST", body,
    headers: Object.assign({Accept: "application/json"},
      contentType ? {"Content-Type": contentType} : {})});

  // --- polling: one tick at a time, paused while the tab is hidden ---
  // tick() returns true to poll again after ms, a number for another delay, false to stop;
  // start() re-arms a stopped poller.
  HP.Poller = class {
    constructor(tick, ms) {
      this.tick = tick; this.ms = ms; this.timer = null; this.active = false; this.busy = false;
      document.addEventListener("visibilitychange", () => {
        if (document.hidden) this.clear();
        else if (this.active) this.run();
      });
    }
    clear() { if (this.timer) clearTimeout(this.timer); this.timer = null; }
    start(now = true) { this.active = true; this.clear(); if (now) this.run(); else this.arm(); }
    stop() { this.active = false; this.clear(); }
    arm(ms) { this.clear(); if (this.active && !document.hidden) this.timer = setTimeout(() => this.run(), ms || this.ms); }
    async run() {
      if (this.busy) return;
      this.busy = true; this.clear();
      let again = true;
      try { again = await this.tick(); } catch (e) { console.warn("poll failed:", e.message); }
      this.busy = false;
      if (again === false) this.active = false;
      this.arm(typeof again === "number" ? again : this.ms);
    }
  };

  // --- sortable, filterable table, keeping its sort across re-renders ---
  // columns: [{key, label, value(row) -> sortable value, cell(row) -> Node|string, cls(row)}]
  const blank = (v) => v === null || v === undefined || v === "" || (typeof v === "number" && Number.isNaN(v));
  HP.compare = function (a, b) {  // numbers numerically, text naturally; blanks handled by caller
    if (typeof a === "number" && typeof b === "number") return a - b;
    const na = Number(a), nb = Number(b);
    if (a !== "" && b !== "" && !Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
    return String(a).localeCompare(String(b), undefined, {numeric: true});
  };
  HP.Table = class {
    constructor(table, columns, opts) {
      this.table = table; this.columns = columns; this.opts = opts || {};
      this.rows = []; this.sort = this.opts.sort || null;  // {key, desc}
      this.filter = null;
      table.addEventListener("click", (ev) => {
        const th = ev.target.closest("th[data-key]");
        if (!th || !this.opts.sortable) return;
        const key = th.dataset.key;
        this.sort = this.sort && this.sort.key === key ? {key, desc: !this.sort.desc} : {key, desc: false};
        this.render();
      });
    }
    setColumns(columns) { this.columns = columns; }
    setRows(rows) { this.rows = rows; this.render(); }
    setFilter(fn) { this.filter = fn; this.render(); }
    value(col, row) { return col.value ? col.value(row) : row[col.key]; }
    text(col, row) { const v = this.value(col, row); return col.format ? col.format(v, row) : HP.fmt(v); }
    visibleRows() {
      let rows = this.filter ? this.rows.filter((r) => this.filter(r, this)) : this.rows.slice();
      const col = this.sort && this.columns.find((c) => c.key === this.sort.key);
      if (col) {
        const sign = this.sort.desc ? -1 : 1;
        rows = rows.map((r, i) => [r, i]).sort(([a, i], [b, j]) => {
          const va = this.value(col, a), vb = this.value(col, b);
          if (blank(va) || blank(vb)) return blank(va) - blank(vb) || i - j;  // blanks last, always
          return sign * HP.compare(va, vb) || i - j;
        }).map(([r]) => r);
      }
      return rows;
    }
    render() {
      const head = HP.el("tr", {}, this.columns.map((c) => {
        const sorted = this.sort && this.sort.key === c.key;
        const mark = sorted ? (this.sort.desc ? " ▼" : " ▲") : "";
        return HP.el("th", {"data-key": c.key, scope: "col", class: this.opts.sortable ? "sortable" : null,
          "aria-sort": sorted ? (this.sort.desc ? "descending" : "ascending") : null},
        c.label === undefined ? c.key : c.label, mark);
      }));
      const rows = this.visibleRows();
      const body = rows.map((r) => {
        const tr = HP.el("tr", this.opts.rowAttrs ? this.opts.rowAttrs(r) : {});
        for (const c of this.columns) {
          const content = c.cell ? c.cell(r) : this.text(c, r);
          tr.append(HP.el("td", {class: c.cls ? c.cls(r) : null}, content));
        }
        return tr;
      });
      this.table.replaceChildren(HP.el("thead", {}, head), HP.el("tbody", {}, body));
      if (this.opts.onRender) this.opts.onRender(rows, this);
    }
  };

  // --- plots ---
  HP.PLOT_CONFIG = {responsive: true, displaylogo: false};
  // Draw into div, or show the figure's empty note; data-points tells tests what was drawn.
  HP.plot = function (div, traces, layout, points, emptyText) {
    const note = div.parentElement.querySelector(".empty");
    div.dataset.points = String(points || 0);
    if (!traces || !traces.length) {
      if (div.dataset.drawn) { Plotly.purge(div); delete div.dataset.drawn; }
      div.hidden = true;
      if (note) { note.textContent = emptyText || "No trials yet."; note.hidden = false; }
      return;
    }
    if (note) note.hidden = true;
    div.hidden = false;
    // the legend sits a fixed distance under the plot area, whatever the figure's height
    const inner = (layout.height || 450) - 90;
    const base = {uirevision: "keep", margin: {l: 60, r: 20, t: 30, b: 50}, hovermode: "closest",
      legend: {orientation: "h", y: -Math.min(0.4, 75 / inner), yanchor: "top"}, font: {size: 12}};
    Plotly.react(div, traces, Object.assign(base, layout), HP.PLOT_CONFIG);
    div.dataset.drawn = "1";
  };
  // Axes for a grid of n subplots: layout entries and title annotations, domains computed here
  // so titles can sit above each cell. Returns {layout, axes: [[xname, yname]...]}.
  HP.grid = function (n, ncols, titles, gap) {
    const nrows = Math.ceil(n / ncols), gx = (gap && gap.x) || 0.06, gy = (gap && gap.y) || 0.12;
    const w = (1 - gx * (ncols - 1)) / ncols, h = (1 - gy * (nrows - 1)) / nrows;
    const layout = {annotations: []}, axes = [];
    for (let i = 0; i < n; i++) {
      const r = Math.floor(i / ncols), c = i % ncols, k = i ? i + 1 : "";
      const x0 = c * (w + gx), y1 = 1 - r * (h + gy);
      layout[`xaxis${k}`] = {domain: [x0, x0 + w], anchor: `y${k}`, automargin: true};
      layout[`yaxis${k}`] = {domain: [y1 - h, y1], anchor: `x${k}`, automargin: true};
      axes.push([`x${k}`, `y${k}`]);
      if (titles && titles[i]) {
        layout.annotations.push({text: titles[i], xref: "paper", yref: "paper", x: x0 + w / 2,
          y: y1, yanchor: "bottom", xanchor: "center", showarrow: false, font: {size: 12}});
      }
    }
    return {layout, axes};
  };
  // Heights of the marks without a score, below every score of the group: failed lowest.
  HP.edges = function (values) {
    const v = values.filter((x) => typeof x === "number" && Number.isFinite(x));
    if (!v.length) return {failed: 0, pruned: 0.5};
    const lo = Math.min(...v), hi = Math.max(...v);
    const span = hi - lo || Math.abs(hi) * 0.1 || 1;
    return {failed: lo - 0.14 * span, pruned: lo - 0.07 * span};
  };
  HP.direction = (higher) => (higher ? "higher is better" : "lower is better");
  HP.unique = (xs) => [...new Set(xs)];

  window.HP = HP;
})();
