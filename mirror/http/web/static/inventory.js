// The inventory view: where what hubgate served comes from (a chart over time, with its numbers), under
// which licences, what the Hub no longer serves, and every served revision with a page of its own.
//
// Like the rest of the page, everything from the server is shown as text (ui.js's h()); repo ids, file
// names and licence names come from upstream and are never parsed as markup.

import { api } from "./api.js";
import { numbersTable, stackedBarChart } from "./chart.js";
import {
  $,
  alertBox,
  badge,
  formatBytes,
  formatTime,
  h,
  plural,
  section,
  select,
  show,
} from "./ui.js";

const MEASURES = [
  ["downloads", "Downloads"],
  ["bytes", "Bytes"],
  ["revisions", "Revisions"],
  ["identities", "Users (identities)"],
];
const GROUPS = [
  ["country", "Country"],
  ["family", "Country and family"],
];
const ORIGINS = [
  ["lineage", "Lineage root"],
  ["publisher", "Publisher"],
];
const PERIODS = [
  ["month", "Month"],
  ["week", "Week"],
];

function choose(params, name, options) {
  const value = params.get(name);
  return options.some(([key]) => key === value) ? value : options[0][0];
}

function chartChoice(params) {
  return {
    measure: choose(params, "measure", MEASURES),
    group: choose(params, "group", GROUPS),
    by: choose(params, "by", ORIGINS),
    period: choose(params, "period", PERIODS),
  };
}

function labelOf(options, key) {
  return options.find(([value]) => value === key)[1];
}

function count(value) {
  return Number(value || 0).toLocaleString("en");
}

function shortBytes(value) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let scaled = Number(value) || 0;
  let unit = 0;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${scaled} B` : `${scaled.toFixed(scaled < 10 ? 1 : 0)} ${units[unit]}`;
}

function periodLabel(key, period) {
  return period === "month" ? key.slice(0, 7) : `week of ${key}`;
}

export function repoPath(repoId) {
  return repoId.split("/").map(encodeURIComponent).join("/");
}

export function revisionHash(revision) {
  return `#/inventory/${revision.repo_type}/${repoPath(revision.repo_id)}/${revision.commit}`;
}

export function failed(view, heading, error, context) {
  if (!context.isCurrent()) return;
  if (error.status === 401) return context.signOut(error.message);
  show(view, heading, alertBox(error));
}

