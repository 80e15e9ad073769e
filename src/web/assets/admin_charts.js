// Admin console charts: grouped bar charts drawn as SVG from numbers (no chart library, no CDN),
// each in a <figure> with a text summary for screen readers (role="img" with a title and a
// description), a <title> per bar (hover and assistive tech), a legend, and the same numbers in
// a data table. Colours come from admin.css classes (.series-N) so both colour schemes keep
// contrast; the legend and table name every series, so colour never carries meaning alone.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const W = 720, H = 260, LEFT = 48, RIGHT = 12, TOP = 12, BOTTOM = 48;

  function s(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) {
      node.setAttribute(k, String(attrs[k]));
    });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // The top of the y axis: four equal steps of 1, 2 or 5 × 10^n, so every tick is a round
  // number (integers for counts of 4 and more).
  function niceMax(max) {
    if (max <= 0) return 4;
    const raw = max / 4;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return Math.max(4, 4 * m * p);
    return 40 * p;
  }

  // opts: { id, title, description, categories: [label], series: [{ name, values: [n] }] }
  function bars(opts) {
    const h = Postern.h;
    const max = niceMax(Math.max(
      0,
      ...opts.series.flatMap(function (x) {
        return x.values;
      }),
    ));
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    const group = plotW / Math.max(1, opts.categories.length);
    const barW = Math.max(2, Math.min(28, (group * 0.8) / Math.max(1, opts.series.length)));
    const titleId = opts.id + "-title", descId = opts.id + "-desc";
    const totals = opts.series.map(function (x) {
      return x.name + " " + x.values.reduce(function (a, b) {
        return a + b;
      }, 0);
    }).join(", ");
    const svg = s("svg", {
      viewBox: "0 0 " + W + " " + H,
      role: "img",
      "aria-labelledby": titleId + " " + descId,
      class: "chart",
      id: opts.id,
    });
    svg.appendChild(s("title", { id: titleId }, opts.title));
    svg.appendChild(s(
      "desc",
      { id: descId },
      (opts.description || "") +
        (opts.categories.length
          ? " Totals: " + totals + ", over " + opts.categories.length + " " +
            (opts.unit || "groups") + "."
          : " No data yet."),
    ));
    // Gridlines and y ticks at 0, ¼, ½, ¾ and the top.
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4, y = TOP + plotH - (plotH * i) / 4;
      svg.appendChild(s("line", { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, class: "grid" }));
      svg.appendChild(
        s(
          "text",
          { x: LEFT - 6, y: y + 4, class: "tick", "text-anchor": "end" },
          Number.isInteger(v) ? v : v.toFixed(1),
        ),
      );
    }
    opts.categories.forEach(function (cat, ci) {
      const x0 = LEFT + group * ci + (group - barW * opts.series.length) / 2;
      opts.series.forEach(function (ser, si) {
        const v = ser.values[ci] || 0;
        const bh = (plotH * v) / max;
        const rect = s("rect", {
          x: x0 + si * barW,
          y: TOP + plotH - bh,
          width: barW - 1,
          height: Math.max(0, bh),
          class: "bar series-" + si,
          "data-series": ser.name,
          "data-category": cat,
          "data-value": v,
        });
        rect.appendChild(s("title", {}, ser.name + ", " + cat + ": " + v));
        svg.appendChild(rect);
      });
      // Label every category when they fit, else every few.
      const every = Math.ceil(opts.categories.length / 10);
      if ((opts.categories.length - 1 - ci) % every === 0) {
        svg.appendChild(s("text", {
          x: LEFT + group * ci + group / 2,
          y: H - BOTTOM + 16,
          class: "tick",
          "text-anchor": "middle",
        }, cat.length > 12 ? cat.slice(0, 11) + "…" : cat));
      }
    });
    svg.appendChild(s("line", {
      x1: LEFT,
      x2: W - RIGHT,
      y1: TOP + plotH,
      y2: TOP + plotH,
      class: "axis",
    }));
    const legend = h(
      "ul",
      { class: "legend", "aria-hidden": "true" },
      opts.series.map(function (x, i) {
        return h("li", null, h("span", { class: "swatch series-" + i }), x.name);
      }),
    );
    const table = h(
      "table",
      { class: "data", id: opts.id + "-table" },
      h("caption", null, opts.title),
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          h("th", { scope: "col" }, opts.categoryLabel || "Group"),
          opts.series.map(function (x) {
            return h("th", { scope: "col" }, x.name);
          }),
        ),
      ),
      h(
        "tbody",
        null,
        opts.categories.map(function (cat, ci) {
          return h(
            "tr",
            null,
            h("th", { scope: "row" }, cat),
            opts.series.map(function (x) {
              return h("td", null, String(x.values[ci] || 0));
            }),
          );
        }),
      ),
    );
    return h(
      "figure",
      { class: "chart-figure" },
      h("figcaption", null, opts.title),
      svg,
      legend,
      h(
        "details",
        { class: "chart-table" },
        h("summary", null, "Data table: " + opts.title),
        table,
      ),
    );
  }

  globalThis.Postern.charts = { bars: bars, niceMax: niceMax };
})();
