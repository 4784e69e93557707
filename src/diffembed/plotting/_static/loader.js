(function () {
  "use strict";
  var store = JSON.parse(document.getElementById("de-store").textContent), cache = {};
  var types = {f4: Float32Array, f8: Float64Array, i1: Int8Array, u1: Uint8Array,
               i2: Int16Array, u2: Uint16Array, i4: Int32Array, u4: Uint32Array};
  function decode(spec) {
    var bin = atob(spec.bdata), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new types[spec.dtype](bytes.buffer);
  }
  function resolve(o) {
    if (Array.isArray(o)) return o.map(resolve);
    if (o === null || typeof o !== "object") return o;
    if (typeof o.__ref__ === "string") {
      var key = o.__ref__, v = store[key];
      var typed = v && typeof v.bdata === "string" && types[v.dtype];
      if (!(key in cache)) cache[key] = typed ? decode(v) : resolve(v);
      return cache[key];
    }
    var out = {};
    Object.keys(o).forEach(function (k) { out[k] = resolve(o[k]); });
    return out;
  }
  var gl = false, canvas = document.createElement("canvas");
  try { gl = !!(canvas.getContext("webgl") || canvas.getContext("experimental-webgl")); }
  catch (e) { gl = false; }
  function say(div, text) { div.textContent = text; div.className += " empty"; }
  // Figures are drawn when they come near the viewport (or before printing), so the explorer at
  // the top of the page is drawn first and a heavy 3-D view never delays it.
  function draw(el) {
    if (el.dataset.drawn) return;
    el.dataset.drawn = "1";
    var div = document.getElementById(el.getAttribute("data-plot"));
    if (!div) return;
    if (typeof Plotly === "undefined") return say(div, "plotly.js did not load.");
    var fig = resolve(JSON.parse(el.textContent));
    if (!gl) {
      var is3d = fig.data.some(function (t) { return t.type === "scatter3d"; });
      if (is3d) return say(div, "The 3-D view needs WebGL, which this browser lacks.");
      fig.data.forEach(function (t) { if (t.type === "scattergl") t.type = "scatter"; });
    }
    Plotly.newPlot(div, fig.data, fig.layout, fig.config);
    var root = fig.layout.meta && fig.layout.meta.icicleRoot;
    if (root && div.on) {
      // The icicle's row names hold for its full view only: hide them while zoomed into a node.
      var rows = [];
      (fig.layout.annotations || []).forEach(function (a, i) { if (a.name === "icicle-row") rows.push(i); });
      div.on("plotly_icicleclick", function (ev) {
        if (!ev || ev.nextLevel === undefined) return;
        var show = ev.nextLevel === root, update = {};
        rows.forEach(function (i) { update["annotations[" + i + "].visible"] = show; });
        setTimeout(function () { Plotly.relayout(div, update); }, 800);
      });
    }
  }
  var blocks = Array.prototype.slice.call(
    document.querySelectorAll("script[type='application/json'][data-plot]"));
  function drawAll() { blocks.forEach(draw); }
  if (!("IntersectionObserver" in window)) return drawAll();
  var byDiv = {};
  var watch = new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (e.isIntersecting && byDiv[e.target.id]) { watch.unobserve(e.target); draw(byDiv[e.target.id]); }
    });
  }, { rootMargin: "300px 0px" });
  blocks.forEach(function (el) {
    var div = document.getElementById(el.getAttribute("data-plot"));
    if (!div) return;
    byDiv[div.id] = el;
    watch.observe(div);
  });
  window.addEventListener("beforeprint", drawAll);
})();