export function table(label, columns, rows) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "compact", "aria-label": label },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          columns.map((name) =>
            h("th", { scope: "col", class: name.endsWith("#") ? "number" : null }, name.replace(/#$/, "")),
          ),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

export function numberCell(value, text) {
  return h("td", { class: "number", "data-value": value }, text ?? count(value));
}

// --- the inventory ------------------------------------------------------------------------------------

export async function renderInventory(params, context) {
  timelines.clear();
  const view = $("view");
  const heading = h("h1", { tabindex: "-1" }, "Inventory");
  show(view, heading, h("p", { class: "muted" }, "Loading…"));
  let inventory;
  let licences;
  let continuity;
  try {
    [inventory, licences, continuity] = await Promise.all([
      api("GET", "inventory"),
      api("GET", "reports/licences"),
      api("GET", "reports/continuity"),
    ]);
  } catch (error) {
    return failed(view, heading, error, context);
  }
  if (!context.isCurrent()) return;
  const chartArea = h("div", { class: "chart-area", "aria-live": "polite" });
  show(
    view,
    heading,
    summary(inventory.items, continuity),
    originSection(chartArea, params, context),
    licencesSection(licences),
    continuitySection(continuity),
    revisionsSection(inventory.items),
  );
  await drawOrigins(chartArea, chartChoice(params), context);
}

function summary(items, continuity) {
  const downloads = items.reduce((sum, item) => sum + item.downloads.count, 0);
  const bytes = items.reduce((sum, item) => sum + item.downloads.bytes, 0);
  const identities = new Set(items.flatMap((item) => Object.keys(item.downloads.by_identity)));
  const gone = continuity.totals.repos;
  return h(
    "p",
    { class: "lead", "data-testid": "inventory-summary" },
    `${plural(items.length, "revision", "revisions")} served: ${plural(downloads, "download", "downloads")}, `,
    `${formatBytes(bytes)}, to ${plural(identities.size, "identity", "identities")}`,
    gone ? `; ${plural(gone, "repository", "repositories")} no longer on the Hub.` : ".",
  );
}

function originSection(chartArea, params, context) {
  const choice = chartChoice(params);
  const form = h(
    "form",
    { class: "chart-controls", "aria-label": "What the chart shows" },
    h("div", { class: "field" }, select("chart-measure", "Measure", MEASURES, choice.measure)),
    h("div", { class: "field" }, select("chart-group", "Group by", GROUPS, choice.group)),
    h("div", { class: "field" }, select("chart-by", "Origin", ORIGINS, choice.by)),
    h("div", { class: "field" }, select("chart-period", "Period", PERIODS, choice.period)),
  );
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("change", () => {
    const next = {
      measure: form.querySelector("#chart-measure").value,
      group: form.querySelector("#chart-group").value,
      by: form.querySelector("#chart-by").value,
      period: form.querySelector("#chart-period").value,
    };
    // The choice lives in the URL (a reload or a shared link shows the same chart) without a navigation.
    history.replaceState(null, "", `#/inventory?${new URLSearchParams(next)}`);
    drawOrigins(chartArea, next, context);
  });
  return section("Origins over time", form, chartArea);
}

let drawing = 0;
// The timeline reports this view fetched, by query: switching the measure or the grouping back and forth
// redraws without asking again. Emptied whenever the inventory view is entered.
const timelines = new Map();

async function drawOrigins(area, choice, context) {
  const mine = ++drawing;
  area.setAttribute("aria-busy", "true");
  const query = `reports/timeline?${new URLSearchParams({ by: choice.by, period: choice.period })}`;
  let report;
  try {
    if (!timelines.has(query)) timelines.set(query, await api("GET", query));
    report = timelines.get(query);
  } catch (error) {
    if (mine !== drawing) return;
    return failed(area, null, error, context);
  }
  if (mine !== drawing || !context.isCurrent()) return;
  area.setAttribute("aria-busy", "false");
  const measure = choice.measure;
  const periods = report.periods.map((key) => ({ key, label: periodLabel(key, report.period) }));
  const groups = choice.group === "country" ? report.by_country : report.by_family;
  const series = groups.map((group) => ({
    name: choice.group === "country" ? group.country : `${group.country} · ${group.family}`,
    values: group[measure],
    total: group.total[measure],
  }));
  const totals = {
    name: "All origins (each revision and user once)",
    values: report.totals[measure],
    total: report.totals.total[measure],
  };
  const [short, exact] =
    measure === "bytes" ? [shortBytes, (value) => `${count(value)} bytes`] : [count, count];
  const what = labelOf(MEASURES, measure);
  const per = choice.period === "month" ? "month" : "week";
  const by = choice.group === "country" ? "country" : "country and family";
  const title = `${what} per ${per}, by ${by} of the ${choice.by === "lineage" ? "lineage root" : "publisher"}`;
  const explained =
    `Each bar is one UTC ${per} (a file counts in the ${per} it was served), stacked by origin. ` +
    "Revisions and users count once per bar and group; a revision with origins in several groups counts " +
    "in each, so a stack can exceed the last row of the table, which counts each once.";
  // What is drawn now, for whoever waits for a redraw (a test, an assistive tool reading the region).
  area.dataset.drawn = [measure, choice.group, choice.by, choice.period].join(" ");
  if (!totals.total) {
    show(
      area,
      h("p", { class: "empty" }, `Nothing was served in the last ${plural(periods.length, per, `${per}s`)}.`),
    );
    return;
  }
  show(
    area,
    stackedBarChart({ id: "origins-chart", title, description: explained, periods, series, short, exact }),
    h("p", { class: "muted chart-note" }, explained),
    numbersTable({ caption: title, periods, series, totals, exact, short }),
  );
}

function licencesSection(report) {
  if (!report.by_bucket.length)
    return section("Licences", h("p", { class: "muted" }, "Nothing served yet."));
  return section(
    "Licences",
    h("p", { class: "muted" }, "As the gate resolved them: the strictest licence over each revision's lineage."),
    table(
      "Licences by bucket",
      ["Bucket", "Revisions#", "Downloads#", "Bytes#", "Share of bytes#"],
      report.by_bucket.map((row) =>
        h(
          "tr",
          {},
          h("td", {}, row.bucket),
          numberCell(row.revisions),
          numberCell(row.downloads),
          numberCell(row.bytes, formatBytes(row.bytes)),
          numberCell(row.share_of_bytes, `${(row.share_of_bytes * 100).toFixed(1)} %`),
        ),
      ),
    ),
    h("h3", {}, "Stated licences"),
    table(
      "Stated licences",
      ["Licence", "Bucket", "Revisions#", "Downloads#", "Publishers"],
      report.by_licence.map((row) =>
        h(
          "tr",
          {},
          h("td", {}, row.licence),
          h("td", {}, row.bucket),
          numberCell(row.revisions),
          numberCell(row.downloads),
          h("td", {}, row.publishers.join(", ")),
        ),
      ),
    ),
  );
}

function continuitySection(report) {
  const title = "What changed upstream";
  if (!report.by_repo.length)
    return section(
      title,
      h("p", { class: "muted" }, "The Hub still serves every repository hubgate served."),
    );
  return section(
    title,
    h(
      "p",
      {},
      `${plural(report.totals.repos, "repository", "repositories")} hubgate served no longer on the Hub as `,
      "it was: removed, made private or gated since. hubgate serves what it holds as the policy's ",
      h("code", {}, "[continuity]"),
      " section says.",
    ),
    table(
      "Repositories no longer on the Hub",
      ["Repository", "On the Hub", "The Hub said", "Revisions#", "Downloads#", "Last served"],
      report.by_repo.map((row) =>
        h(
          "tr",
          {},
          h("td", { class: "mono" }, row.repo),
          h("td", {}, row.upstream_state),
          h("td", {}, row.detail || "—"),
          numberCell(row.revisions),
          numberCell(row.downloads),
          h("td", {}, formatTime(row.last_served_at)),
        ),
      ),
    ),
  );
}

function revisionsSection(items) {
  if (!items.length)
    return section("Revisions", h("p", { class: "empty" }, "hubgate has not served anything yet."));
  const newest = [...items].sort((a, b) => String(b.last_served_at).localeCompare(String(a.last_served_at)));
  return section(
    "Revisions",
    table(
      "Served revisions",
      [
        "Revision",
        "Publisher",
        "Built on",
        "Licence",
        "Review",
        "Signature",
        "On the Hub",
        "Downloads#",
        "Bytes#",
        "Last served",
      ],
      newest.map((item) =>
        h(
          "tr",
          {},
          h(
            "td",
            {},
            h(
              "a",
              { href: revisionHash(item), class: "mono" },
              `${item.repo_id}@${item.commit.slice(0, 10)}`,
            ),
          ),
          h("td", {}, `${item.origin.organisation} · ${item.origin.country}`),
          h("td", {}, builtOn(item)),
          h("td", {}, `${item.licence.bucket}: ${stated(item.licence)}`),
          h("td", {}, reviewBadge(item.review)),
          h("td", {}, item.signature.status),
          h("td", {}, item.upstream_state),
          numberCell(item.downloads.count),
          numberCell(item.downloads.bytes, formatBytes(item.downloads.bytes)),
          h("td", {}, formatTime(item.last_served_at)),
        ),
      ),
    ),
  );
}

// What a revision is built on: its lineage roots (a repository past which the lineage is unknown stands
// for its branch), as the gate recorded them.
function builtOn(revision) {
  const origins = revision.origins;
  if (!origins) return "—";
  if (!origins.recorded) return h("span", { class: "muted" }, "not recorded");
  const roots = origins.roots.map((root) =>
    root.repo_id === revision.repo_id ? "itself" : `${root.repo_id} (${root.family}, ${root.country})`,
  );
  return [roots.join("; "), origins.complete ? null : h("span", { class: "tag" }, "lineage incomplete")];
}

export function stated(licence) {
  const names = licence.stated.map((item) =>
    (item.licence || "").toLowerCase() === "other" && item.name ? `other (${item.name})` : item.licence || "none stated",
  );
  return names.join(" + ") || "none stated";
}

export function reviewBadge(review) {
  if (review.id === null || review.id === undefined) return h("span", { class: "muted" }, review.state);
  return h("a", { href: `#/reviews/${Number(review.id)}` }, badge("state", review.state));
}
