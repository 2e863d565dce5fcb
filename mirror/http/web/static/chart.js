// A small stacked bar chart in SVG, built node by node (no library, nothing parsed), with a table of the
// same numbers: the table is what a screen reader and a test read, the chart what the eye reads.

import { h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 760;
const HEIGHT = 300;
const MARGIN = { top: 12, right: 12, bottom: 44, left: 76 };
export const COLOURS = 8; // series-0 .. series-7 in app.css; more series than that share an "Other" bar

function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) element.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// 1, 2 or 5 times a power of ten (at least 1), at least `value`: ticks that read as round numbers.
function niceCeiling(value) {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

// Past COLOURS series, the smallest are added up into one "Other" series (the table still lists them all).
export function foldSeries(series) {
  if (series.length <= COLOURS) return series;
  const kept = series.slice(0, COLOURS - 1);
  const rest = series.slice(COLOURS - 1);
  const values = rest[0].values.map((_, i) => rest.reduce((sum, item) => sum + item.values[i], 0));
  return [...kept, { name: `Other (${rest.length})`, values, other: true }];
}

// periods: [{key, label}], series: [{name, values (one per period)}], short/exact: number -> text.
export function stackedBarChart({ id, title, description, periods, series, short, exact }) {
  const shown = foldSeries(series);
  const stacks = periods.map((_, i) => shown.reduce((sum, item) => sum + item.values[i], 0));
  // Four steps of a round size: whole numbers stay whole (1, 2, 3, 4 revisions, never 1.25).
  const step = niceCeiling(Math.max(0, ...stacks) / 4);
  const top = 4 * step;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const band = plotWidth / Math.max(1, periods.length);
  const barWidth = Math.max(2, band * 0.7);
  const y = (value) => MARGIN.top + plotHeight - (value / top) * plotHeight;

  const grid = [0, 0.25, 0.5, 0.75, 1].map((share) => {
    const value = top * share;
    return s(
      "g",
      { class: "tick" },
      s("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value) }),
      s("text", { x: MARGIN.left - 6, y: y(value), "text-anchor": "end", "dominant-baseline": "middle" }, short(value)),
    );
  });
  // Every label when they fit, else every n-th (the table has them all).
  const every = Math.ceil(periods.length / Math.max(1, Math.floor(plotWidth / 64)));
  const bars = periods.map((period, i) => {
    const x = MARGIN.left + i * band + (band - barWidth) / 2;
    let base = 0;
    const segments = shown.map((item, index) => {
      const value = item.values[i];
      if (!value) return null;
      const rect = s(
        "rect",
        {
          x,
          y: y(base + value),
          width: barWidth,
          height: Math.max(1, y(base) - y(base + value)),
          class: `segment series-${item.other ? COLOURS - 1 : index}`,
          "data-series": item.name,
          "data-period": period.key,
          "data-value": value,
        },
        s("title", {}, `${item.name}, ${period.label}: ${exact(value)}`),
      );
      base += value;
      return rect;
    });
    const label =
      i % every === 0
        ? s("text", { x: x + barWidth / 2, y: HEIGHT - MARGIN.bottom + 16, "text-anchor": "middle" }, period.label)
        : null;
    return s("g", { class: "bar", "data-period": period.key }, segments, label);
  });
  const svg = s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-labelledby": `${id}-title ${id}-desc`,
      preserveAspectRatio: "xMidYMid meet",
    },
    s("title", { id: `${id}-title` }, title),
    s("desc", { id: `${id}-desc` }, description),
    s("g", { class: "grid" }, grid),
    s("line", {
      class: "axis",
      x1: MARGIN.left,
      x2: WIDTH - MARGIN.right,
      y1: y(0),
      y2: y(0),
    }),
    bars,
  );
  const legend = h(
    "ul",
    { class: "legend", "aria-label": "Legend" },
    shown.map((item, index) =>
      h(
        "li",
        {},
        h("span", { class: `swatch series-${item.other ? COLOURS - 1 : index}`, "aria-hidden": "true" }),
        item.name,
      ),
    ),
  );
  return h("figure", { class: "chart-figure", id }, svg, legend);
}

// The chart's numbers as a table: one row per series (all of them), one column per period, and the
// window's total. `totals` (optional) is a last row that counts each item once across series.
export function numbersTable({ caption, periods, series, totals, exact, short }) {
  const cell = (value) =>
    h("td", { class: "number", "data-value": value, title: exact(value) }, short(value));
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "compact numbers" },
      h("caption", {}, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Origin"),
          periods.map((period) => h("th", { scope: "col", class: "number" }, period.label)),
          h("th", { scope: "col", class: "number" }, "Whole window"),
        ),
      ),
      h(
        "tbody",
        {},
        series.map((item) =>
          h(
            "tr",
            { "data-series": item.name },
            h("th", { scope: "row" }, item.name),
            item.values.map(cell),
            cell(item.total),
          ),
        ),
      ),
      totals
        ? h(
            "tfoot",
            {},
            h(
              "tr",
              { "data-series": totals.name },
              h("th", { scope: "row" }, totals.name),
              totals.values.map(cell),
              cell(totals.total),
            ),
          )
        : null,
    ),
  );
}
