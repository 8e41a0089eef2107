// The runs page's trash: deleted runs from /api/trash, Restore each, and Empty the trash after
// a confirm step in the page. HP.trashView(onChange) wires it; onChange refreshes the runs list.
"use strict";
(function () {
  const {el} = HP;

  HP.trashView = function (onChange) {
    const section = document.getElementById("trash-section");
    const api = section.dataset.api || "/api/trash";
    const result = document.getElementById("trash-result");
    const error = document.getElementById("trash-error");
    const actions = document.getElementById("trash-actions");
    const none = document.getElementById("trash-none");
    let entries = [];
    let confirming = false;  // "Empty the trash" awaits its confirmation
    const said = (ok, text) => {
      result.textContent = ok ? text : "";
      error.textContent = ok ? "" : text;
      error.hidden = ok;
    };

    const table = new HP.Table(document.getElementById("trash-table"), [
      {key: "study"},
      {key: "run_id", label: "run id"},
      {key: "dataset"},
      {key: "engines", value: (r) => (r.engines || []).join(", ")},
      {key: "state", cell: (r) => HP.stateBadge(r.state)},
      {key: "tags", value: (r) => (r.tags || []).join(" "), cls: () => "wrap",
        cell: (r) => (r.tags || []).map((t) => [el("span", {class: "tag", text: t}), " "])},
      {key: "deleted_at", label: "deleted", cell: (r) =>
        el("span", {title: r.deleted_at || "", text: HP.when(r.deleted_at)})},
      {key: "restore", label: "", value: () => null, cell: (r) =>
        el("button", {type: "button", class: "restore-run", "data-run": r.id, disabled: r.taken,
          title: r.taken ? "a run holds this name now" : "put it back where it was", text: "Restore"})},
    ], {sortable: true, rowAttrs: (r) => ({"data-run": r.id})});

    function renderActions() {
      actions.replaceChildren(...(confirming  // replaceChildren takes nodes, not a list
        ? [el("span", {class: "note", text: `Remove ${entries.length} run(s) for good? `}),
          el("button", {type: "button", id: "trash-empty-confirm", class: "danger", text: "Empty for good"}),
          " ", el("button", {type: "button", id: "trash-empty-keep", text: "Keep them"})]
        : [el("button", {type: "button", id: "trash-empty-button", disabled: !entries.length,
          text: "Empty the trash"})]));
    }

    async function load() {
      try {
        entries = (await HP.fetchJSON(api)).runs || [];
      } catch (e) { said(false, e.message); return; }
      table.setRows(entries);
      table.table.hidden = !entries.length;  // no bare header row for an empty trash
      none.hidden = entries.length > 0;
      if (!entries.length) confirming = false;
      renderActions();
    }

    document.getElementById("trash-table").addEventListener("click", async (ev) => {
      const button = ev.target.closest("button.restore-run");
      if (!button) return;
      button.disabled = true;
      const entry = entries.find((r) => r.id === button.dataset.run);
      try {
        await HP.post(entry.restore);
        said(true, `restored ${entry.id}`);
      } catch (e) { said(false, e.message); }
      await load();
      onChange();
    });
    actions.addEventListener("click", async (ev) => {
      const button = ev.target.closest("button");
      if (!button) return;
      if (button.id === "trash-empty-button") confirming = true;
      else if (button.id === "trash-empty-keep") confirming = false;
      else if (button.id === "trash-empty-confirm") {
        confirming = false;
        try {
          const answer = await HP.post(`${api}/empty`);
          said(true, `removed ${answer.removed} run(s) for good`);
        } catch (e) { said(false, e.message); }
        await load();
        return;
      }
      renderActions();
    });
    return {load};
  };
})();
