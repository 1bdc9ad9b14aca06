"use strict";
// The dashboard reads the app's own API. The key lives in sessionStorage and goes in a
// header: a key in a URL ends up in history, logs and Referer headers. Every value from
// the API is written with textContent, never as markup: instance IDs and reasons are
// producers' text.
(() => {
  const KEY_STORAGE = "functionKey";
  const REFRESH_MS = 2000;
  const RECENT_PER_INSTANCE = 5;
  const PAGE = "100";
  const NOT_DECIDED = "pending,queued";
  const UNDECIDABLE = "dead-lettered,invalid";
  // The handler re-checks a queued request every second and holds it for a moment then.
  const BEING_DECIDED = "urn:singleton-starters:problem:being-decided";
  const BUSY_RETRIES = 40;
  const BUSY_PAUSE_MS = 250;
  // The script is served at {prefix}/dashboard/app.js; the API is under {prefix}/.
  const apiRoot = new URL("..", document.currentScript.src);

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let refreshing = null;
  const rendered = new Map();

  class ApiError extends Error {
    constructor(status, message, type) {
      super(message);
      this.status = status;
      this.type = type;
    }
  }

  async function api(method, path, params = {}) {
    const url = new URL(path, apiRoot);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers["x-functions-key"] = key;
    const response = await fetch(url, { method, headers, cache: "no-store" });
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const said = body && (body.detail || body.title);
      const type = body && body.type;
      throw new ApiError(response.status, said || `${response.status} ${response.statusText}`, type);
    }
    return body;
  }

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (name === "text") node.textContent = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function time(iso) {
    if (!iso) return el("span", { class: "muted", text: "—" });
    const when = new Date(iso);
    const today = when.toDateString() === new Date().toDateString();
    const text = today ? when.toLocaleTimeString() : when.toLocaleString();
    return el("time", { datetime: iso, title: iso, text });
  }

  function badge(value, kind) {
    const text = value || "none";
    return el("span", { class: `badge ${kind}-${text.toLowerCase()}`, text });
  }

  function cell(...children) {
    return el("td", {}, ...children);
  }

  function idCell(text) {
    return el("th", { scope: "row" }, el("code", { text }));
  }

  // A table's body is replaced only when its rows change, so a refresh does not take the
  // focus away from a button or move what someone is reading.
  function fill(tableId, rows, columns, empty) {
    const signature = JSON.stringify(rows.map((row) => row.key));
    if (rendered.get(tableId) === signature) return;
    rendered.set(tableId, signature);
    const body = $(tableId).tBodies[0];
    const built = rows.map((row) => {
      const tr = row.build();
      tr.dataset.key = row.id;
      return tr;
    });
    if (!built.length) {
      built.push(el("tr", { class: "empty" }, el("td", { colspan: String(columns), text: empty })));
    }
    body.replaceChildren(...built);
  }

  function recentList(records) {
    if (!records.length) return el("span", { class: "muted", text: "none recorded" });
    const list = el("ul", { class: "recent" });
    for (const record of records.slice(0, RECENT_PER_INSTANCE)) {
      list.append(
        el(
          "li",
          { dataset: { requestId: record.requestId } },
          badge(record.outcome, "outcome"),
          el("span", { class: "reason", text: record.reason || "" }),
          time(record.decidedAt || record.receivedAt),
        ),
      );
    }
    return list;
  }

  function renderInstances(instances, recent) {
    const byId = new Map();
    for (const instance of instances) byId.set(instance.instanceId, { instance, records: [] });
    // An ID whose requests were all refused has no Durable instance, but is still an ID.
    for (const record of recent) {
      if (!byId.has(record.instanceId)) byId.set(record.instanceId, { instance: null, records: [] });
      byId.get(record.instanceId).records.push(record);
    }
    const latest = (entry) =>
      [entry.instance && entry.instance.lastUpdatedTime, ...entry.records.map((r) => r.receivedAt)]
        .filter(Boolean)
        .sort()
        .pop() || "";
    const entries = [...byId.entries()].sort((a, b) => latest(b[1]).localeCompare(latest(a[1])));
    $("instances-count").textContent = `(${entries.length})`;
    const rows = entries.map(([id, { instance, records }]) => ({
      id,
      key: [id, instance, records.slice(0, RECENT_PER_INSTANCE)],
      build: () =>
        el(
          "tr",
          {},
          idCell(id),
          cell(document.createTextNode((instance && instance.name) || records[0]?.orchestrator || "")),
          cell(instance ? badge(instance.runtimeStatus, "status") : el("span", { class: "muted", text: "no instance" })),
          cell(time(instance && instance.lastUpdatedTime)),
          cell(recentList(records)),
        ),
    }));
    fill("instances", rows, 5, "No instances yet.");
    return byId;
  }

  function actionButton(label, action, record) {
    const button = el("button", {
      type: "button",
      class: `action ${action}`,
      "aria-label": `${label} request ${record.requestId}`,
      text: label,
    });
    button.addEventListener("click", () => act(button, action, record));
    return button;
  }

  // A request's row: its IDs, orchestrator and outcome, then the section's own cells.
  function requestRow(record, ...more) {
    return el(
      "tr",
      {},
      idCell(record.requestId),
      cell(el("code", { text: record.instanceId })),
      cell(document.createTextNode(record.orchestrator)),
      cell(badge(record.outcome, "outcome")),
      ...more,
    );
  }

  function renderBacklog(records, byId) {
    $("backlog-count").textContent = `(${records.length})`;
    const rows = records.map((record) => {
      const instance = byId.get(record.instanceId)?.instance;
      const behind = instance ? instance.runtimeStatus : record.existingStatus;
      return {
        id: record.requestId,
        key: [record.requestId, record.outcome, behind],
        build: () =>
          requestRow(
            record,
            cell(behind ? badge(behind, "status") : el("span", { class: "muted", text: "—" })),
            cell(time(record.receivedAt)),
            cell(actionButton("Cancel", "cancel", record)),
          ),
      };
    });
    fill("backlog", rows, 7, "Nothing waiting.");
  }

  function renderProblems(records) {
    $("problems-count").textContent = `(${records.length})`;
    const rows = records.map((record) => ({
      id: record.requestId,
      key: [record.requestId, record.outcome, record.reason],
      build: () =>
        requestRow(
          record,
          cell(el("span", { class: "reason", text: record.reason || "" })),
          cell(time(record.decidedAt)),
          cell(record.outcome === "dead-lettered" ? actionButton("Resubmit", "resubmit", record) : null),
        ),
    }));
    fill("problems", rows, 7, "None.");
  }

  function notice(text, kind) {
    const box = $("notice");
    box.textContent = text;
    box.className = `notice ${kind}`;
    box.hidden = !text;
  }

  async function cancel(record) {
    const path = `requests/${encodeURIComponent(record.requestId)}`;
    for (let tries = 1; ; tries++) {
      try {
        return await api("DELETE", path);
      } catch (error) {
        if (error.type !== BEING_DECIDED || tries >= BUSY_RETRIES) throw error;
        notice(`Canceling ${record.requestId}: it is being decided right now, trying again…`, "ok");
        await new Promise((resolve) => setTimeout(resolve, BUSY_PAUSE_MS));
      }
    }
  }

  async function act(button, action, record) {
    button.disabled = true;
    try {
      if (action === "cancel") {
        const answer = await cancel(record);
        notice(`Request ${record.requestId} is now ${answer.outcome}.`, "ok");
      } else {
        await api("POST", `requests/${encodeURIComponent(record.requestId)}/resubmit`);
        notice(`Request ${record.requestId} was sent again.`, "ok");
      }
    } catch (error) {
      notice(`${action === "cancel" ? "Cancel" : "Resubmit"} of ${record.requestId} failed: ${error.message}`, "error");
      button.disabled = false;
    }
    await refresh();
  }

  async function load() {
    const [instances, recent, backlog, problems] = await Promise.all([
      api("GET", "instances", { limit: PAGE }),
      api("GET", "requests", { limit: PAGE }),
      api("GET", "requests", { outcome: NOT_DECIDED, limit: PAGE }),
      api("GET", "requests", { outcome: UNDECIDABLE, limit: PAGE }),
    ]);
    const byId = renderInstances(instances.items, recent.items);
    renderBacklog(backlog.items, byId);
    renderProblems(problems.items);
  }

  // One refresh at a time: a click's refresh joins the one under way.
  function refresh() {
    if (!refreshing) {
      refreshing = load()
        .then(() => {
          const now = new Date();
          const updated = $("updated");
          updated.dateTime = now.toISOString();
          updated.textContent = now.toLocaleTimeString();
          $("state").textContent = "Live: refreshes every 2 s.";
          document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
        })
        .catch((error) => {
          $("state").textContent =
            error.status === 401 || error.status === 403
              ? "The app refused the key: enter its function key above."
              : `Refresh failed: ${error.message}`;
        })
        .finally(() => {
          refreshing = null;
        });
    }
    return refreshing;
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      await refresh();
      schedule();
    }, REFRESH_MS);
  }

  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const field = $("key");
    if (field.value) sessionStorage.setItem(KEY_STORAGE, field.value);
    field.value = "";
    field.placeholder = sessionStorage.getItem(KEY_STORAGE) ? "key in use" : "not needed locally";
    await refresh();
  });
  $("forget-key").addEventListener("click", async () => {
    sessionStorage.removeItem(KEY_STORAGE);
    $("key").placeholder = "not needed locally";
    await refresh();
  });
  if (sessionStorage.getItem(KEY_STORAGE)) $("key").placeholder = "key in use";
  refresh().then(schedule);
})();
