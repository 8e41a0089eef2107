// The run page: header, summary, downloads and trials from the run's API, pushed by the server
// as they change while the run is queued or running; plots drawn by run_plots.js (HP.runPlots).
"use strict";
(function () {
  const {el, fmt} = HP;
  const main = document.getElementById("run");
  const api = main.dataset.api;
  const LIVE = ["running", "queued"];
  const state = {detail: null, trials: {columns: [], trials: [], top: {}}, histories: null,
    picked: new Set(), unpicked: new Set()};  // curve selection beyond each engine's top 3
  let graceUntil = 0;  // after stop/resume, check fast a while even before the state moves
  const seen = {};  // JSON of the last rendered answers
  const $ = (id) => document.getElementById(id);

  // --- header, engines, buttons, summary, downloads ---
  const PLOT_FIELDS = new Set(["order", "ok", "failed", "pruned", "score", "group", "higher", "best",
    "cum_fit", "elapsed"]);
  const summaryTable = new HP.Table($("summary-table"), [], {sortable: true,
    rowAttrs: (r) => ({"data-engine": r.engine})});

  function summaryColumns(rows) {
    const keys = HP.unique(rows.flatMap(Object.keys));
    const has = (k) => keys.includes(k);
    const labels = {best_trial: "best trial", best_val_score: "best val score", best_cv_std: "cv std",
      n_trials: "trials", n_failed: "failed", n_pruned: "pruned", epochs_run_total: "epochs",
      fit_seconds_total: "fit seconds", engine_seconds: "engine seconds"};
    const pick = ["engine", "status", "metric", "best_trial", "best_val_score", "best_cv_std"]
      .concat(keys.filter((k) => k.startsWith("test_")), keys.filter((k) => k.startsWith("param_")),
        ["n_trials", "n_failed", "n_pruned", "epochs_run_total", "fit_seconds_total", "engine_seconds"]);
    return pick.filter(has).filter((k) => k !== "best_cv_std" || rows.some((r) => r[k] !== null))
      .map((k) => ({key: k, label: labels[k] || k.replace(/^param_/, ""),
        cell: k === "engine" ? (r) => [HP.swatch(r.engine), r.engine] : null,
        cls: k === "status" ? (r) => `status-${r.status}` : null}));
  }

  function size(bytes) {  // like Jinja's filesizeformat (decimal units)
    if (bytes === null || bytes === undefined) return "";
    if (bytes < 1000) return `${bytes} Bytes`;
    const units = ["kB", "MB", "GB", "TB"];
    let v = bytes, i = -1;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return `${v.toFixed(1)} ${units[i]}`;
  }

  function renderDetail(d) {
    const badge = $("run-state");
    if (main.dataset.state !== d.state) $("action-result").textContent = "";  // it took effect
    badge.className = `state state-${d.state}`;
    badge.textContent = d.state;
    main.dataset.state = d.state;
    $("run-message").textContent = d.message || "";
    $("run-dataset").textContent = fmt(d.dataset);
    $("run-engines").textContent = (d.engines || []).join(", ");
    $("run-started").textContent = HP.when(d.started_at);
    $("run-duration").textContent = HP.duration(d.duration_seconds);
    // tags link to the runs list filtered by them; both are edited there
    $("run-tags").replaceChildren(...(d.tags || []).flatMap((t) =>
      [el("a", {class: "tag", href: `/?tag=${encodeURIComponent(t)}`, text: t}), " "]),
    el("a", {class: "note", href: `/?q=${encodeURIComponent(d.run_id)}`, text: "edit on the runs page"}));
    $("run-note").textContent = d.note || "";
    const st = d.status || {}, engines = st.engines || {};
    $("engine-status").replaceChildren(...(st.engine_order || Object.keys(engines)).map((name) => {
      const e = engines[name] || {};
      const extra = [e.trials_failed ? `${e.trials_failed} failed` : "", e.trials_pruned ? `${e.trials_pruned} pruned` : ""]
        .filter(Boolean).join(", ");
      return el("div", {class: "engine", "data-engine": name},  // four cells of the .engines grid
        el("strong", {}, HP.swatch(name), name), HP.stateBadge(e.state),
        el("progress", {max: e.trials_planned || Math.max(e.trials_done || 0, 1), value: e.trials_done || 0}),
        el("span", {class: "counts"}, `${fmt(e.trials_done)}${e.trials_planned ? ` / ${e.trials_planned}` : ""} trials`,
          extra ? ` (${extra})` : "",
          e.best_score !== null && e.best_score !== undefined ? `, best ${fmt(e.best_score)} (trial ${e.best_trial})` : ""));
    }));
    $("stop-button").hidden = !d.can_stop;
    $("resume-button").hidden = !d.can_resume;
    const live = LIVE.includes(d.state);
    $("live-note").textContent = live ? "live: updated as trials finish" : "";
    const rows = d.summary || [];
    summaryTable.setColumns(summaryColumns(rows));
    summaryTable.setRows(rows);
    $("summary-table").hidden = !rows.length;
    $("summary-empty").hidden = rows.length > 0;
    $("downloads").replaceChildren(...(d.files || []).map((f) => el("li", {},
      // saved as STUDY-RUN_ID-FILE: best models of several runs do not overwrite each other
      el("a", {href: f.url, download: /\.html$/.test(f.name) ? null : f.download || true, text: f.name}), " ",
      el("span", {class: "note", text: size(f.bytes)}))));
  }

  // --- trials table: sort by header, filter by text/status/engine, click a row for its curves ---
  const key = (r) => `${r.engine}/${r.trial}`;
  function shownCurves() {  // "engine/trial" keys whose learning curves are drawn
    const keys = new Set();
    for (const [engine, ids] of Object.entries(state.trials.top || {})) {
      for (const t of ids.slice(0, 3)) keys.add(`${engine}/${t}`);
    }
    for (const k of state.picked) keys.add(k);
    for (const k of state.unpicked) keys.delete(k);
    return keys;
  }
  function trialColumns(columns) {
    // the score right after the parameters; the wide, mostly empty error column last
    const want = ["engine", "trial", "status"].concat(columns.filter((c) => c.startsWith("param_")),
      ["val_score", "cv_std", "epochs_run", "fit_seconds", "finished_at", "error"]);
    return want.filter((c) => columns.includes(c) && !PLOT_FIELDS.has(c)).map((c) => ({
      key: c, label: c.replace(/^param_/, ""),
      cls: c === "status" ? (r) => `status-${r.status}` : c === "error" ? () => "error" : null,
      format: c === "finished_at" ? HP.when : null,
    }));
  }
  const trialsTable = new HP.Table($("trials-table"), [], {
    sortable: true,
    rowAttrs: (r) => {
      const top = (state.trials.top || {})[r.engine] || [];
      const cls = [top[0] === r.trial ? "best" : "", r.status === "failed" ? "failed" : "",
        r.status === "pruned" ? "pruned" : "", shownCurves().has(key(r)) ? "in-curves" : ""];
      return {"data-trial": key(r), class: cls.filter(Boolean).join(" ") || null, title: "click: show or hide its learning curves"};
    },
    onRender: (rows, table) => {
      $("trials-count").textContent = `${rows.length} of ${table.rows.length} trials`;
      $("trials-empty").hidden = table.rows.length > 0;
    },
  });
  function applyFilter() {
    const text = $("trials-filter").value.trim().toLowerCase();
    const status = $("status-filter").value, engine = $("engine-filter").value;
    trialsTable.setFilter((r, table) => (status === "all" || r.status === status) &&
      (engine === "all" || r.engine === engine) &&
      (!text || table.columns.some((c) => table.text(c, r).toLowerCase().includes(text))));
  }
  $("trials-filter").addEventListener("input", applyFilter);
  $("status-filter").addEventListener("change", applyFilter);
  $("engine-filter").addEventListener("change", applyFilter);

  function toggleCurve(k) {
    if (shownCurves().has(k)) { state.picked.delete(k); state.unpicked.add(k); }
    else { state.unpicked.delete(k); state.picked.add(k); }
    trialsTable.render();
    renderCurves();
  }
  $("trials-table").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tbody tr[data-trial]");
    if (tr && !window.getSelection().toString()) toggleCurve(tr.dataset.trial);
  });
  $("curves-reset").addEventListener("click", () => {
    state.picked.clear(); state.unpicked.clear(); trialsTable.render(); renderCurves();
  });

  function renderTrials(t) {
    const engines = HP.unique(t.trials.map((r) => r.engine));
    const select = $("engine-filter");  // engines can appear while the run goes on
    for (const e of engines) {
      if (![...select.options].some((o) => o.value === e)) select.append(el("option", {value: e, text: e}));
    }
    trialsTable.setColumns(trialColumns(t.columns && t.columns.length ? t.columns : Object.keys(t.trials[0] || {})));
    trialsTable.rows = t.trials;
    applyFilter();
  }

  // --- plots ---
  const plots = HP.runPlots;
  function renderPlots() {
    const rows = state.trials.trials;
    plots.progress($("plot-progress"), rows);
    plots.time($("plot-time"), rows, $("time-axis").value);
    plots.params($("plot-params"), rows);
    plots.parallel($("plot-parallel"), rows);
  }
  function renderCurves() {
    plots.curves($("plot-curves"), state.histories, state.trials, shownCurves(), $("curve-metric"));
  }
  // The hyperparameter grid's column count follows the width (phones fire resize on scroll
  // as the address bar hides: only a width change counts).
  let resizeTimer = null, lastWidth = window.innerWidth;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (window.innerWidth === lastWidth || !state.detail) return;
      lastWidth = window.innerWidth;
      renderPlots();
    }, 400);
  });
  $("time-axis").addEventListener("change", () => plots.time($("plot-time"), state.trials.trials, $("time-axis").value));
  $("curve-metric").addEventListener("change", renderCurves);
  for (const id of ["plot-progress", "plot-params"]) {  // a click on a trial's mark toggles its curves
    $(id).addEventListener("plotly_click_key", (ev) => toggleCurve(ev.detail));
  }

  // --- loading, pushed changes, checks ---
  const importanceTable = new HP.Table($("importance-table"), [
    {key: "engine", cell: (r) => [HP.swatch(r.engine), r.engine]},
    {key: "parameter"},
    {key: "importance", format: (v) => Number(v).toFixed(3)},
  ], {sortable: true});
  function renderImportance(imp) {  // fANOVA over the finished trials
    importanceTable.setRows(imp.rows);
    $("importance-table").hidden = !imp.rows.length;
    $("importance-note").textContent = imp.note;
  }
  // Re-render only what changed: a redraw at each event would drop text selections and hovers.
  const changed = (name, value) => {
    const sig = JSON.stringify(value);
    if (seen[name] === sig) return false;
    seen[name] = sig;
    return true;
  };
  function show(kind, value) {  // one answer of the run's API, fetched or pushed
    if (kind === "detail") { state.detail = value; if (changed("detail", value)) renderDetail(value); }
    if (kind === "trials") {
      state.trials = value;
      if (changed("trials", value)) { renderTrials(value); renderPlots(); renderCurves(); }
    }
    if (kind === "histories") { state.histories = value; if (changed("histories", value)) renderCurves(); }
    if (kind === "importance") renderImportance(value);
    $("live-note").classList.remove("error");
  }
  async function loadTables() {  // a run that is not live: its answers fetched once
    show("trials", await HP.fetchJSON(`${api}/trials`));
    try { show("histories", await HP.fetchJSON(`${api}/histories`)); } catch (e) { state.histories = null; }
    try {
      show("importance", await HP.fetchJSON(`${api}/importance`));
    } catch (e) {
      $("importance-note").textContent = `importances failed: ${e.message}`;
    }
  }

  // A queued or running run's changes are pushed (GET .../events, Server-Sent Events): one
  // watcher on the server for all its pages, nothing asked between changes. The stream ends
  // with the run; an interrupted run is checked every 5 s (a resume from elsewhere brings it
  // back), and the stream is opened again when it is live.
  let source = null;
  function follow() {
    if (source || document.hidden) return;
    source = new EventSource(`${api}/events`);
    for (const kind of ["detail", "trials", "histories", "importance"]) {
      source.addEventListener(kind, (ev) => show(kind, JSON.parse(ev.data)));
    }
    // After `end` the server closes the stream; closing it here first would abort the request
    // (Chromium reports it as failed): the close is left to the server, then ours stops the
    // browser's reconnect.
    let ended = false;
    source.addEventListener("end", () => { ended = true; });
    source.onerror = () => {
      if (ended) {
        unfollow();
        if (state.detail.state === "interrupted" || Date.now() < graceUntil) checker.start(false);
        return;
      }
      // the browser reconnects by itself (the server said: in 2 s)
      $("live-note").textContent = "connection lost: reconnecting";
      $("live-note").classList.add("error");
    };
  }
  function unfollow() { if (source) source.close(); source = null; }
  document.addEventListener("visibilitychange", () => {  // a hidden tab costs the server nothing
    if (document.hidden) unfollow();
    else if (!state.detail || LIVE.includes(state.detail.state)) follow();
  });
  async function check() {
    try {
      const before = state.detail && state.detail.state;
      show("detail", await HP.fetchJSON(api));
      if (!LIVE.includes(state.detail.state) && state.detail.state !== before) await loadTables();
    } catch (e) {
      $("live-note").textContent = `update failed: ${e.message}`;
      $("live-note").classList.add("error");
      return true;  // keep trying: the server may be restarting
    }
    if (LIVE.includes(state.detail.state)) { follow(); return false; }
    if (Date.now() < graceUntil) return true;
    return state.detail.state === "interrupted" ? 5000 : false;
  }
  const checker = new HP.Poller(check, 2000);

  async function act(button, url, done) {
    const error = $("action-error");
    error.hidden = true;
    button.disabled = true;
    try {
      const answer = await HP.post(url);
      $("action-result").textContent = `${done}: job ${(answer.job || {}).id || ""}`;
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
    graceUntil = Date.now() + 15000;
    if (!source) checker.start();  // a resumed run is queued again: follow it
  }
  $("stop-button").addEventListener("click", () => act($("stop-button"), `${api}/stop`, "stop requested"));
  $("resume-button").addEventListener("click", () => act($("resume-button"), `${api}/resume`, "resume queued"));

  (async () => {
    try {
      show("detail", await HP.fetchJSON(api));
      if (LIVE.includes(state.detail.state)) follow();  // the stream sends the rest at once
      else await loadTables();
    } catch (e) {
      $("live-note").textContent = `could not load the run: ${e.message}`;
      $("live-note").classList.add("error");
      checker.start(false);
      return;
    }
    if (state.detail.state === "interrupted") checker.start(false);
  })();
})();
