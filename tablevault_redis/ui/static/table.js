// The process table: one page of rows from the server, kept live over SSE.
"use strict";
TV.STATUSES = ["running", "paused", "stopped", "completed", "failed", "crashed"];
TV.COLUMNS = [
  ["name", "Name"], ["status", "Status"], ["user", "User"], ["host", "Host"],
  ["pid", "PID", "num"], ["parent", "Parent"], ["started", "Started"],
  ["heartbeat", "Heartbeat", "num"], ["records", "Records", "num"],
  ["last", "Last record"], ["request", "Request"], ["actions", ""],
];

TV.tablePage = function () {
  const p = TV.params();
  const view = {
    offset: Number(p.get("offset") || 0), limit: Number(p.get("limit") || 50),
    status: p.get("status") || "", user: p.get("user") || "",
    order: p.get("order") || "newest", tree: p.get("tree") === "1",
  };
  const main = document.getElementById("main");
  main.innerHTML = `
    <div class="toolbar">
      <label>status <select id="f-status"><option value="">all</option><option value="alive">alive</option>
        ${TV.STATUSES.map((s) => `<option>${s}</option>`).join("")}</select></label>
      <label>user <select id="f-user"><option value="">all</option></select></label>
      <label>order <select id="f-order"><option value="newest">newest first</option><option value="oldest">oldest first</option></select></label>
      <label><input type="checkbox" id="f-tree"> tree</label>
      <span class="counts" id="counts"></span>
      <span class="pager"><button id="prev">\u2039</button><span id="range"></span><button id="next">\u203a</button></span>
    </div>
    <table class="grid" id="procs"><thead><tr>${TV.COLUMNS.map((c) => `<th class="${c[2] || ""}">${c[1]}</th>`).join("")}</tr></thead><tbody></tbody></table>
    <h2>Record lists</h2><div class="lists" id="lists"><span class="muted">none yet</span></div>`;
  const $ = (id) => document.getElementById(id);
  $("f-status").value = view.status; $("f-order").value = view.order; $("f-tree").checked = view.tree;
  TV.crumbs([`processes`]);
  let source = null;
  let last = null;
  const open = () => {
    if (source) source.close();
    const q = { offset: view.offset, limit: view.limit, order: view.order };
    if (view.status) q.status = view.status;
    if (view.user) q.user = view.user;
    const shown = new URLSearchParams(Object.assign({}, q, view.tree ? { tree: 1 } : {}));
    shown.set("namespace", TV.ns());
    history.replaceState(null, "", "/?" + shown.toString());
    source = TV.feed("/api/events/table?" + TV.nsQuery(q), (data) => { last = data; render(); });
  };
  const render = () => { if (last) TV.renderTable(last, view); };
  const change = () => { view.offset = 0; open(); };
  $("f-status").onchange = (e) => { view.status = e.target.value; change(); };
  $("f-user").onchange = (e) => { view.user = e.target.value; change(); };
  $("f-order").onchange = (e) => { view.order = e.target.value; change(); };
  $("f-tree").onchange = (e) => { view.tree = e.target.checked; render(); };
  $("counts").onclick = (e) => {
    const s = e.target.dataset.status; if (s === undefined) return;
    view.status = s; $("f-status").value = s; change();
  };
  $("prev").onclick = () => { view.offset = Math.max(0, view.offset - view.limit); open(); };
  $("next").onclick = () => { if (last && view.offset + view.limit < last.total) { view.offset += view.limit; open(); } };
  TV.wireActions($("procs"), render);
  setInterval(render, 500); // heartbeat ages move with the clock
  open();
  TV.refreshLists();
  setInterval(TV.refreshLists, 3000);
};

TV.refreshLists = async function () {
  try {
    const lists = (await TV.api("/api/lists?" + TV.nsQuery())).body;
    const box = document.getElementById("lists");
    if (!box || !lists.length) return;
    TV.setHtml(box, lists.map((l) => `${TV.listLink(l.name)} <span class="muted">(${l.count})</span>`).join(""));
  } catch (e) { /* the table's feed reports problems */ }
};

