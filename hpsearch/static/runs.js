// The runs page: runs and job queue, refreshed from /api/runs every 2 s; search and filters
// (asked of the API, which filters the same way for every client); tags, notes, delete with a
// confirm step, the trash and restore; study submission.
"use strict";
(function () {
  const {el, fmt} = HP;
  const main = document.getElementById("runs-page");
  const api = main.dataset.api || "/api/runs";
  const picked = new Set();  // run ids ticked for comparison, kept across re-renders
  const compareButton = document.getElementById("compare-button");
  const ACTIVE = ["running", "queued"];

  function bestLines(run) {
    return (run.best || []).map((b) => {
      const test = b.test_score !== null && b.test_score !== undefined;
      return el("div", {}, HP.swatch(b.engine), `${b.engine} `,
        test ? `${b.test_metric} ${fmt(b.test_score)}` : `${b.metric || "val"} ${fmt(b.best_val_score)}`);
    });
  }
  const bestValue = (run) => {  // sort key: the first engine's shown score
    const b = (run.best || [])[0];
    return b ? (b.test_score ?? b.best_val_score) : null;
  };

  // --- tags, notes, delete: a row's buttons; a delete asks to be confirmed in its row ---
  let confirming = null;  // the run whose delete awaits its confirmation
  const manageResult = document.getElementById("manage-result");
  const manageError = document.getElementById("manage-error");
  function manageCell(r) {
    const live = ACTIVE.includes(r.state);
    if (confirming === r.id) {
      return el("div", {class: "actions"}, el("span", {class: "note", text: "Move to the trash?"}),
        el("button", {type: "button", class: "confirm-delete danger", "data-run": r.id, text: "Delete"}),
        el("button", {type: "button", class: "keep-run", text: "Keep"}));
    }
    return el("div", {class: "actions"},
      el("button", {type: "button", class: "edit-meta", "data-run": r.id, text: "Tags"}),
      el("button", {type: "button", class: "delete-run", "data-run": r.id, disabled: live,
        title: live ? "a running or queued run cannot be deleted" : "move it to the trash", text: "Delete"}));
  }
  const said = (ok, text) => {
    manageResult.textContent = ok ? text : "";
    manageError.textContent = ok ? "" : text;
    manageError.hidden = ok;
  };
  const runPath = (id) => id.split("/").map(encodeURIComponent).join("/");

  const runsTable = new HP.Table(document.getElementById("runs-table"), [
    {key: "pick", label: "compare", value: (r) => (picked.has(r.id) ? 0 : 1), cell: (r) =>
      el("input", {type: "checkbox", class: "compare-pick", value: r.id, checked: picked.has(r.id),
        "aria-label": `compare ${r.id}`})},
    {key: "study", cell: (r) => el("a", {href: r.url, text: r.study})},
    {key: "run_id", label: "run id", cell: (r) => el("a", {href: r.url, text: r.run_id})},
    {key: "dataset"},
    {key: "engines", value: (r) => (r.engines || []).join(", "), cls: () => "wrap"},
    {key: "state", cell: (r) => [HP.stateBadge(r.state), r.message ? el("span", {class: "note message", text: ` ${r.message}`}) : null]},
    {key: "tags", value: (r) => (r.tags || []).join(" "), cls: () => "wrap", cell: (r) => [
      (r.tags || []).map((t) => [el("span", {class: "tag", text: t}), " "]),
      r.note ? el("span", {class: "note run-note", text: r.note}) : null]},
    {key: "best", label: "best score", value: bestValue, cell: bestLines, cls: () => "wrap"},
    {key: "trials", value: (r) => r.trials_done, cell: (r) =>
      fmt(r.trials_done) + (r.trials_planned === null || r.trials_planned === undefined ? "" : ` / ${fmt(r.trials_planned)}`)},
    {key: "started_at", label: "started", format: HP.when, cell: (r) =>
      el("span", {title: r.started_at || "", text: HP.when(r.started_at)})},
    {key: "duration_seconds", label: "duration", format: HP.duration},
    {key: "manage", value: () => null, cell: manageCell},
  ], {sortable: true, rowAttrs: (r) => ({"data-run": r.id})});

  function jobOrder(jobs) {  // running, then queued by position, then the rest newest first
    const rank = (j) => (j.state === "running" ? 0 : j.state === "queued" ? 1 : 2);
    return jobs.slice().sort((a, b) => rank(a) - rank(b) ||
      (rank(a) === 1 ? (a.position ?? 1e9) - (b.position ?? 1e9) : 0) ||
      String(b.submitted_at || "").localeCompare(String(a.submitted_at || "")));
  }
  const jobsTable = new HP.Table(document.getElementById("jobs-table"), [
    {key: "id", label: "job", cell: (j) => [j.id, j.state === "queued" ? [" ",
      el("button", {type: "button", class: "cancel-job", "data-job": j.id, text: "Cancel"})] : null]},
    {key: "study"}, {key: "kind"},
    {key: "state", cell: (j) => HP.stateBadge(j.state)},
    {key: "position"},
    {key: "submitted_at", label: "submitted", cell: (j) => el("span", {title: j.submitted_at || "", text: HP.when(j.submitted_at)})},
    {key: "run", cell: (j) => (j.run ? el("a", {href: `/runs/${j.run}`, text: j.run}) : "")},
    {key: "message", cell: (j) => (j.message ? el("span", {class: "note message", text: j.message}) : "")},
  ], {rowAttrs: (j) => ({"data-job": j.id})});

  function syncCompareButton() {
    compareButton.disabled = picked.size === 0;
    compareButton.textContent = picked.size ? `Compare selected (${picked.size})` : "Compare selected";
  }
  // Ticks made before the first refresh live in the server-rendered boxes: adopt them.
  for (const box of document.querySelectorAll("input.compare-pick:checked")) picked.add(box.value);
  syncCompareButton();

  document.getElementById("runs-table").addEventListener("change", (ev) => {
    const box = ev.target.closest("input.compare-pick");
    if (!box) return;
    if (box.checked) picked.add(box.value); else picked.delete(box.value);
    syncCompareButton();
  });
  compareButton.addEventListener("click", () => {
    if (!picked.size) return;
    const ids = [...document.querySelectorAll("#runs-table tr[data-run]")].map((tr) => tr.dataset.run)
      .filter((id) => picked.has(id));  // table order, then any ticked run no longer listed
    for (const id of picked) if (!ids.includes(id)) ids.push(id);
    window.location.href = "/compare?" + ids.map((id) => `run=${encodeURIComponent(id)}`).join("&");
  });

  const jobsError = document.getElementById("jobs-error");
  document.getElementById("jobs-table").addEventListener("click", async (ev) => {
    const button = ev.target.closest("button.cancel-job");
    if (!button) return;
    button.disabled = true;
    jobsError.hidden = true;
    try {
      await HP.post(`/api/jobs/${encodeURIComponent(button.dataset.job)}/cancel`);
    } catch (e) {
      jobsError.textContent = e.message;
      jobsError.hidden = false;
    }
    poller.start();
  });

  // --- the meta form: one run's tags and note ---
  const metaForm = document.getElementById("meta-form");
  const metaTags = document.getElementById("meta-tags"), metaNote = document.getElementById("meta-note");
  let editing = null;
  function openMeta(run) {
    editing = run.id;
    document.getElementById("meta-title").textContent = `Tags and note of ${run.id}`;
    metaTags.value = (run.tags || []).join(" ");
    metaNote.value = run.note || "";
    metaForm.hidden = false;
    metaForm.scrollIntoView({block: "nearest"});  // a row far down the list opens it above
    metaTags.focus();
  }
  document.getElementById("meta-cancel").addEventListener("click", () => { metaForm.hidden = true; editing = null; });
  metaForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const tags = metaTags.value.split(/[\s,]+/).filter(Boolean);
    try {
      await HP.fetchJSON(`/api/runs/${runPath(editing)}/meta`, {method: "PUT",
        headers: {Accept: "application/json", "Content-Type": "application/json"},
        body: JSON.stringify({tags, note: metaNote.value})});
      said(true, `saved the tags and note of ${editing}`);
      metaForm.hidden = true;
      editing = null;
      poller.start();
    } catch (e) { said(false, e.message); }  // the form stays open for fixing
  });

  let shown = [];  // the runs as last listed, for the buttons' rows
  document.getElementById("runs-table").addEventListener("click", async (ev) => {
    const button = ev.target.closest("button");
    if (!button) return;
    const id = button.dataset.run;
    if (button.classList.contains("edit-meta")) {
      const run = shown.find((r) => r.id === id);
      if (run) openMeta(run);
    } else if (button.classList.contains("delete-run")) {
      confirming = id;
      runsTable.render();
    } else if (button.classList.contains("keep-run")) {
      confirming = null;
      runsTable.render();
    } else if (button.classList.contains("confirm-delete")) {
      button.disabled = true;
      try {
        await HP.post(`/api/runs/${runPath(id)}/delete`);
        said(true, `moved ${id} to the trash`);
      } catch (e) { said(false, e.message); }
      confirming = null;
      picked.delete(id);
      syncCompareButton();
      poller.start();
      trash.load();
    }
  });

  // --- search and filters: sent to the API, kept in the page's address ---
  const filters = {q: document.getElementById("runs-q"), state: document.getElementById("runs-state"),
    engine: document.getElementById("runs-engine"), tag: document.getElementById("runs-tag")};
  const start = new URLSearchParams(window.location.search);
  for (const [name, input] of Object.entries(filters)) {
    const given = start.get(name);
    if (given && input.tagName === "SELECT" && ![...input.options].some((o) => o.value === given)) {
      input.append(el("option", {text: given}));  // a tag or engine no run has (any more)
    }
    if (given) input.value = given;
  }
  function query() {
    const params = new URLSearchParams();
    for (const [name, input] of Object.entries(filters)) if (input.value.trim()) params.set(name, input.value.trim());
    return params.toString();
  }
  function setOptions(select, values) {  // the facets of every run; the choice stays
    const keep = select.value;
    const wanted = HP.unique([...values, keep].filter(Boolean));
    const have = [...select.options].slice(1).map((o) => o.value);
    if (JSON.stringify(have) === JSON.stringify(wanted)) return;
    select.replaceChildren(el("option", {value: "", text: "any"}), ...wanted.map((v) => el("option", {text: v})));
    select.value = keep;
  }
  let typing = null;
  function refilter() {
    const q = query();
    window.history.replaceState(null, "", q ? `?${q}` : window.location.pathname);
    poller.start();
  }
  filters.q.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(refilter, 250); });
  for (const name of ["state", "engine", "tag"]) filters[name].addEventListener("change", refilter);

  const runsEmpty = document.getElementById("runs-empty");
  const noRuns = runsEmpty.textContent;
  let last = "";
  function render(data) {
    document.getElementById("runs-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    const sig = JSON.stringify(data);
    if (sig === last) return;  // unchanged: keep the rows (and a click in progress) as they are
    last = sig;
    const runs = data.runs || [], jobs = jobOrder(data.jobs || []);
    const active = jobs.filter((j) => ACTIVE.includes(j.state)).length;
    shown = runs;
    runsTable.setRows(runs);
    jobsTable.setRows(jobs.slice(0, Math.max(20, active)));
    const total = data.total ?? runs.length;
    document.getElementById("runs-count").textContent =
      runs.length === total ? `${total} runs` : `${runs.length} of ${total} runs`;
    setOptions(filters.engine, (data.facets || {}).engines || []);
    setOptions(filters.tag, (data.facets || {}).tags || []);
    runsEmpty.hidden = runs.length > 0;
    runsEmpty.textContent = total ? "No run matches the search and filters." : noRuns;
    document.getElementById("jobs-empty").hidden = jobs.length > 0;
  }
  const poller = new HP.Poller(async () => {
    const asked = query();
    const data = await HP.fetchJSON(asked ? `${api}?${asked}` : api);
    if (asked !== query()) return 1;  // the filters changed meanwhile: ask again at once
    render(data);
    return true;  // the list always polls: new runs and jobs can appear any time
  }, 2000);
  poller.start();
  const trash = HP.trashView(() => poller.start());
  trash.load();

  // --- submission ---
  const text = document.getElementById("study-text");
  const file = document.getElementById("study-file");
  const result = document.getElementById("submit-result");
  const error = document.getElementById("submit-error");
  let filename = "study.toml";
  file.addEventListener("change", () => {
    const f = file.files && file.files[0];
    if (!f) return;
    const reader = new FileReader();
    // sent as it is: the server cleans it ("my study.toml" is queued as "my-study.toml")
    reader.onload = () => { text.value = String(reader.result); filename = f.name; };
    reader.onerror = () => { error.textContent = `could not read ${f.name}`; error.hidden = false; };
    reader.readAsText(f);
  });
  text.addEventListener("input", () => { error.hidden = true; });
  document.getElementById("study-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = document.getElementById("submit-study");
    button.disabled = true;
    error.hidden = true;
    result.textContent = "";
    try {
      const answer = await HP.post(`/api/studies?filename=${encodeURIComponent(filename)}`,
        text.value, "application/toml");
      const job = answer.job || {};
      result.textContent = `queued as job ${job.id}` + (job.position ? ` (position ${job.position})` : "");
      poller.start();
    } catch (e) {
      error.textContent = e.message;  // the validator's one line; the text stays for fixing
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
})();
