// One process: its record, control buttons, requests, code items and records.
"use strict";
TV.processPage = function (name) {
  const main = document.getElementById("main");
  if (!name) { main.textContent = "no process name given"; return; }
  TV.crumbs([`<a href="/?${TV.nsQuery()}">processes</a>`, TV.esc(name)]);
  main.innerHTML = `
    <h1><span id="p-name"></span><span id="p-status"></span><span id="p-actions"></span></h1>
    <div class="card"><dl class="facts" id="p-facts"></dl></div>
    <h2>Requests</h2><div id="p-requests"></div>
    <h2>Children</h2><div id="p-children" class="muted">none</div>
    <h2>Code items</h2><div id="p-code"></div>
    <h2>Records written</h2><div id="p-records" class="muted">none</div>`;
  document.getElementById("p-name").textContent = name;
  let last = null;
  let recordsKey = null;
  const render = () => { if (last) TV.renderProcess(last); };
  TV.wireActions(document.getElementById("p-actions"), render);
  TV.feed(`/api/events/process/${TV.enc(name)}?${TV.nsQuery()}`, (data) => {
    last = data; render();
    const key = `${data.process.records_written}|${data.process.last_record_at}|${data.process.status}`;
    if (key !== recordsKey) { recordsKey = key; TV.loadProcessRecords(name); }
  });
  setInterval(render, 500);
};

TV.facts = function (p) {
  const rows = [
    ["user", p.user_id], ["type", p.execution_type], ["host", p.host], ["PID", p.pid],
    ["alive", p.alive ? "yes" : "no"], ["run", p.run],
    ["started", TV.when(p.started_at)], ["ended", TV.when(p.ended_at)],
    ["heartbeat", p.alive ? TV.ago(p.heartbeat_at || p.started_at) + " ago" : ""],
    ["parent", p.parent_process_name ? `${p.parent_process_name}[${p.parent_process_index}]` : ""],
    ["records written", p.records_written ?? ""], ["last record", p.last_record ?? ""],
    ["pending request", TV.requestText(p)], ["stopped by", p.stopped_by || ""],
  ];
  if (p.paused_at) rows.push(["paused since", TV.when(p.paused_at)]);
  if (p.unreached_action) rows.push(["never acted on", `${p.unreached_action} by ${p.unreached_by || "?"} at ${TV.when(p.unreached_at)}: no checkpoint was reached before it ended`]);
  if (p.gaps) rows.push(["out of reach", `${p.gaps} time(s), last ${TV.when(p.gap_from)} to ${TV.when(p.gap_to)}`]);
  let html = rows.map(([k, v]) => {
    let val = TV.esc(v ?? "");
    if (k === "parent" && v) val = TV.procLink(p.parent_process_name, v);
    if (k === "pending request" && v) val = `<span class="pending">${val}</span>`;
    return `<dt>${k}</dt><dd data-fact="${k}">${val}</dd>`;
  }).join("");
  if (p.error) html += `<dt>error</dt><dd class="error-text" style="grid-column: span 3">${TV.esc(TV.clip(p.error, 300))}</dd>`;
  return html;
};

TV.requestsHtml = function (req) {
  const r = req.record;
  const parts = [`requests made so far: <b>${r.request_seq}</b>`];
  if (r.pending_action) parts.push(`<span class="pending">${TV.esc(r.pending_action)} pending since ${TV.ago(r.pending_at)} (by ${TV.esc(r.pending_by || "?")})</span>`);
  if (r.paused_at) parts.push(`paused ${TV.ago(r.paused_at)} ago`);
  if (r.stopped_at) parts.push(`stopped ${TV.when(r.stopped_at)} by ${TV.esc(r.stopped_by || "?")}`);
  let html = `<div class="card">${parts.join(" \u00b7 ")}`;
  const rows = req.history || [];
  if (rows.length) {
    html += `<table class="grid" id="p-log" style="margin-top:8px"><thead><tr><th>action</th><th>seq</th><th>requested</th><th>acted after</th><th>outcome</th><th>by</th></tr></thead><tbody>`;
    for (const e of rows) {
      const after = e.latency != null ? (e.latency * 1000).toFixed(0) + " ms" : "";
      const by = (e.by || "?") + (e.via ? ` (dashboard, ${e.via})` : "");
      const cls = e.outcome === "pending" ? ' class="pending"' : "";
      html += `<tr data-action="${TV.esc(e.action)}" data-outcome="${TV.esc(e.outcome)}"><td>${TV.esc(e.action)}</td><td>${e.seq ?? ""}</td><td>${TV.esc(TV.when(e.requested_at))}</td><td class="num">${after}</td><td${cls}>${TV.esc(e.outcome)}</td><td>${TV.esc(by)}</td></tr>`;
    }
    html += "</tbody></table>";
  } else html += `<div class="muted">no request yet</div>`;
  return html + "</div>";
};

TV.codeHtml = function (items) {
  if (!items.length) return '<span class="muted">no code items</span>';
  return items.map((it) => {
    const took = it.ended_at && it.started_at ? ` \u00b7 ${(it.ended_at - it.started_at).toFixed(2)} s` : "";
    return `<div class="card item" data-index="${it.index}"><header><b>#${it.index}</b>${TV.badge(it.status)}
      <span class="muted">run ${it.run} \u00b7 started ${TV.esc(TV.when(it.started_at))}${took} \u00b7 position ${it.start_position}</span></header>
      <pre>${TV.esc(it.text)}</pre>${it.error ? `<pre class="error">${TV.esc(it.error)}</pre>` : ""}</div>`;
  }).join("");
};

TV.renderProcess = function (data) {
  TV.syncClock(data.now);
  const p = data.process;
  TV.setHtml(document.getElementById("p-status"), TV.badge(p.status));
  TV.setHtml(document.getElementById("p-actions"), TV.actions(p));
  TV.setHtml(document.getElementById("p-facts"), TV.facts(p));
  TV.setHtml(document.getElementById("p-requests"), TV.requestsHtml(data.requests));
  TV.setHtml(document.getElementById("p-code"), TV.codeHtml(data.code_items));
  const kids = data.children.map((c) => `${TV.procLink(c.name)} ${TV.badge(c.status)}`).join(" &nbsp; ");
  TV.setHtml(document.getElementById("p-children"), kids || "none");
};

TV.loadProcessRecords = async function (name) {
  let lists;
  try { lists = (await TV.api(`/api/view/process-records/${TV.enc(name)}?${TV.nsQuery()}`)).body; }
  catch (e) { return; }
  const box = document.getElementById("p-records");
  if (!lists.length) { TV.setHtml(box, "none"); return; }
  TV.setHtml(box, lists.map((l) => {
    const cols = l.records.length ? Object.keys(l.records[0]) : [];
    const body = l.records.slice().reverse().map((r) => `<tr>${cols.map((c) => `<td>${TV.esc(JSON.stringify(r[c]))}</td>`).join("")}</tr>`).join("");
    return `<div class="item">${TV.listLink(l.list)} <span class="muted">${l.count} records</span>
      <table class="grid"><thead><tr>${cols.map((c) => `<th>${TV.esc(c)}</th>`).join("")}</tr></thead><tbody>${body}</tbody></table></div>`;
  }).join(""));
};
