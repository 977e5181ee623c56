// Shared helpers of the dashboard page: API calls, formatting, control buttons.
"use strict";
const TV = {
  config: { namespaces: [], read_only: true },
  skew: 0, // server clock minus this browser's clock, in seconds
  pending: {}, // "ns/name" -> action clicked and not yet acted on

  params() { return new URLSearchParams(location.search); },
  ns() { return TV.params().get("namespace") || TV.config.namespaces[0] || ""; },
  nsQuery(extra) {
    const q = new URLSearchParams(extra || {});
    q.set("namespace", TV.ns());
    return q.toString();
  },
  enc(name) { return name.split("/").map(encodeURIComponent).join("/"); },

  async api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (opts.method && opts.method !== "GET") opts.headers["X-TableVault-UI"] = "1";
    const r = await fetch(path, opts);
    const text = await r.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = { error: text }; }
    if (!r.ok) throw new Error((body && body.error) || r.status + " " + r.statusText);
    return { body, headers: r.headers, status: r.status };
  },

  // An EventSource that shows its state in the header and reopens after an error.
  feed(path, onUpdate) {
    const live = document.getElementById("live");
    const source = new EventSource(path);
    source.addEventListener("update", (ev) => {
      live.textContent = "live"; live.className = "live on";
      onUpdate(JSON.parse(ev.data));
    });
    source.addEventListener("problem", (ev) => TV.flash(JSON.parse(ev.data).error));
    source.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
    return source;
  },

  flash(message) {
    let box = document.getElementById("flash");
    if (!box) {
      box = TV.el("div", { id: "flash", class: "flash" });
      document.getElementById("main").prepend(box);
    }
    box.textContent = message;
    clearTimeout(TV._flashTimer);
    TV._flashTimer = setTimeout(() => box.remove(), 6000);
  },

  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    }
    return node;
  },

  esc(value) {
    return String(value).replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  },

  now() { return Date.now() / 1000 + TV.skew; },
  syncClock(serverNow) { if (serverNow) TV.skew = serverNow - Date.now() / 1000; },
  ago(ts) {
    if (!ts) return "";
    const s = Math.max(0, TV.now() - ts);
    if (s < 1) return (s * 1000).toFixed(0) + " ms";
    if (s < 90) return s.toFixed(s < 10 ? 1 : 0) + " s";
    if (s < 5400) return (s / 60).toFixed(0) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  },
  when(ts) {
    if (!ts) return "";
    const d = new Date(ts * 1000);
    return d.toLocaleString(undefined, { hour12: false });
  },
  badge(status) { return `<span class="badge ${TV.esc(status)}" data-status="${TV.esc(status)}">${TV.esc(status)}</span>`; },
  clip(text, n) { text = String(text ?? ""); return text.length > n ? text.slice(0, n - 1) + "\u2026" : text; },
  procLink(name, label) {
    return `<a href="/process?${TV.nsQuery({ name })}">${TV.esc(label ?? name)}</a>`;
  },
  listLink(name) { return `<a href="/list?${TV.nsQuery({ name })}">${TV.esc(name)}</a>`; },

  requestText(p) {
    // A pause request stays on record while the process waits in its checkpoint.
    if (!p.interrupt_action || (p.interrupt_action === "pause" && p.status === "paused")) return "";
    return `${p.interrupt_action} pending (by ${p.interrupt_request || "?"})`;
  },

  // Buttons for a process: only what its state allows; a clicked one stays
  // "…ing" until the process acted on it.
  actions(p) {
    if (TV.config.read_only || !p.alive) return "";
    const key = TV.ns() + "/" + p.name;
    const clicked = TV.pending[key];
    if (clicked && TV.acted(clicked, p)) delete TV.pending[key];
    const wait = TV.pending[key];
    const out = [];
    const btn = (action, label, cls) => {
      const busy = wait === action;
      const text = busy ? { pause: "Pausing\u2026", resume: "Resuming\u2026", stop: "Stopping\u2026" }[action] : label;
      out.push(`<button class="${cls}${busy ? " waiting" : ""}" data-action="${action}" data-name="${TV.esc(p.name)}"${busy ? " disabled" : ""}>${text}</button>`);
    };
    const pausing = p.interrupt_action === "pause";
    if (p.status === "running" && !pausing && wait !== "resume") btn("pause", "Pause", "pause");
    else if (wait === "pause") btn("pause", "Pause", "pause");
    if (p.status === "paused" || pausing || wait === "resume") btn("resume", "Resume", "resume");
    if (p.interrupt_action !== "stop" || wait === "stop") btn("stop", "Stop", "stop");
    return out.join("");
  },
  acted(action, p) {
    if (!p.alive) return true;
    if (action === "pause") return p.status === "paused";
    if (action === "resume") return p.status === "running" && p.interrupt_action !== "pause";
    return false;
  },

  async control(action, name, after) {
    const key = TV.ns() + "/" + name;
    TV.pending[key] = action;
    if (after) after();
    try {
      await TV.api(`/api/processes/${TV.enc(name)}/${action}?${TV.nsQuery()}`, { method: "POST" });
    } catch (e) {
      delete TV.pending[key];
      TV.flash(`${action} ${name}: ${e.message}`);
      if (after) after();
    }
  },

  // One click handler for every control button inside `root`.
  wireActions(root, after) {
    root.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-action]");
      if (!b || b.disabled) return;
      TV.control(b.dataset.action, b.dataset.name, after);
    });
  },

  setHtml(node, html) { if (node._html !== html) { node.innerHTML = html; node._html = html; } },

  crumbs(parts) {
    const nav = document.getElementById("crumbs");
    nav.innerHTML = parts.join(" / ");
  },

  async start() {
    try {
      TV.config = (await TV.api("/api/config")).body;
    } catch (e) {
      document.getElementById("main").textContent = e.message;
      return;
    }
    const sel = document.getElementById("ns");
    if (TV.config.namespaces.length > 1) {
      document.getElementById("ns-box").hidden = false;
      for (const n of TV.config.namespaces) sel.append(TV.el("option", { value: n, selected: n === TV.ns() }, n));
      sel.onchange = () => { location.href = "/?namespace=" + encodeURIComponent(sel.value); };
    }
    if (TV.config.read_only) document.getElementById("mode").textContent = "read-only";
    const path = location.pathname;
    if (path === "/process") TV.processPage(TV.params().get("name"));
    else if (path === "/list") TV.listPage(TV.params().get("name"));
    else TV.tablePage();
  },
};
