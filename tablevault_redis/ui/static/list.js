// A record list: live line plot of a numeric column, the last records, exports.
"use strict";
TV.WRITER_COLUMNS = ["process", "process_name", "writer", "worker", "run", "run_name"];

TV.listPage = function (name) {
  const main = document.getElementById("main");
  if (!name) { main.textContent = "no record list name given"; return; }
  TV.crumbs([`<a href="/?${TV.nsQuery()}">processes</a>`, TV.esc(name)]);
  const base = `/api/lists/${TV.enc(name)}`;
  main.innerHTML = `
    <h1><span id="l-name"></span> <span class="muted" id="l-count"></span>
      <a id="csv" href="${base}/export.csv?${TV.nsQuery()}">export CSV</a>
      <a id="json" href="${base}/export.json?${TV.nsQuery()}">export JSON</a></h1>
    <div class="toolbar">
      <label>y <select id="y"></select></label><label>x <select id="x"></select></label>
      <label>one line per <select id="split"></select></label>
      <label>window <select id="window"><option>1000</option><option selected>5000</option><option>20000</option><option>100000</option></select></label>
    </div>
    <div class="plot-wrap"><svg id="plot" class="plot" xmlns="${TV.NS_SVG}"></svg><div class="legend" id="legend"></div></div>
    <h2>Last records</h2><table class="grid" id="last"><thead></thead><tbody></tbody></table>`;
  document.getElementById("l-name").textContent = name;
  const st = { name, base, columns: [], start: 0, records: [], writers: [], source: null };
  for (const id of ["y", "x", "split"]) document.getElementById(id).onchange = () => TV.drawList(st);
  document.getElementById("window").onchange = () => TV.loadList(st);
  window.addEventListener("resize", () => TV.drawList(st));
  TV.loadList(st);
};

TV.loadList = async function (st) {
  const last = document.getElementById("window").value;
  let data;
  try { data = (await TV.api(`${st.base}/tail?${TV.nsQuery({ last })}`)).body; }
  catch (e) { TV.flash(e.message); setTimeout(() => TV.loadList(st), 2000); return; }
  Object.assign(st, { columns: data.columns, start: data.start, records: data.records,
    writers: data.writers || [], total: data.total });
  TV.fillSelects(st);
  TV.drawList(st);
  if (st.source) st.source.close();
  st.source = TV.feed(`/api/events/list/${TV.enc(st.name)}?${TV.nsQuery({ after: data.total })}`, (ev) => {
    const limit = Number(document.getElementById("window").value);
    if (ev.start !== st.start + st.records.length) { TV.loadList(st); return; }
    st.records.push(...ev.records);
    st.writers.push(...(ev.writers || ev.records.map(() => null)));
    st.total = ev.total;
    if (st.records.length > limit) {
      const cut = st.records.length - limit;
      st.records.splice(0, cut); st.writers.splice(0, cut); st.start += cut;
    }
    if (!st.known && st.writers.some((w) => w)) TV.fillSelects(st);
    if (!st.numeric.length) TV.fillSelects(st);
    TV.scheduleDraw(st);
  });
};

TV.fillSelects = function (st) {
  const numeric = st.columns.filter((c) => st.records.some((r) => typeof r[c] === "number"));
  const other = st.columns.filter((c) => !numeric.includes(c));
  st.numeric = numeric;
  const fill = (id, options, preferred) => {
    const sel = document.getElementById(id);
    const keep = sel.value;
    sel.innerHTML = options.map(([v, label]) => `<option value="${TV.esc(v)}">${TV.esc(label)}</option>`).join("");
    const values = options.map((o) => o[0]);
    sel.value = values.includes(keep) && keep ? keep : (preferred ?? values[0] ?? "");
  };
  const guessY = numeric.find((c) => /loss|acc|score|reward|value|metric/i.test(c)) || numeric.find((c) => !/^(epoch|step|iter|seq|index|i)$/i.test(c)) || numeric[0];
  fill("y", numeric.map((c) => [c, c]), guessY);
  fill("x", [["", "record index"], ...numeric.map((c) => [c, c])], "");
  const writer = st.columns.find((c) => TV.WRITER_COLUMNS.includes(c.toLowerCase()));
  const split = [["", "(one line)"], ...other.map((c) => [c, c])];
  st.known = st.writers.some((w) => w);
  if (st.known) split.unshift(["_process", "process"]);
  fill("split", split, st.known ? "_process" : (writer || ""));
};

TV.scheduleDraw = function (st) {
  if (st.pendingDraw) return;
  st.pendingDraw = true;
  requestAnimationFrame(() => { st.pendingDraw = false; TV.drawList(st); });
};

TV.seriesOf = function (st, y, x, split) {
  const groups = new Map();
  st.records.forEach((r, i) => {
    const yv = r[y];
    const xv = x ? r[x] : st.start + i;
    if (typeof yv !== "number" || typeof xv !== "number" || !isFinite(yv) || !isFinite(xv)) return;
    const key = split === "_process" ? (st.writers[i] || "(unknown)") : split ? String(r[split] ?? "") : y;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push([xv, yv]);
  });
  return [...groups.entries()].slice(0, 50).map(([name, points]) => ({ name, points }));
};

TV.drawList = function (st) {
  const y = document.getElementById("y").value, x = document.getElementById("x").value;
  const split = document.getElementById("split").value;
  document.getElementById("l-count").textContent = `${st.total ?? 0} records`;
  const series = y ? TV.seriesOf(st, y, x, split) : [];
  TV.plot(document.getElementById("plot"), series, { xLabel: x || "record index", yLabel: y });
  document.getElementById("legend").innerHTML = series.map((s, i) =>
    `<span><i style="background:${TV.COLORS[i % TV.COLORS.length]}"></i>${TV.esc(s.name)} (${s.points.length})</span>`).join("");
  TV.renderLast(st);
};

TV.renderLast = function (st) {
  const cols = st.columns;
  TV.setHtml(document.querySelector("#last thead"), `<tr><th class="num">#</th>${cols.map((c) => `<th>${TV.esc(c)}</th>`).join("")}</tr>`);
  const rows = [];
  for (let i = st.records.length - 1; i >= 0 && rows.length < 50; i--) {
    const r = st.records[i];
    rows.push(`<tr><td class="num">${st.start + i}</td>${cols.map((c) => `<td>${TV.esc(typeof r[c] === "string" ? r[c] : JSON.stringify(r[c]))}</td>`).join("")}</tr>`);
  }
  TV.setHtml(document.querySelector("#last tbody"), rows.join(""));
};
