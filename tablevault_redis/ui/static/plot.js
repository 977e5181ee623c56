// A small SVG line plot: axes, grid, one path per series. No dependency.
"use strict";
TV.COLORS = ["#2f5bd3", "#d0312d", "#1f9d55", "#c98a00", "#8e44ad", "#1479a8", "#e67e22",
  "#16a085", "#7f8c8d", "#c0392b"];
TV.NS_SVG = "http://www.w3.org/2000/svg";

TV.niceTicks = function (lo, hi, count) {
  if (!isFinite(lo) || !isFinite(hi)) return [];
  if (lo === hi) { lo -= 1; hi += 1; }
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
};

TV.fmtNum = function (v) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(1);
  return String(+v.toPrecision(4));
};

// Keep at most about `max` points: the min and max of each bucket, in order.
TV.decimate = function (points, max) {
  if (points.length <= max) return points;
  const size = Math.ceil(points.length / (max / 2));
  const out = [];
  for (let i = 0; i < points.length; i += size) {
    const chunk = points.slice(i, i + size);
    let lo = chunk[0], hi = chunk[0];
    for (const p of chunk) { if (p[1] < lo[1]) lo = p; if (p[1] > hi[1]) hi = p; }
    if (lo === hi) out.push(lo); else if (lo[0] <= hi[0]) out.push(lo, hi); else out.push(hi, lo);
  }
  return out;
};

TV.plot = function (svg, series, opts) {
  const W = svg.clientWidth || 800, H = svg.clientHeight || 360;
  const m = { l: 64, r: 16, t: 12, b: 38 };
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  let xs = [Infinity, -Infinity], ys = [Infinity, -Infinity], total = 0;
  for (const s of series) for (const [x, y] of s.points) {
    total++;
    if (x < xs[0]) xs[0] = x; if (x > xs[1]) xs[1] = x;
    if (y < ys[0]) ys[0] = y; if (y > ys[1]) ys[1] = y;
  }
  svg.dataset.points = total;
  svg.dataset.series = series.length;
  if (!total) { svg.innerHTML = `<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no numeric points yet</text>`; return; }
  if (xs[0] === xs[1]) { xs = [xs[0] - 1, xs[1] + 1]; }
  if (ys[0] === ys[1]) { ys = [ys[0] - 1, ys[1] + 1]; }
  const pad = (ys[1] - ys[0]) * 0.05; ys = [ys[0] - pad, ys[1] + pad];
  const X = (x) => m.l + (x - xs[0]) / (xs[1] - xs[0]) * (W - m.l - m.r);
  const Y = (y) => H - m.b - (y - ys[0]) / (ys[1] - ys[0]) * (H - m.t - m.b);
  let out = '<g class="grid">';
  const xt = TV.niceTicks(xs[0], xs[1], 8), yt = TV.niceTicks(ys[0], ys[1], 6);
  for (const t of yt) out += `<line x1="${m.l}" x2="${W - m.r}" y1="${Y(t)}" y2="${Y(t)}"/>`;
  for (const t of xt) out += `<line y1="${m.t}" y2="${H - m.b}" x1="${X(t)}" x2="${X(t)}"/>`;
  out += '</g><g class="axis">';
  out += `<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}"/>`;
  for (const t of yt) out += `<text x="${m.l - 6}" y="${Y(t) + 4}" text-anchor="end">${TV.fmtNum(t)}</text>`;
  for (const t of xt) out += `<text x="${X(t)}" y="${H - m.b + 15}" text-anchor="middle">${TV.fmtNum(t)}</text>`;
  out += `<text x="${(W + m.l) / 2}" y="${H - 4}" text-anchor="middle">${TV.esc(opts.xLabel)}</text>`;
  out += `<text transform="translate(14 ${(H - m.b) / 2}) rotate(-90)" text-anchor="middle">${TV.esc(opts.yLabel)}</text></g>`;
  series.forEach((s, i) => {
    const color = TV.COLORS[i % TV.COLORS.length];
    const pts = TV.decimate(s.points, 3000);
    const d = pts.map(([x, y], j) => `${j ? "L" : "M"}${X(x).toFixed(1)} ${Y(y).toFixed(1)}`).join("");
    out += `<path class="series" data-series="${TV.esc(s.name)}" data-points="${s.points.length}" stroke="${color}" d="${d}"/>`;
    if (s.points.length <= 200) {
      for (const [x, y] of s.points) out += `<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="2.4" fill="${color}"/>`;
    }
  });
  svg.innerHTML = out;
};