TV.treeOrder = function (rows) {
  // Children right under their parent when both are on this page.
  const byName = new Map(rows.map((r) => [r.name, r]));
  const kids = new Map();
  const roots = [];
  for (const r of rows) {
    if (r.parent_process_name && byName.has(r.parent_process_name) && r.parent_process_name !== r.name) {
      if (!kids.has(r.parent_process_name)) kids.set(r.parent_process_name, []);
      kids.get(r.parent_process_name).push(r);
    } else roots.push(r);
  }
  const out = [];
  const walk = (r, depth, seen) => {
    if (seen.has(r.name)) return;
    seen.add(r.name);
    out.push([r, depth]);
    for (const k of kids.get(r.name) || []) walk(k, depth + 1, seen);
  };
  const seen = new Set();
  for (const r of roots) walk(r, 0, seen);
  for (const r of rows) if (!seen.has(r.name)) walk(r, 0, seen);
  return out;
};

TV.rowCells = function (p, depth) {
  const hb = p.alive ? TV.ago(p.heartbeat_at || p.started_at) : "";
  const parent = p.parent_process_name ? TV.procLink(p.parent_process_name, `${p.parent_process_name}[${p.parent_process_index}]`) : "";
  const indent = depth ? `<span class="indent" style="width:${depth * 16}px"></span>\u2514 ` : "";
  const records = p.records_written ?? "";
  const lastRecord = p.last_record ? TV.clip(p.last_record, 60) : "";
  const req = TV.requestText(p);
  return {
    name: indent + TV.procLink(p.name),
    status: TV.badge(p.status),
    user: TV.esc(p.user_id), host: TV.esc(p.host), pid: p.pid || "",
    parent, started: TV.esc(TV.ago(p.started_at) + (p.started_at ? " ago" : "")),
    heartbeat: hb, records: TV.esc(records),
    last: `<span title="${TV.esc(p.last_record || "")}">${TV.esc(lastRecord)}</span>`,
    request: req ? `<span class="pending" title="${TV.esc(req)}">${TV.esc(TV.clip(req, 40))}</span>` : "",
    actions: TV.actions(p),
  };
};

TV.renderTable = function (data, view) {
  TV.syncClock(data.now);
  const tbody = document.querySelector("#procs tbody");
  const rows = view.tree ? TV.treeOrder(data.rows) : data.rows.map((r) => [r, 0]);
  while (tbody.rows.length > rows.length) tbody.deleteRow(-1);
  rows.forEach(([p, depth], i) => {
    let tr = tbody.rows[i];
    if (!tr) {
      tr = tbody.insertRow();
      for (const c of TV.COLUMNS) { const td = tr.insertCell(); td.className = (c[2] || "") + (c[0] === "last" ? " clip" : ""); td.dataset.col = c[0]; }
    }
    if (tr.dataset.name !== p.name) tr.dataset.name = p.name;
    if (tr.dataset.status !== p.status) tr.dataset.status = p.status;
    const cells = TV.rowCells(p, depth);
    TV.COLUMNS.forEach((c, j) => TV.setHtml(tr.cells[j], String(cells[c[0]])));
  });
  const counts = TV.STATUSES.filter((s) => data.counts[s]).map((s) => `<span data-status="${s}">${s} ${data.counts[s]}</span>`);
  TV.setHtml(document.getElementById("counts"), counts.join("") || '<span class="muted">no processes</span>');
  const end = Math.min(data.total, data.offset + data.rows.length);
  document.getElementById("range").textContent = data.total ? `${data.offset + 1}\u2013${end} of ${data.total}` : "0";
  const users = document.getElementById("f-user");
  const want = ["", ...data.users];
  if (users.options.length !== want.length) {
    users.innerHTML = want.map((u) => `<option value="${TV.esc(u)}">${u ? TV.esc(u) : "all"}</option>`).join("");
    users.value = view.user;
  }
};
