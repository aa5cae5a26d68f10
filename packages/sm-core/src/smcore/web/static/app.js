// SM Core dashboard: the only script. It follows a running sync on its page (polling the
// page's progress URL once a second) and reloads the page once the sync has finished, so the
// full call tree shows. Everything else is plain server-rendered HTML.
"use strict";

(function () {
  const sync = document.getElementById("sync");
  if (!sync || sync.dataset.finished === "true") return;
  const url = sync.dataset.progress;
  const statusEl = document.getElementById("sync-status");
  const callsEl = document.getElementById("sync-calls");
  const errorEl = document.getElementById("sync-error");

  // A stream the sync reached after the page was drawn.
  function addRow(name) {
    const body = document.querySelector("#streams tbody");
    const empty = body.querySelector("td.empty");
    if (empty) empty.parentElement.remove();
    const row = document.createElement("tr");
    row.dataset.stream = name;
    const head = document.createElement("th");
    head.scope = "row";
    head.textContent = name;
    row.append(head);
    for (const field of ["pages", "items", "failed", "skipped"]) {
      const cell = document.createElement("td");
      cell.className = "num";
      cell.dataset.field = field;
      row.append(cell);
    }
    row.append(document.createElement("td"));
    body.append(row);
    return row;
  }

  function show(progress) {
    statusEl.replaceChildren();
    const badge = document.createElement("span");
    badge.className = "badge s-" + progress.status;
    badge.textContent = progress.status;
    statusEl.append(badge);
    callsEl.textContent = String(progress.service_calls);
    for (const [name, counts] of Object.entries(progress.streams)) {
      const row = sync.querySelector('tr[data-stream="' + CSS.escape(name) + '"]') || addRow(name);
      for (const [field, value] of Object.entries(counts)) {
        const cell = row.querySelector('[data-field="' + field + '"]');
        if (cell) cell.textContent = String(value);
      }
    }
    if (progress.error) {
      errorEl.textContent = progress.error;
      errorEl.hidden = false;
    }
  }

  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const progress = await response.json();
        show(progress);
        if (progress.finished) {
          window.location.reload();
          return;
        }
      }
    } catch (_) {
      // The server restarting: keep trying.
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 500);
})();
