// The runs page's "Your data" panel: upload a CSV / Parquet / NPZ file into the server's data
// folder, list the folder (/api/data), and make a study of a chosen file: its TOML shown as the
// fields change, then queued through /api/studies. Engines, and each one's trials key, come
// from /api/data (the registry): no engine is named here. File contents only via textContent.
"use strict";
(function () {
  const {el, fmt} = HP;
  const panel = document.getElementById("data-panel");
  const api = panel.dataset.api;
  if (!api) return;  // no --data-dir: the panel only says how to get one
  const $ = (id) => document.getElementById(id);
  const form = $("data-form"), tomlBox = $("data-toml"), uploadError = $("data-error");
  const submitError = $("data-submit-error"), submitResult = $("data-submit-result");
  let listing = {files: [], engines: [], max_upload: 0};
  let chosen = null;  // the chosen file's name
  const picked = new Set();  // engines ticked, kept across re-renders
  let pickedEver = false;

  // --- TOML: strings in JSON's quoting, which TOML's basic strings read the same ---
  const q = (s) => JSON.stringify(String(s));
  const whole = (input, fallback) => {
    const n = Number(input.value);
    return Number.isInteger(n) && n >= 1 ? n : fallback;
  };
  const studyName = (file) => file.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_.-]+/g, "_")
    .replace(/^[._]+/, "") || "study";

  function studyToml() {
    const file = listing.files.find((f) => f.name === chosen);
    if (!file) return "";
    const engines = listing.engines.filter((e) => picked.has(e.name));
    const trials = whole($("data-trials"), 10);
    const lines = ["[study]", `name = ${q($("data-name").value || studyName(file))}`,
      `engines = [${engines.map((e) => q(e.name)).join(", ")}]`, "", "[data]", `train = ${q(file.path)}`];
    if (file.format === "npz") {
      if ($("data-x").value && $("data-x").value !== "x") lines.push(`x_key = ${q($("data-x").value)}`);
      if ($("data-y").value && $("data-y").value !== "y") lines.push(`y_key = ${q($("data-y").value)}`);
    } else {
      lines.push(`target = ${q($("data-target").value)}`);
    }
    lines.push("", "[train]", `epochs = ${whole($("data-epochs"), 10)}`);
    for (const e of engines) {
      if (e.trials_setting) lines.push("", `[${e.name}]`, `${e.trials_setting} = ${trials}`);
    }
    return lines.join("\n") + "\n";
  }
  function showToml() {
    tomlBox.textContent = studyToml();
    $("data-submit").disabled = picked.size === 0;
    submitError.hidden = true;
  }

  // --- the folder's files ---
  const filesTable = new HP.Table($("data-table"), [
    {key: "pick", label: "", cell: (f) => el("input", {type: "radio", name: "data-pick", class: "data-pick",
      value: f.name, checked: f.name === chosen, disabled: Boolean(f.error), "aria-label": `choose ${f.name}`})},
    {key: "name"},
    {key: "format"},
    {key: "rows"},
    {key: "columns", value: (f) => (f.columns ? f.columns.length : f.arrays ? f.arrays.length : null),
      format: (v, f) => (v === null ? "" : `${v} ${f.format === "npz" ? "arrays" : "columns"}`)},
    {key: "bytes", label: "size", format: (v) => (v < 1024 ? `${v} B` : v < 2 ** 20 ?
      `${fmt(Math.round(v / 1024))} KiB` : `${fmt(Math.round(v / 2 ** 20))} MiB`)},
    {key: "error", cell: (f) => (f.error ? el("span", {class: "error", text: f.error}) : "")},
  ], {rowAttrs: (f) => ({"data-file": f.name, class: f.name === chosen ? "chosen" : null})});

  async function load() {
    try {
      listing = await HP.fetchJSON(api);
    } catch (e) {
      uploadError.textContent = e.message;
      uploadError.hidden = false;
      return;
    }
    if (!pickedEver) for (const e of listing.engines) if (e.default) picked.add(e.name);
    filesTable.setRows(listing.files);
    $("data-empty").hidden = listing.files.length > 0;
    choose(listing.files.some((f) => f.name === chosen && !f.error) ? chosen : null);
  }

  // --- the chosen file's form ---
  function options(select, names, selected) {
    select.replaceChildren(...names.map((n) => el("option", {value: n, text: n, selected: n === selected})));
  }
  function choose(name) {
    const changed = name !== chosen;
    chosen = name;
    for (const tr of $("data-table").querySelectorAll("tr[data-file]")) {
      tr.classList.toggle("chosen", tr.dataset.file === name);
      tr.querySelector("input.data-pick").checked = tr.dataset.file === name;
    }
    const file = listing.files.find((f) => f.name === name);
    form.hidden = !file;
    if (!file || !changed) { if (file) showToml(); return; }
    const npz = file.format === "npz";
    for (const node of form.querySelectorAll(".for-table")) node.hidden = npz;
    for (const node of form.querySelectorAll(".for-npz")) node.hidden = !npz;
    $("data-chosen").textContent = `${file.name}: ${fmt(file.rows)} rows`;
    if (npz) {
      const names = file.arrays.map((a) => a.name);
      options($("data-x"), names, names.includes("x") ? "x" : names[0]);
      options($("data-y"), names, names.includes("y") ? "y" : names[names.length - 1]);
      $("data-preview").replaceChildren(el("thead", {}, el("tr", {}, ["array", "shape", "dtype"].map((h) => el("th", {text: h})))),
        el("tbody", {}, file.arrays.map((a) => el("tr", {}, el("td", {text: a.name}),
          el("td", {text: `(${a.shape.join(", ")})`}), el("td", {text: a.dtype})))));
    } else {
      const names = file.columns.map((c) => c.name);
      options($("data-target"), names, names[names.length - 1]);  // often last; the page lets it be changed
      $("data-preview").replaceChildren(
        el("thead", {}, el("tr", {}, file.columns.map((c) => el("th", {title: c.kind}, c.name, el("div", {class: "note", text: c.kind}))))),
        el("tbody", {}, (file.preview || []).map((row) => el("tr", {}, row.map((v) => el("td", {text: fmt(v)}))))));
    }
    const engines = $("data-engines");
    engines.replaceChildren(el("legend", {text: "Engines"}), ...listing.engines.map((e) => el("label", {},
      el("input", {type: "checkbox", class: "data-engine", value: e.name, checked: picked.has(e.name)}),
      " ", HP.swatch(e.name), e.name, e.trials_setting ? el("span", {class: "note", text: ` (${e.trials_setting})`}) : null)));
    $("data-name").value = studyName(file);
    submitResult.replaceChildren();
    showToml();
  }

  $("data-table").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-file]");
    const file = tr && listing.files.find((f) => f.name === tr.dataset.file);
    if (file && !file.error) choose(file.name);
  });
  form.addEventListener("input", showToml);
  form.addEventListener("change", (ev) => {
    const box = ev.target.closest("input.data-engine");
    if (box) {
      pickedEver = true;
      if (box.checked) picked.add(box.value); else picked.delete(box.value);
    }
    showToml();
  });

  // --- upload: the file itself as the body (not a form: the server refuses those) ---
  $("data-file").addEventListener("change", async () => {
    const input = $("data-file"), f = input.files && input.files[0];
    if (!f) return;
    uploadError.hidden = true;
    const result = $("data-upload-result");
    const name = f.name.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[-.]+/, "");  // as the server wants it
    if (listing.max_upload && f.size > listing.max_upload) {
      uploadError.textContent = `${f.name}: ${fmt(f.size)} bytes, over this server's limit of ${fmt(listing.max_upload)}`;
      uploadError.hidden = false;
      return;
    }
    result.textContent = `uploading ${name} ...`;
    input.disabled = true;
    try {
      const replace = $("data-replace").checked ? "&replace=true" : "";
      const file = await HP.post(`${api}?filename=${encodeURIComponent(name)}${replace}`, f,
        "application/octet-stream");
      result.textContent = `uploaded ${file.name}: ${fmt(file.rows)} rows`;
      chosen = null;
      await load();
      choose(file.name);
    } catch (e) {
      result.textContent = "";
      uploadError.textContent = e.message;
      uploadError.hidden = false;
    } finally {
      input.disabled = false;
      input.value = "";
    }
  });

  // --- submit: queued as the "Submit a study" box does; then a link to its run once it starts ---
  let watching = null;
  const watch = new HP.Poller(async () => {
    const job = (await HP.fetchJSON("/api/jobs")).find((j) => j.id === watching);
    if (!job) return false;
    if (job.run) {
      submitResult.replaceChildren(`job ${job.id} runs as `,
        el("a", {id: "data-run-link", href: `/runs/${job.run}`, text: job.run}));
      return false;
    }
    if (!["queued", "running"].includes(job.state)) {
      submitResult.textContent = `job ${job.id} ${job.state}: ${job.message || ""}`;
      return false;
    }
    return 1000;
  }, 1000);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = $("data-submit");
    button.disabled = true;
    submitError.hidden = true;
    submitResult.replaceChildren();
    const name = $("data-name").value || "study";
    try {
      const answer = await HP.post(`/api/studies?filename=${encodeURIComponent(name)}.toml`,
        studyToml(), "application/toml");
      const job = answer.job || {};
      submitResult.textContent = `queued as job ${job.id}` + (job.position ? ` (position ${job.position})` : "");
      watching = job.id;
      watch.start();
    } catch (e) {
      submitError.textContent = e.message;  // the validator's one line
      submitError.hidden = false;
    } finally {
      button.disabled = picked.size === 0;
    }
  });

  load();
})();
