/* diffembed embedding explorer: a WebGL scatter (plotly.js) and panels, all offline.
 * Every <section data-explorer="P" data-block="B"> on the page is one explorer: its data come
 * from the JSON block with id B (typed arrays as base64) and its elements have ids P + name
 * (the first explorer of a page: P = "ex-", B = "de-explorer"), so a page may hold several.
 * User text reaches the DOM through textContent only, and plotly-rendered text is entity-escaped.
 */
(function () {
  "use strict";
  function start(root, first) {
  const P = root.dataset.explorer || "ex-";
  const block = document.getElementById(root.dataset.block || "de-explorer");
  if (!block) return null;
  const $ = (id) => document.getElementById(P + id.slice(3));
  const gd = $("ex-plot");
  if (typeof Plotly === "undefined") { gd.textContent = "plotly.js did not load."; return null; }

  // ------------------------------------------------------------------ data
  const TYPES = { i1: Int8Array, u1: Uint8Array, i2: Int16Array, u2: Uint16Array,
    i4: Int32Array, u4: Uint32Array, f4: Float32Array, f8: Float64Array };
  function decode(spec) {
    if (!spec || typeof spec.bdata !== "string") return spec;
    let bytes;
    if (typeof Uint8Array.fromBase64 === "function") bytes = Uint8Array.fromBase64(spec.bdata);
    else {
      const bin = atob(spec.bdata);
      bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    }
    return new TYPES[spec.dtype](bytes.buffer, bytes.byteOffset, bytes.byteLength / TYPES[spec.dtype].BYTES_PER_ELEMENT);
  }
  const D = JSON.parse(block.textContent);
  const N = D.n, K = D.coordNames.length;
  const ids = Array.isArray(D.ids) ? D.ids : decode(D.ids);
  const coords = D.coords.map((spec) => {
    const raw = decode(spec);
    if (typeof spec.step !== "number") return raw;
    const out = new Float32Array(raw.length);  // 16-bit fractions of the range (large pages)
    for (let i = 0; i < raw.length; i++) out[i] = spec.lo + spec.step * raw[i];
    return out;
  });
  const cols = D.columns.map((c) => Object.assign({}, c, {
    codes: c.codes ? decode(c.codes) : null, catOf: c.catOf ? decode(c.catOf) : null,
    values: c.values ? decode(c.values) : null }));
  const NB = D.neighbors ? { k: D.neighbors.k, idx: decode(D.neighbors.idx),
    dist: D.neighbors.dist ? decode(D.neighbors.dist) : null,
    metric: D.neighbors.metric, space: D.neighbors.space } : null;
  const CANT_RESCALE = D.t0 === null || !D.lambdas;
  if (first) performance.mark("explorer:data");  // for benchmarks/report_size.py

  const MISSING = "—", MAX_LIST = 200, MAX_TABLE = 500, SHORT = 48;
  const GREY = "#c3c8cf", FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
  const VIRIDIS = ["#440154", "#48186a", "#472d7b", "#424086", "#3b528b", "#33638d", "#2c728e",
    "#26828e", "#21918c", "#1fa088", "#28ae80", "#3fbc73", "#5ec962", "#84d44b", "#addc30",
    "#d8e219", "#fde725"];

  // ------------------------------------------------------------------ text
  const fmtInt = new Intl.NumberFormat("en-US");
  function num(v) {
    if (v === null || v === undefined || !isFinite(v)) return MISSING;
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    return String(Number(v.toPrecision(6)));
  }
  function short(s) { return s.length > SHORT ? s.slice(0, SHORT - 1) + "…" : s; }
  function idText(i) {
    const v = ids[i];
    return v === null || v === undefined || (typeof v === "number" && isNaN(v)) ? MISSING : String(v);
  }
  function cellText(c, i) {
    if (c.kind === "text") { const code = c.codes[i]; return code < 0 ? MISSING : c.dict[code]; }
    return num(c.values[i]);
  }
  function plotlyText(s) {  // plotly renders its own HTML dialect: show names as typed
    return String(s).replace(/&/g, "&amp;").replace(/[<]/g, "&lt;").replace(/[>]/g, "&gt;")
      .replace(/%/g, "&#37;");
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // ------------------------------------------------------------------ state
  const tValues = timeSteps();
  const state = { x: 0, y: K > 1 ? 1 : -1, ti: tValues.indexOf(D.t0 === null ? 0 : D.t0),
    color: initialColor(), hidden: new Set(), matches: null, focus: -1, selection: null,
    mode: "pan", size: markerSize(N), opacity: N > 50000 ? 0.6 : 0.8 };
  function t() { return tValues[Math.max(state.ti, 0)]; }
  function timeSteps() {
    if (CANT_RESCALE) return [D.t0 === null ? 0 : D.t0];
    let top = 16;
    D.lambdas.forEach((l) => {
      if (l !== null && l > 0 && l < 1) top = Math.max(top, Math.min(65536, -4 / Math.log(l)));
    });
    const steps = [0, 0.25, 0.5];
    for (let v = 1; v <= top * 2 && v <= 65536; v *= 2) steps.push(v);
    if (steps.indexOf(D.t0) < 0) steps.push(D.t0);
    return steps.sort((a, b) => a - b);
  }
  function initialColor() {
    const want = D.colorBy;
    if (want) {
      const c = cols.findIndex((col) => col.name === want);
      if (c >= 0) return "c" + c;
      const j = D.coordNames.indexOf(want);
      if (j >= 0) return "d" + j;
    }
    return cols.length ? "c0" : "d" + Math.min(2, K - 1);
  }
  function markerSize(n) {
    return Math.round(2 * Math.max(9 - 1.15 * Math.log10(Math.max(n, 10)), 1.5)) / 2;
  }

  // ------------------------------------------------------------------ coordinates at time t
  function powt(l, tt) { return tt === 0 ? 1 : Math.sign(l) * Math.pow(Math.abs(l), tt); }
  function scale(j) {
    if (CANT_RESCALE) return 1;
    const l = D.lambdas[j];
    if (l === null) return 1;
    const f = powt(l, t()) / powt(l, D.t0);
    return isFinite(f) ? f : 0;
  }
  const coordCache = new Map();
  function coordAt(j) {
    if (j < 0) { const idx = new Float32Array(N); for (let i = 0; i < N; i++) idx[i] = i; return idx; }
    const key = j + "@" + t();
    if (!coordCache.has(key)) {
      if (coordCache.size > 8) coordCache.clear();
      const f = scale(j), src = coords[j], out = new Float32Array(N);
      for (let i = 0; i < N; i++) out[i] = src[i] * f;
      coordCache.set(key, out);
    }
    return coordCache.get(key);
  }
  function axisName(j) { return j < 0 ? "point index" : D.coordNames[j]; }
  function axisTitle(j) {  // what the axis is, e.g. "PC1 of the word vectors (12% of variance)"
    return j >= 0 && D.axisTitles && D.axisTitles[j] ? D.axisTitles[j] : axisName(j);
  }

  // ------------------------------------------------------------------ colours
  let colour = null;  // {values, scale, cats, catIdx, bar}
  function buildColour() {
    const kind = state.color[0], idx = +state.color.slice(1);
    const values = new Float32Array(N);
    if (kind === "c" && cols[idx].kind === "text") {
      const c = cols[idx], m = c.cats.length, miss = c.missing ? m - 1 : -1;
      const catIdx = new Int16Array(N), counts = new Array(m).fill(0);
      for (let i = 0; i < N; i++) {
        const code = c.codes[i], k = code < 0 ? miss : c.catOf[code];
        catIdx[i] = k; counts[k] += 1; values[i] = k + 0.5;
      }
      const scale = [];
      c.colors.forEach((col, k) => { scale.push([k / m, col], [(k + 1) / m, col]); });
      colour = { values, scale, cmin: 0, cmax: m, bar: null, catIdx, counts,
        cats: c.cats, colors: c.colors, name: c.name };
      return;
    }
    const src = kind === "c" ? cols[idx].values : coordAt(idx);
    // Heavy-tailed positive numbers (counts) are coloured on a log scale, else most points
    // would share the bottom colour; the colour bar keeps the numbers' own values as ticks.
    const log = kind === "c" && cols[idx].log === true;
    const f = log ? (v) => (v > 0 ? Math.log10(v) : NaN) : (v) => v;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < N; i++) { const v = f(src[i]); if (isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } }
    if (!(hi > lo)) { lo = isFinite(lo) ? lo - 0.5 : 0; hi = lo + 1; }
    let missing = 0;
    for (let i = 0; i < N; i++) {
      const v = f(src[i]);
      if (isFinite(v)) values[i] = 0.04 + 0.96 * (v - lo) / (hi - lo); else { values[i] = 0; missing++; }
    }
    const scale = [[0, GREY], [0.03, GREY]].concat(
      VIRIDIS.map((col, k) => [0.04 + 0.96 * k / (VIRIDIS.length - 1), col]));
    const name = kind === "c" ? cols[idx].name : D.coordNames[idx];
    colour = { values, scale, cmin: 0, cmax: 1, catIdx: null, cats: null, name, missing,
      bar: { lo, hi, log } };
  }
  function logTicks(lo, hi) {  // powers of ten (and 2, 5 times them when few) within [lo, hi]
    const vals = [], text = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      (hi - lo < 2 ? [1, 2, 5] : [1]).forEach((m) => {
        const v = e + Math.log10(m);
        if (v >= lo - 1e-9 && v <= hi + 1e-9) { vals.push(v); text.push(num(Math.pow(10, v))); }
      });
    }
    return { tickvals: vals, ticktext: text };
  }

  // ------------------------------------------------------------------ plot
  // One WebGL trace holds every point (point number = page row). Highlights (search matches,
  // the clicked point, its neighbours and the links to them) are painted on a 2-D canvas laid
  // between plotly's WebGL layer and its top SVG layer, so they never make plotly recompute
  // the big trace: a click or a search costs a repaint, not a redraw.
  function visibleXY() {
    const x = coordAt(state.x), y = coordAt(state.y);
    if (!state.hidden.size || !colour.catIdx) return [x, y];
    const hx = Float32Array.from(x), hy = Float32Array.from(y);
    for (let i = 0; i < N; i++) if (state.hidden.has(colour.catIdx[i])) { hx[i] = NaN; hy[i] = NaN; }
    return [hx, hy];
  }
  let xy = null;
  function neighboursOf(i) {
    if (!NB || i < 0 || i >= N) return [];
    const out = [];
    for (let r = 0; r < NB.k; r++) { const j = NB.idx[i * NB.k + r]; if (j >= 0) out.push(j); }
    return out;
  }
  function traces() {
    xy = visibleXY();
    const base = { type: "scattergl", mode: "markers", x: xy[0], y: xy[1], hoverinfo: "none",
      showlegend: false, marker: { size: state.size, color: colour.values, colorscale: colour.scale,
        cmin: colour.cmin, cmax: colour.cmax, showscale: false, line: { width: 0 },
        opacity: state.opacity },
      selected: { marker: { opacity: Math.max(state.opacity, 0.6) } },
      unselected: { marker: { opacity: 0.1 } } };
    if (state.selection) base.selectedpoints = Array.from(state.selection);
    if (!colour.bar) return [base];
    return [base, { type: "scatter", mode: "markers", x: [null], y: [null], hoverinfo: "skip",
      showlegend: false, marker: { color: [colour.bar.lo, colour.bar.hi], cmin: colour.bar.lo,
        cmax: colour.bar.hi, colorscale: "Viridis", showscale: true,
        colorbar: Object.assign({ thickness: 12, len: 0.9, outlinewidth: 0,
          title: { text: plotlyText(colour.name + (colour.bar.log ? " (log scale)" : "")), side: "right" } },
          colour.bar.log ? logTicks(colour.bar.lo, colour.bar.hi) : {}) } }];
  }
  function layout() {
    const axis = { zeroline: false, showline: true, mirror: true, linecolor: "#c9ced6",
      gridcolor: "#eef1f5", ticks: "outside", tickcolor: "#c9ced6", automargin: true };
    return { height: 600, margin: { l: 60, r: 16, t: 12, b: 48 }, paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff", font: { family: FONT, size: 12, color: "#1f2933" },
      xaxis: Object.assign({ title: { text: plotlyText(axisTitle(state.x)) } }, axis),
      yaxis: Object.assign({ title: { text: plotlyText(axisTitle(state.y)) } }, axis),
      dragmode: state.mode, hovermode: "closest", hoverdistance: 16, showlegend: false,
      uirevision: state.x + "/" + state.y + "/" + t() };
  }
  const config = { displaylogo: false, responsive: true, scrollZoom: true, showSendToCloud: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "zoom2d", "pan2d", "autoScale2d"],
    toImageButtonOptions: { filename: "diffembed-explorer", scale: 2 } };
  let drawn = false, pending = false, renders = 0, paints = 0;
  function draw() {
    if (pending) return;
    pending = true;
    Promise.resolve().then(() => {
      pending = false;
      const p = drawn ? Plotly.react(gd, traces(), layout(), config) : Plotly.newPlot(gd, traces(), layout(), config);
      drawn = true;
      return p;
    }).then(() => {
      if (renders === 0) { bind(); if (first) performance.mark("explorer:drawn"); }
      renders++;
      paint();
      root.dataset.ready = String(renders);
    });
  }

  // ------------------------------------------------------------------ highlight layer
  const layer = el("canvas", "ex-layer");
  const MAX_RINGS = 20000;  // above this many matches, small squares instead of rings
  let painted = { matches: [], neighbours: [], focus: [] };
  const RGB = VIRIDIS.map((h) => [1, 3, 5].map((o) => parseInt(h.slice(o, o + 2), 16)));
  function colorOf(i) {
    if (colour.catIdx) return colour.colors[colour.catIdx[i]];
    const v = colour.values[i];
    if (!(v > 0)) return GREY;
    const u = Math.min(Math.max((v - 0.04) / 0.96, 0), 1) * (RGB.length - 1), k = Math.min(Math.floor(u), RGB.length - 2), f = u - k;
    return "rgb(" + RGB[k].map((c, m) => Math.round(c + f * (RGB[k + 1][m] - c))).join(",") + ")";
  }
  function paint() {
    const fl = gd._fullLayout, box = fl && fl._size, holder = gd.querySelector(".svg-container");
    if (!box || !holder || !xy) return;
    if (layer.parentNode !== holder) holder.insertBefore(layer, holder.querySelector(".gl-container").nextSibling);
    const ratio = window.devicePixelRatio || 1, w = Math.round(box.w * ratio), h = Math.round(box.h * ratio);
    if (layer.width !== w || layer.height !== h) { layer.width = w; layer.height = h; }
    Object.assign(layer.style, { left: box.l + "px", top: box.t + "px", width: box.w + "px", height: box.h + "px" });
    const ctx = layer.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, box.w, box.h);
    const xa = fl.xaxis, ya = fl.yaxis;
    const seen = (i) => isFinite(xy[0][i]) && isFinite(xy[1][i]);
    const px = (i) => xa.l2p(xy[0][i]), py = (i) => ya.l2p(xy[1][i]);
    const matches = state.matches ? Array.from(state.matches).filter(seen) : [];
    const nbrs = neighboursOf(state.focus).filter((j) => j < N && seen(j));
    const focus = state.focus >= 0 && seen(state.focus) ? [state.focus] : [];
    painted = { matches, neighbours: nbrs, focus };
    paints++;
    if (!state.matches && state.focus < 0) return;
    ctx.fillStyle = "rgba(255,255,255,0.72)";  // dims everything else
    ctx.fillRect(0, 0, box.w, box.h);
    const r = state.size / 2;
    function dots(idx, halo, width, grow) {  // all halos first, then all fills: dense runs stay coloured
      const a = r + grow;
      ctx.fillStyle = halo;
      idx.forEach((i) => { ctx.beginPath(); ctx.arc(px(i), py(i), a + width, 0, 2 * Math.PI); ctx.fill(); });
      idx.forEach((i) => { ctx.beginPath(); ctx.arc(px(i), py(i), a, 0, 2 * Math.PI); ctx.fillStyle = colorOf(i); ctx.fill(); });
    }
    if (matches.length > MAX_RINGS) {
      const a = Math.max(r, 1.5);
      matches.forEach((i) => { ctx.fillStyle = colorOf(i); ctx.fillRect(px(i) - a, py(i) - a, 2 * a, 2 * a); });
    } else dots(matches, "#1f2933", 1.3, 1);
    if (focus.length) {
      const fx = px(state.focus), fy = py(state.focus);
      ctx.strokeStyle = "rgba(214,51,108,0.6)"; ctx.lineWidth = 1.2;
      nbrs.forEach((j) => { ctx.beginPath(); ctx.moveTo(fx, fy); ctx.lineTo(px(j), py(j)); ctx.stroke(); });
      dots(nbrs, "#d6336c", 2.5, 2.5);
      const d = Math.max(8, r + 6);
      ctx.beginPath(); ctx.moveTo(fx, fy - d); ctx.lineTo(fx + d, fy); ctx.lineTo(fx, fy + d); ctx.lineTo(fx - d, fy); ctx.closePath();
      ctx.fillStyle = colorOf(state.focus); ctx.fill();
      ctx.lineWidth = 3; ctx.strokeStyle = "#111827"; ctx.stroke();
    }
  }

  // ------------------------------------------------------------------ hover tooltip
  const tip = $("ex-tip");
  function pointOf(p) { return p && p.curveNumber === 0 ? p.pointNumber : -1; }
  function tipFields(i) {
    const names = D.hover.slice(0, 1);
    const c = state.color[0] === "c" ? cols[+state.color.slice(1)].name : null;
    if (c && names.indexOf(c) < 0) names.push(c);
    D.hover.forEach((n) => { if (names.length < 2 && names.indexOf(n) < 0) names.push(n); });
    return names.map((name) => [name, cellText(cols.find((col) => col.name === name), i)]);
  }
  function showTip(i, ev) {
    clear(tip);
    const head = el("div", "ex-tip-id");
    head.append(el("span", "k", "id"), el("span", "v", short(idText(i))));
    tip.append(head);
    tipFields(i).forEach(([k, v]) => {
      const row = el("div", "ex-tip-row");
      row.append(el("span", "k", short(k)), el("span", "v", short(v)));
      tip.append(row);
    });
    const xy = coordAt(state.x)[i], yy = coordAt(state.y)[i];
    tip.append(el("div", "ex-tip-xy", axisName(state.x) + " " + num(xy) + " · " + axisName(state.y) + " " + num(yy)));
    tip.hidden = false;
    const box = tip.parentNode.getBoundingClientRect();
    let px, py;
    if (ev && typeof ev.clientX === "number") { px = ev.clientX - box.left; py = ev.clientY - box.top; }
    else {
      const fl = gd._fullLayout, plot = gd.querySelector(".nsewdrag").getBoundingClientRect();
      px = plot.left - box.left + fl.xaxis.l2p(xy); py = plot.top - box.top + fl.yaxis.l2p(yy);
    }
    const w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = Math.max(4, px + 14 + w > box.width ? px - w - 14 : px + 14) + "px";
    tip.style.top = Math.max(4, Math.min(py - h / 2, box.height - h - 4)) + "px";
  }
  function hideTip() { tip.hidden = true; }

  // ------------------------------------------------------------------ legend and status
  const legend = $("ex-legend");
  function renderLegend() {
    clear(legend);
    if (colour.cats) {
      legend.append(el("span", "ex-legend-title", short(colour.name)));
      colour.cats.forEach((name, k) => {
        if (!colour.counts[k]) return;
        const chip = el("button", "ex-chip");
        chip.type = "button";
        chip.dataset.cat = String(k);
        chip.setAttribute("aria-pressed", String(!state.hidden.has(k)));
        chip.title = name + " — click to hide or show, double-click to show only this";
        const sw = el("span", "sw");
        sw.style.background = colour.colors[k];
        chip.append(sw, el("span", "nm", short(name)), el("span", "ct", fmtInt.format(colour.counts[k])));
        legend.append(chip);
      });
      if (state.hidden.size) {
        const all = el("button", "ex-link", "show all");
        all.type = "button";
        all.addEventListener("click", () => { state.hidden.clear(); renderLegend(); draw(); });
        legend.append(all);
      }
    } else {
      const grey = colour.missing ? " · grey: missing" : "";
      legend.append(el("span", "ex-legend-title", short(colour.name)),
        el("span", "ex-note", colour.bar.log
          ? "log colour scale " + num(Math.pow(10, colour.bar.lo)) + " → " + num(Math.pow(10, colour.bar.hi)) + grey
          : "colour scale " + num(colour.bar.lo) + " → " + num(colour.bar.hi) + grey));
    }
  }
  let chipTimer = null;
  legend.addEventListener("click", (ev) => {
    const chip = ev.target.closest(".ex-chip");
    if (!chip) return;
    clearTimeout(chipTimer);
    chipTimer = setTimeout(() => {
      const k = +chip.dataset.cat;
      if (state.hidden.has(k)) state.hidden.delete(k); else state.hidden.add(k);
      renderLegend(); draw();
    }, 230);
  });
  legend.addEventListener("dblclick", (ev) => {
    const chip = ev.target.closest(".ex-chip");
    if (!chip) return;
    clearTimeout(chipTimer);
    const k = +chip.dataset.cat, others = colour.cats.map((_, j) => j).filter((j) => j !== k);
    const only = others.every((j) => state.hidden.has(j) || !colour.counts[j]) && !state.hidden.has(k);
    state.hidden = only ? new Set() : new Set(others);
    renderLegend(); draw();
  });
  function renderStatus() {
    const saved = !CANT_RESCALE && t() === D.t0 ? " (as saved)" : "";
    const parts = [fmtInt.format(N) + " points drawn", axisName(state.x) + " vs " + axisName(state.y)];
    if (D.timeControl !== false) parts.push("diffusion time t = " + num(t()) + saved);
    if (state.hidden.size) parts.push(state.hidden.size + " group(s) hidden");
    $("ex-status").textContent = parts.join(" · ");
    $("ex-t-out").textContent = "t = " + num(t());
  }

  // ------------------------------------------------------------------ search
  const qInput = $("ex-q"), qCol = $("ex-search-col"), qRegex = $("ex-regex");
  function runSearch() {
    const q = qInput.value, status = $("ex-search-status"), list = $("ex-results");
    clear(list);
    $("ex-select-matches").hidden = true;
    if (!q) {
      state.matches = null;
      status.textContent = "Substring or regular expression, case-insensitive.";
      status.classList.remove("bad");
      paint(); return;
    }
    let test;
    if (qRegex.checked) {
      let re;
      try { re = new RegExp(q, "i"); } catch (err) {
        state.matches = null; status.textContent = "Not a valid regular expression: " + err.message;
        status.classList.add("bad"); paint(); return;
      }
      test = (s) => re.test(s);
    } else { const low = q.toLowerCase(); test = (s) => s.toLowerCase().indexOf(low) >= 0; }
    status.classList.remove("bad");
    // Rank of a match, best first: the whole text (0), its start (1), a word's start (2),
    // anywhere else (3); ties keep the table's order. "king" lists "king" before "making".
    const low = q.toLowerCase();
    const rankOf = (s) => {
      const t = s.toLowerCase();
      if (t === low) return 0;
      if (t.startsWith(low)) return 1;
      const at = t.indexOf(low);
      return at > 0 && !/[\p{L}\p{N}]/u.test(t[at - 1]) ? 2 : 3;
    };
    const which = +qCol.value, buckets = [[], [], [], []];
    if (which < 0) { for (let i = 0; i < N; i++) { const s = idText(i); if (test(s)) buckets[rankOf(s)].push(i); } }
    else {
      const c = cols[which];
      if (c.kind === "text") {
        const rank = c.dict.map((s) => (test(s) ? rankOf(s) : -1));
        for (let i = 0; i < N; i++) { const code = c.codes[i]; if (code >= 0 && rank[code] >= 0) buckets[rank[code]].push(i); }
      } else {
        for (let i = 0; i < N; i++) {
          if (!isFinite(c.values[i])) continue;
          const s = num(c.values[i]);
          if (test(s)) buckets[rankOf(s)].push(i);
        }
      }
    }
    const hits = [].concat(...buckets);
    state.matches = Int32Array.from(hits);
    let hidden = 0;
    if (state.hidden.size && colour.catIdx) hits.forEach((i) => { if (state.hidden.has(colour.catIdx[i])) hidden++; });
    status.textContent = (hits.length ? fmtInt.format(hits.length) : "No") + " match" + (hits.length === 1 ? "" : "es") +
      (hidden ? " (" + fmtInt.format(hidden) + " in hidden groups)" : "") +
      (hits.length > MAX_LIST ? " · the first " + MAX_LIST + " are listed" : "");
    $("ex-select-matches").hidden = !hits.length;
    const col = which < 0 ? null : cols[which];
    hits.slice(0, MAX_LIST).forEach((i) => list.append(pointItem(i, col ? cellText(col, i) : "")));
    paint();
  }
  function pointItem(i, extra, rank, dist) {
    const li = el("li"), b = el("button", "ex-item");
    b.type = "button";
    b.dataset.point = String(i);
    if (rank !== undefined) b.append(el("span", "rk", String(rank)));
    b.append(el("span", "id", short(idText(i))));
    if (extra) b.append(el("span", "lb", short(extra)));
    if (dist !== undefined) b.append(el("span", "d", dist));
    if (i >= N) { b.disabled = true; b.title = "not drawn (not embedded, or left out of the sample)"; li.className = "off"; }
    li.append(b);
    return li;
  }
  let searchTimer = null;
  qInput.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, N > 200000 ? 250 : 60); });
  qCol.addEventListener("change", runSearch);
  qRegex.addEventListener("change", runSearch);
  $("ex-select-matches").addEventListener("click", () => { if (state.matches) setSelection(state.matches); });

  // ------------------------------------------------------------------ focus and neighbours
  const pointPanel = $("ex-point");
  function labelCol() { return D.label ? cols.find((c) => c.name === D.label) : cols[0]; }
  function setFocus(i) {
    state.focus = i;
    clear(pointPanel);
    if (i < 0) { pointPanel.append(el("p", "ex-note", "Click a point to see its details and nearest neighbours.")); paint(); return; }
    const head = el("div", "ex-point-head");
    head.append(el("span", "ex-point-id", idText(i)));
    const close = el("button", "ex-icon", "×");
    close.type = "button"; close.title = "Clear"; close.setAttribute("aria-label", "Clear the point");
    close.addEventListener("click", () => setFocus(-1));
    head.append(close);
    const dl = el("dl", "ex-kv");
    cols.forEach((c) => dl.append(el("dt", null, c.name), el("dd", null, cellText(c, i))));
    [state.x, state.y].forEach((j) => { if (j >= 0) dl.append(el("dt", null, D.coordNames[j] + " (t = " + num(t()) + ")"), el("dd", null, num(coordAt(j)[i]))); });
    pointPanel.append(head, dl);
    if (!NB) {
      pointPanel.append(el("p", "ex-note", D.noNeighbors || "Neighbours were not saved with this run (diffembed map --explorer-neighbors K saves them)."));
      paint(); return;
    }
    const nbrs = [], lab = labelCol();
    for (let r = 0; r < NB.k; r++) { const j = NB.idx[i * NB.k + r]; if (j >= 0) nbrs.push([j, NB.dist ? num(NB.dist[i * NB.k + r]) : undefined]); }
    pointPanel.append(el("h4", null, nbrs.length + " nearest neighbours · " + (/space$/i.test(NB.space) ? NB.space : NB.space + " space") + ", " + NB.metric));
    const ol = el("ol", "ex-list ex-nbrs");
    nbrs.forEach(([j, d], r) => ol.append(pointItem(j, lab ? cellText(lab, j) : "", r + 1, d)));
    pointPanel.append(ol);
    const sel = el("button", "ex-link", "Select this point and its neighbours");
    sel.type = "button";
    sel.addEventListener("click", () => setSelection(Int32Array.from([i].concat(nbrs.map((p) => p[0]).filter((j) => j < N)))));
    pointPanel.append(sel);
    paint();
  }
  root.addEventListener("click", (ev) => {
    const item = ev.target.closest("[data-point]");
    if (item && !item.disabled) setFocus(+item.dataset.point);
  });

  // ------------------------------------------------------------------ selection, table, CSV
  function setSelection(idx) {
    state.selection = idx && idx.length ? Int32Array.from(idx) : null;
    renderSelection(); draw();
  }
  function renderSelection() {
    const box = $("ex-selection"), table = $("ex-table"), sel = state.selection;
    clear(table);
    box.hidden = !sel;
    if (!sel) return;
    $("ex-sel-title").textContent = fmtInt.format(sel.length) + " point" + (sel.length === 1 ? "" : "s") + " selected";
    const heads = ["id"].concat(cols.map((c) => c.name), axes().map(axisName));
    const thead = el("thead"), tr = el("tr");
    heads.forEach((h) => tr.append(el("th", null, short(h))));
    thead.append(tr);
    const tbody = el("tbody");
    Array.from(sel.slice(0, MAX_TABLE)).forEach((i) => {
      const row = el("tr");
      row.dataset.point = String(i);
      row.append(el("td", "id", idText(i)));
      cols.forEach((c) => row.append(el("td", c.kind === "number" ? "num" : null, short(cellText(c, i)))));
      axes().forEach((j) => row.append(el("td", "num", num(coordAt(j)[i]))));
      tbody.append(row);
    });
    table.append(thead, tbody);
    $("ex-sel-note").textContent = (sel.length > MAX_TABLE ? "The first " + MAX_TABLE + " rows are shown; " : "") +
      "the CSV holds every selected row with coordinates at t = " + num(t()) + ". Click a row to see its neighbours.";
  }
  function axes() { return [state.x, state.y].filter((j) => j >= 0); }
  function csvCell(s) {
    s = s === MISSING ? "" : String(s);
    if (/^[=+\-@\t\r]/.test(s) && !/^[-+]?(\d|\.\d)/.test(s)) s = "'" + s;  // no spreadsheet formulas
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function selectionCSV() {
    const heads = ["id"].concat(cols.map((c) => c.name), axes().map(axisName));
    const lines = [heads.map(csvCell).join(",")];
    const xs = axes().map(coordAt);
    state.selection.forEach((i) => {
      lines.push([idText(i)].concat(cols.map((c) => cellText(c, i)), xs.map((a) => num(a[i]))).map(csvCell).join(","));
    });
    return lines.join("\n") + "\n";
  }
  $("ex-csv").addEventListener("click", () => {
    if (!state.selection) return;
    const url = URL.createObjectURL(new Blob([selectionCSV()], { type: "text/csv;charset=utf-8" }));
    const a = el("a");
    a.href = url; a.download = "diffembed-selection-" + state.selection.length + ".csv";
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 4000);
  });
  $("ex-clear").addEventListener("click", () => setSelection(null));

  // ------------------------------------------------------------------ controls
  const colorSel = $("ex-color"), xSel = $("ex-x"), ySel = $("ex-y"), tIn = $("ex-t");
  function option(parent, value, text) { const o = el("option", null, text); o.value = value; parent.append(o); }
  if (cols.length) { const g = el("optgroup"); g.label = "Metadata"; cols.forEach((c, i) => option(g, "c" + i, short(c.name))); colorSel.append(g); }
  const dg = el("optgroup"); dg.label = D.timeControl === false ? "Coordinates" : "Diffusion coordinates"; D.coordNames.forEach((n, j) => option(dg, "d" + j, n)); colorSel.append(dg);
  colorSel.value = state.color;
  D.coordNames.forEach((n, j) => { option(xSel, String(j), n); option(ySel, String(j), n); });
  if (K < 2) option(ySel, "-1", "point index");
  xSel.value = String(state.x); ySel.value = String(state.y);
  option(qCol, "-1", "id");
  cols.forEach((c, i) => option(qCol, String(i), short(c.name)));
  const lab = D.label ? cols.findIndex((c) => c.name === D.label) : -1;
  qCol.value = String(lab >= 0 ? lab : -1);
  tIn.max = String(tValues.length - 1); tIn.value = String(state.ti); tIn.disabled = CANT_RESCALE;
  if (D.timeControl === false) root.querySelector(".ex-time").hidden = true;
  $("ex-t-reset").disabled = CANT_RESCALE;
  if (CANT_RESCALE) tIn.title = "The saved run lacks its eigenvalues or its diffusion time.";
  $("ex-size").value = String(state.size); $("ex-opacity").value = String(state.opacity);

  function refreshAll() { buildColour(); renderLegend(); renderStatus(); if (state.focus >= 0) setFocus(state.focus); renderSelection(); draw(); }
  colorSel.addEventListener("change", () => { state.color = colorSel.value; state.hidden.clear(); refreshAll(); });
  xSel.addEventListener("change", () => { state.x = +xSel.value; refreshAll(); });
  ySel.addEventListener("change", () => { state.y = +ySel.value; refreshAll(); });
  $("ex-swap").addEventListener("click", () => {
    [state.x, state.y] = [state.y, state.x];
    if (state.x < 0) [state.x, state.y] = [state.y, state.x];
    xSel.value = String(state.x); ySel.value = String(state.y); refreshAll();
  });
  tIn.addEventListener("input", () => { state.ti = +tIn.value; refreshAll(); });
  $("ex-t-reset").addEventListener("click", () => { state.ti = tValues.indexOf(D.t0); tIn.value = String(state.ti); refreshAll(); });
  $("ex-size").addEventListener("input", (ev) => { state.size = +ev.target.value; draw(); });
  $("ex-opacity").addEventListener("input", (ev) => { state.opacity = +ev.target.value; draw(); });
  root.querySelectorAll(".ex-modes button").forEach((b) => b.addEventListener("click", () => {
    state.mode = b.dataset.mode;
    root.querySelectorAll(".ex-modes button").forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
    Plotly.relayout(gd, { dragmode: state.mode });
  }));
  if (first) document.addEventListener("keydown", (ev) => {
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test((ev.target.tagName || ""));
    if (ev.key === "/" && !typing) { ev.preventDefault(); qInput.focus(); }
    else if (ev.key === "Escape" && state.focus >= 0) setFocus(-1);
  });

  // ------------------------------------------------------------------ start
  function bind() {
    gd.on("plotly_hover", (ev) => { const i = pointOf(ev && ev.points && ev.points[0]); if (i >= 0) showTip(i, ev.event); });
    gd.on("plotly_unhover", hideTip);
    gd.on("plotly_click", (ev) => { const i = pointOf(ev && ev.points && ev.points[0]); if (i >= 0) setFocus(i); });
    gd.on("plotly_selected", (ev) => {
      if (!ev || !ev.points) return;
      const idx = ev.points.filter((p) => p.curveNumber === 0).map((p) => p.pointNumber).sort((a, b) => a - b);
      state.selection = idx.length ? Int32Array.from(idx) : null;
      renderSelection();
    });
    gd.on("plotly_deselect", () => { state.selection = null; renderSelection(); });
    gd.on("plotly_relayout", paint);
    gd.on("plotly_relayouting", paint);
    gd.on("plotly_afterplot", paint);
  }
  buildColour(); renderLegend(); renderStatus(); draw();
  gd.addEventListener("mouseleave", hideTip);

  // read-only hooks for tests and the browser console
  return Object.freeze({
    idOf: (i) => idText(i),
    state: () => ({ x: state.x, y: state.y, t: t(), color: state.color, focus: state.focus,
      hidden: Array.from(state.hidden), matches: state.matches ? Array.from(state.matches) : null,
      selection: state.selection ? Array.from(state.selection) : null, renders, paints }),
    painted: (what) => (painted[what] || []).slice(),
    times: () => tValues.slice(),
  });
  }

  const all = {};
  let firstApi = null;
  document.querySelectorAll("section[data-explorer]").forEach((root) => {
    const api = start(root, firstApi === null);
    if (api) { all[root.dataset.explorer] = api; if (firstApi === null) firstApi = api; }
  });
  if (firstApi) window.diffembedExplorer = firstApi;
  window.diffembedExplorers = Object.freeze(all);
})();
