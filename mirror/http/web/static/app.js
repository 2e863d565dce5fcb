// hubgate's review page: a small client of the JSON API under ../api/hubgate/v1/.
//
// Repo ids, file names, scanner evidence and reasons are attacker-controlled. Everything from the server
// reaches the document as text nodes or attribute values through h() below; nothing here parses HTML (and
// the page's Trusted Types policy would make any such attempt throw).

import { api, session, TOKEN_KEY } from "./api.js";
import { renderInventory } from "./inventory.js";
import { renderRevision, REVISION_ROUTE } from "./revision.js";
import {
  $,
  alertBox,
  badge,
  facts,
  focusHeading,
  formatBytes,
  formatTime,
  h,
  notify,
  pathText,
  plural,
  section,
  select,
  SEVERITIES,
  show,
  STATES,
  visiblePath,
} from "./ui.js";

const NEEDS_DECISION = "QUARANTINED,PENDING";
const PAGE_SIZE = 50;
const EXPIRIES = [
  ["", "Never"],
  ["86400", "1 day"],
  ["604800", "7 days"],
  ["2592000", "30 days"],
  ["7776000", "90 days"],
];
// What each decision endpoint is called on a button, and what its text field asks for.
const ACTIONS = {
  approve: {
    label: "Approve (waive)",
    field: "reason",
    fieldLabel: "Reason for the waiver",
    required: true,
    done: "approved",
  },
  block: {
    label: "Block",
    field: "reason",
    fieldLabel: "Reason for blocking",
    required: true,
    done: "blocked",
  },
  revoke: {
    label: "Revoke",
    field: "reason",
    fieldLabel: "Reason for revoking",
    required: true,
    done: "revoked",
  },
  reopen: {
    label: "Reopen",
    field: "reason",
    fieldLabel: "Reason for reopening",
    required: true,
    done: "reopened",
  },
  rescan: {
    label: "Rescan",
    field: "reason",
    fieldLabel: "Reason (optional)",
    required: false,
    done: "rescanned",
  },
  request: {
    label: "Request review",
    field: "justification",
    fieldLabel: "Why you need it",
    required: true,
    done: "review requested",
  },
};

let lastListHash = "#/reviews";
// Bumped on every navigation: an answer that arrives after the reviewer moved on is dropped, not shown.
let navigation = 0;

// --- session ------------------------------------------------------------------------------------------

function showSession() {
  const signedIn = session.who !== null;
  $("session").hidden = !signedIn;
  $("sections").hidden = !signedIn;
  show(
    $("whoami"),
    ...(signedIn
      ? [h("span", { class: "who-name" }, session.who.name), " ", badge("role", session.who.role)]
      : []),
  );
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  session.who = null;
  showSession();
  renderLogin(message);
}

function renderLogin(message) {
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "hgt_…",
    "aria-describedby": "token-help",
  });
  const status = h("div", { id: "login-error" });
  const form = h(
    "form",
    { class: "panel login", novalidate: true },
    h("h1", { tabindex: "-1" }, "Sign in to review"),
    h(
      "p",
      { id: "token-help", class: "muted" },
      "Paste a hubgate API token (",
      h("code", {}, "hubgate token create --name you --role approver"),
      "). It is kept in this tab only and sent to hubgate's API as a bearer token.",
    ),
    h("label", { for: "token" }, "API token"),
    input,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "button" }, "Sign in")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token.startsWith("hgt_")) {
      show(status, alertBox(new Error("a hubgate API token starts with hgt_")));
      input.focus();
      return;
    }
    session.token = token;
    try {
      session.who = await api("GET", "whoami");
    } catch (error) {
      session.token = null;
      show(status, alertBox(error));
      input.focus();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    showSession();
    notify("");
    route();
  });
  show($("view"), form);
  if (message) show(status, alertBox(new Error(message)));
  input.focus();
}

// --- the list of reviews ------------------------------------------------------------------------------

function listQuery(params) {
  const query = new URLSearchParams();
  const state = params.get("state") ?? NEEDS_DECISION;
  if (state !== "all") query.set("state", state);
  for (const key of ["repo", "severity"]) {
    const value = params.get(key);
    if (value) query.set(key, value);
  }
  query.set("limit", params.get("limit") || String(PAGE_SIZE));
  query.set("after", params.get("after") || "0");
  return query;
}

function filterForm(params) {
  const state = params.get("state") ?? NEEDS_DECISION;
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter reviews" },
    h(
      "div",
      { class: "field" },
      select(
        "filter-state",
        "State",
        [[NEEDS_DECISION, "Quarantined + pending"], ...STATES.map((s) => [s, s]), ["all", "All states"]],
        state,
      ),
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: "filter-repo" }, "Repository"),
      h("input", {
        id: "filter-repo",
        name: "repo",
        placeholder: "org/name",
        value: params.get("repo") || "",
      }),
    ),
    h(
      "div",
      { class: "field" },
      select(
        "filter-severity",
        "Severity",
        [["", "Any"], ...SEVERITIES.map((s) => [s, s])],
        params.get("severity") || "",
      ),
    ),
    h("div", { class: "field field-button" }, h("button", { type: "submit", class: "button" }, "Apply")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    next.set("state", form.querySelector("#filter-state").value);
    const repo = form.querySelector("#filter-repo").value.trim();
    if (repo) next.set("repo", repo);
    const severity = form.querySelector("#filter-severity").value;
    if (severity) next.set("severity", severity);
    if (params.get("limit")) next.set("limit", params.get("limit"));
    location.hash = `#/reviews?${next}`;
  });
  return form;
}

function reviewRow(review) {
  const what = review.subject_kind === "blob" ? review.path || review.subject : "licence of this commit";
  const cell = (label, ...content) => h("td", { "data-label": label }, ...content);
  return h(
    "tr",
    {},
    cell("Review", h("a", { href: `#/reviews/${Number(review.id)}` }, `#${review.id}`)),
    cell("State", badge("state", review.state)),
    cell("Severity", badge("severity", review.severity)),
    cell("Repository", h("span", { class: "mono" }, review.repo || "—")),
    cell("File", pathText(what)),
    cell("Commit", h("span", { class: "mono" }, (review.commit || "").slice(0, 10) || "—")),
    cell("Updated", formatTime(review.updated_at)),
  );
}

async function renderList(params, current) {
  lastListHash = location.hash || "#/reviews";
  const view = $("view");
  const results = h("div", { class: "results", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  show(view, h("h1", { tabindex: "-1" }, "Reviews"), filterForm(params), results);
  let page;
  try {
    page = await api("GET", `reviews?${listQuery(params)}`);
  } catch (error) {
    if (current !== navigation) return;
    if (error.status === 401) return signOut(error.message);
    show(results, alertBox(error));
    results.setAttribute("aria-busy", "false");
    return;
  }
  if (current !== navigation) return;
  const after = Number(params.get("after") || 0);
  // The API pages forward only: the `after` ids of the pages before this one travel in the URL (`back`),
  // so "Previous" also works after the browser's own back button or a reload.
  const back = (params.get("back") || "").split(",").filter(Boolean).map(Number);
  const pageNumber = back.length + 1;
  const table = h(
    "table",
    { class: "reviews" },
    h("caption", { class: "visually-hidden" }, "Reviews matching the filters"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Review", "State", "Severity", "Repository", "File", "Commit", "Updated"].map((t) =>
          h("th", { scope: "col" }, t),
        ),
      ),
    ),
    h("tbody", {}, page.items.map(reviewRow)),
  );
  const goTo = (afterId, stack) => {
    const next = new URLSearchParams(params);
    next.set("after", String(afterId));
    if (stack.length) next.set("back", stack.join(","));
    else next.delete("back");
    location.hash = `#/reviews?${next}`;
  };
  const previous = h(
    "button",
    {
      type: "button",
      class: "button button-quiet",
      disabled: after === 0,
      onclick: () => goTo(back.length ? back[back.length - 1] : 0, back.slice(0, -1)),
    },
    back.length || after === 0 ? "← Previous" : "← First page",
  );
  const lastId = page.items.length ? page.items[page.items.length - 1].id : 0;
  const next = h(
    "button",
    {
      type: "button",
      class: "button button-quiet",
      disabled: !page.next,
      onclick: () => goTo(lastId, [...back, after]),
    },
    "Next →",
  );
  show(
    results,
    page.items.length
      ? h("div", { class: "table-wrap" }, table)
      : h("p", { class: "empty" }, after ? "No more reviews." : "No reviews match these filters."),
    h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      previous,
      h("span", { class: "muted" }, `Page ${pageNumber}`),
      next,
    ),
  );
  results.setAttribute("aria-busy", "false");
}

// --- one review ---------------------------------------------------------------------------------------

function reasonList(reasons) {
  if (!reasons.length) return h("p", { class: "muted" }, "No reasons recorded.");
  return h(
    "ul",
    { class: "reasons" },
    reasons.map((reason) =>
      h(
        "li",
        {},
        h("code", { class: "rule" }, reason.rule_id),
        " ",
        h("span", { class: "verdict" }, reason.verdict || ""),
        reason.audit_only ? h("span", { class: "tag" }, "audit only") : null,
        h("div", { class: "reason-message" }, reason.message),
      ),
    ),
  );
}

function findingsSection(reports) {
  if (!reports) return null;
  if (!reports.length) return section("Findings", h("p", { class: "muted" }, "No scanner report stored."));
  return section(
    "Findings",
    reports.map((report) =>
      h(
        "div",
        { class: "report" },
        h(
          "h3",
          {},
          h("span", { class: "mono" }, report.scanner),
          " ",
          h("span", { class: "tag" }, report.status),
          " ",
          h("span", { class: "muted" }, `${report.format} · ${report.scanner_version || ""}`),
        ),
        report.message ? h("p", { class: "report-message" }, report.message) : null,
        report.findings.length
          ? h(
              "ul",
              { class: "findings" },
              report.findings.map((finding) =>
                h(
                  "li",
                  { class: "finding" },
                  h(
                    "div",
                    { class: "finding-head" },
                    badge("severity", finding.severity),
                    " ",
                    h("code", { class: "rule" }, finding.rule_id),
                    finding.location ? h("span", { class: "muted mono" }, ` at ${finding.location}`) : null,
                  ),
                  h("div", {}, finding.message),
                  finding.evidence
                    ? h(
                        "pre",
                        { class: "evidence", "aria-label": "Evidence" },
                        h("code", {}, finding.evidence),
                      )
                    : null,
                ),
              ),
            )
          : h("p", { class: "muted" }, "No findings."),
      ),
    ),
  );
}

function licenceSection(review) {
  if (review.subject_kind === "revision") {
    const licence = review.reasons.filter((reason) => reason.rule_id.startsWith("licence."));
    const scope = h(
      "p",
      {},
      "This review is about the licence of commit ",
      h("span", { class: "mono" }, review.commit.slice(0, 10)),
      ": approving it waives the licence check for that commit only.",
    );
    return section(
      "Licence",
      scope,
      licence.length ? reasonList(licence) : h("p", { class: "muted" }, "No licence reason recorded."),
    );
  }
  const licence = review.licence_review;
  if (!licence) {
    return section(
      "Licence",
      h("p", { class: "muted" }, "The licence of this commit needed no review (or was not checked yet)."),
    );
  }
  return section(
    "Licence",
    h(
      "p",
      {},
      "This commit's licence has its own review: ",
      h("a", { href: `#/reviews/${Number(licence.id)}` }, `#${licence.id}`),
      " ",
      badge("state", licence.state),
    ),
    reasonList(licence.reasons),
  );
}

function signatureSection(signature) {
  // Only repos named by a [[signatures]] policy entry have their model signature checked.
  if (!signature) return null;
  const rows = [
    ["Status", signature.status],
    ["Method", signature.method || "-"],
    ["Signer", signature.signer || "-"],
    ["Policy rule", signature.trust_rule],
    ["Checked", formatTime(signature.checked_at)],
  ];
  if (signature.reason) rows.push(["Why", signature.reason]);
  return section("Model signature", facts(rows));
}

function decisionSection(review) {
  const parts = [];
  if (review.waiver) {
    parts.push(
      h("h3", {}, "Waiver"),
      facts([
        ["By", review.waiver.by],
        ["Reason", review.waiver.reason],
        ["Expires", review.waiver.expires_at ? formatTime(review.waiver.expires_at) : "never"],
        ["Waived rules", review.waiver.rules.join(", ")],
      ]),
    );
  }
  // Every request is kept (four-eyes counts the people who asked); older servers sent only the latest.
  const requests = review.requests || (review.request ? [review.request] : []);
  requests.forEach((request, index) => {
    parts.push(
      h("h3", {}, requests.length > 1 ? `Request ${index + 1} of ${requests.length}` : "Requested"),
      facts([
        ["By", request.by],
        ["Token", request.token],
        ["When", request.at ? formatTime(request.at) : ""],
        ["State then", request.state],
        ["Justification", request.justification],
      ]),
    );
  });
  return parts.length ? section("Waiver and requests", parts) : null;
}

function pathsSection(review) {
  // Every name the same bytes are served under, and whether this verdict covers what that name makes of
  // them: approving "notes.txt" must never quietly approve the same bytes as "modeling_x.py".
  if (!review.paths) return null;
  const covered = (review.interpretations || []).join(", ") || "—";
  return section(
    "Served as",
    h("p", {}, "This verdict covers the bytes read as: ", h("span", { class: "mono" }, covered)),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "compact" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Repository", "Commit", "Path", "Read as", "Covered"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        h(
          "tbody",
          {},
          review.paths.map((row) =>
            h(
              "tr",
              {},
              h("td", { class: "mono" }, row.repo),
              h("td", { class: "mono" }, row.commit.slice(0, 12)),
              h("td", { class: "mono path" }, row.path),
              h("td", { class: "mono" }, row.interpretation),
              h("td", {}, row.covered ? "yes" : "no: decided again when asked for"),
            ),
          ),
        ),
      ),
    ),
  );
}

function downloadsSection(downloads) {
  if (!downloads) return null;
  if (!downloads.count)
    return section(
      "Downloads",
      h("p", { class: "muted" }, "Nobody has downloaded this file through hubgate."),
    );
  return section(
    "Downloads",
    h(
      "p",
      {},
      `${downloads.count} download(s) by ${plural(downloads.identities.length, "identity", "identities")}: `,
      h("span", { class: "mono" }, downloads.identities.join(", ")),
    ),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "compact" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["When", "Who", "Repository", "Path", "State"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        h(
          "tbody",
          {},
          downloads.latest.map((row) =>
            h(
              "tr",
              {},
              h("td", {}, formatTime(row.at)),
              h("td", { class: "mono" }, row.identity),
              h("td", { class: "mono" }, row.repo),
              h("td", {}, pathText(row.path)),
              h("td", {}, badge("state", row.state)),
            ),
          ),
        ),
      ),
    ),
  );
}

function attemptsSection(attempts) {
  // Who tried to get what this review refuses: the people a quarantined or blocked file was aimed at.
  if (!attempts) return null;
  if (!attempts.count)
    return section(
      "Refused attempts",
      h("p", { class: "muted" }, "Nobody has been refused this through hubgate."),
    );
  const who = attempts.by_identity.map((item) =>
    h(
      "tr",
      {},
      h("td", { class: "mono" }, item.identity),
      h("td", { class: "number" }, item.count.toLocaleString("en")),
      h("td", {}, formatTime(item.first_at)),
      h("td", {}, formatTime(item.last_at)),
      h(
        "td",
        { class: "client" },
        item.clients.join(" · ") || "—",
        item.folded ? h("span", { class: "tag" }, "more, counted together") : null,
      ),
    ),
  );
  const latest = attempts.latest.map((row) =>
    h(
      "tr",
      {},
      h("td", {}, formatTime(row.last_at)),
      h("td", { class: "mono" }, row.identity || "(others)"),
      h("td", { class: "client" }, row.client || "—"),
      h("td", { class: "mono" }, row.method || "—"),
      h("td", {}, row.path ? pathText(row.path) : "—"),
      h("td", {}, badge("state", row.state)),
      h("td", { class: "number" }, row.count.toLocaleString("en")),
    ),
  );
  return section(
    "Refused attempts",
    h(
      "p",
      { "data-testid": "attempts-summary" },
      `${plural(attempts.count, "refused attempt", "refused attempts")} by `,
      plural(attempts.identity_count, "identity", "identities"),
      attempts.unnamed ? ` and ${attempts.unnamed.toLocaleString("en")} more by further identities` : "",
      `, ${formatTime(attempts.first_at)} to ${formatTime(attempts.last_at)}.`,
    ),
    h(
      "p",
      { class: "muted" },
      "A HEAD or GET answered 403 because of this review. Who: the caller's token (a hash prefix) or ",
      "anonymous; counted per day, so a repeated attempt adds to its row.",
    ),
    h("h3", {}, "Who was targeted"),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "compact", "aria-label": "Refused attempts by identity" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Who", "Attempts", "First", "Last", "Clients"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        h("tbody", {}, who),
      ),
    ),
    h("h3", {}, "Latest"),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "compact", "aria-label": "Latest refused attempts" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Last", "Who", "Client", "Method", "Path", "State then", "Count"].map((t) =>
              h("th", { scope: "col" }, t),
            ),
          ),
        ),
        h("tbody", {}, latest),
      ),
    ),
  );
}

function auditSection(events) {
  return section(
    "Audit trail",
    events.length
      ? h(
          "ol",
          { class: "audit", "aria-label": "Audit trail" },
          events.map((event) =>
            h(
              "li",
              { class: "audit-event" },
              h(
                "div",
                { class: "audit-head" },
                h("span", { class: "mono muted" }, `#${event.id}`),
                " ",
                h("time", { datetime: event.at }, formatTime(event.at)),
                " ",
                h("strong", {}, event.actor),
                h(
                  "span",
                  { class: "muted" },
                  // The token only when it tells more than the person (a token named after its holder).
                  event.token && event.token !== event.actor
                    ? ` (${event.role}, token ${event.token})`
                    : ` (${event.role})`,
                ),
                " ",
                h("span", { class: "action" }, event.action),
                " ",
                badge("state", event.from_state),
                " → ",
                badge("state", event.to_state),
              ),
              event.reason ? h("div", { class: "audit-reason" }, event.reason) : null,
            ),
          ),
        )
      : h("p", { class: "muted" }, "No events."),
  );
}

function actionsSection(review, onDone) {
  const role = session.who ? session.who.role : "";
  if (!review.actions.length) {
    const why =
      role === "viewer"
        ? "Your token has the viewer role: it can read reviews but not act on them."
        : `A token with the ${role} role cannot act on a review in state ${review.state}.`;
    return section("Actions", h("p", { class: "muted", "data-testid": "no-actions" }, why));
  }
  const formSlot = h("div", { class: "action-form-slot" });
  const errorSlot = h("div", { class: "action-error" });
  const buttons = review.actions
    .filter((name) => name in ACTIONS)
    .map((name) =>
      h(
        "button",
        {
          type: "button",
          class: `button action-${name}`,
          "aria-expanded": "false",
          onclick: (event) => {
            const button = event.currentTarget;
            for (const other of buttons) other.setAttribute("aria-expanded", "false");
            button.setAttribute("aria-expanded", "true");
            show(errorSlot);
            notify("");
            const cancel = () => {
              show(formSlot);
              show(errorSlot);
              button.setAttribute("aria-expanded", "false");
              button.focus();
            };
            show(formSlot, actionForm(review, name, errorSlot, onDone, cancel));
            formSlot.querySelector("textarea").focus();
          },
        },
        ACTIONS[name].label,
      ),
    );
  return section("Actions", h("div", { class: "action-buttons" }, buttons), formSlot, errorSlot);
}

function actionForm(review, name, errorSlot, onDone, onCancel) {
  const spec = ACTIONS[name];
  const fieldId = `action-${name}-text`;
  const text = h("textarea", {
    id: fieldId,
    name: spec.field,
    rows: "3",
    required: spec.required,
    maxlength: "4000",
  });
  const expiry = name === "approve" ? select("action-expiry", "Waiver expires after", EXPIRIES, "") : null;
  const submit = h(
    "button",
    { type: "submit", class: `button action-${name}` },
    `Confirm: ${spec.label.toLowerCase()}`,
  );
  const form = h(
    "form",
    { class: "action-form", "aria-label": spec.label },
    h("label", { for: fieldId }, spec.fieldLabel),
    text,
    expiry ? h("div", { class: "field" }, expiry) : null,
    h(
      "div",
      { class: "form-actions" },
      submit,
      h("button", { type: "button", class: "button button-quiet", onclick: onCancel }, "Cancel"),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (spec.required && !value) {
      show(errorSlot, alertBox(new Error(`${spec.fieldLabel} is required.`)));
      text.focus();
      return;
    }
    const body = { [spec.field]: value };
    const seconds = expiry ? form.querySelector("#action-expiry").value : "";
    if (seconds) body.expires_in_s = Number(seconds);
    submit.disabled = true;
    try {
      const updated = await api("POST", `reviews/${Number(review.id)}/${name}`, body);
      const change =
        updated.state === review.state
          ? `${spec.done}, still ${updated.state}`
          : `${review.state} → ${updated.state}`;
      onDone(`Review #${updated.id}: ${change}`);
    } catch (error) {
      if (error.status === 401) return signOut(error.message);
      submit.disabled = false;
      show(errorSlot, alertBox(error));
    }
  });
  return form;
}

async function renderReview(id, current) {
  const view = $("view");
  show(view, h("p", { class: "muted" }, "Loading…"));
  let review;
  try {
    review = await api("GET", `reviews/${id}`);
  } catch (error) {
    if (current !== navigation) return;
    if (error.status === 401) return signOut(error.message);
    show(
      view,
      h("a", { href: lastListHash, class: "back" }, "← All reviews"),
      h("h1", { tabindex: "-1" }, `Review #${id}`),
      alertBox(error),
    );
    return;
  }
  if (current !== navigation) return;
  const title =
    review.subject_kind === "blob"
      ? review.path || review.subject
      : `Revision ${review.repo}@${review.commit.slice(0, 10)}`;
  const onDone = async (message) => {
    const again = ++navigation;
    await renderReview(id, again);
    if (again !== navigation) return;
    notify(message);
    focusHeading();
  };
  show(
    view,
    h("a", { href: lastListHash, class: "back" }, "← All reviews"),
    h(
      "div",
      { class: "review-head" },
      h(
        "h1",
        { tabindex: "-1" },
        `Review #${review.id}`,
        " ",
        h("span", { class: "mono title-path" }, visiblePath(title)),
      ),
      h(
        "div",
        { class: "review-badges" },
        badge("state", review.state),
        review.severity ? badge("severity", review.severity) : null,
      ),
    ),
    actionsSection(review, onDone),
    section(
      "Subject",
      facts([
        ["Kind", review.subject_kind],
        ["Repository", h("span", { class: "mono" }, review.repo)],
        // Whether the Hub still serves the repository ("removed since DATE", "gated since DATE").
        ["On the Hub", review.upstream_state || ""],
        ["Commit", h("span", { class: "mono" }, review.commit)],
        ["Path", review.path ? pathText(review.path) : ""],
        ["Size", review.subject_kind === "blob" ? formatBytes(review.size) : ""],
        [
          review.subject_kind === "blob" ? "SHA-256" : "Subject",
          h("span", { class: "mono" }, review.subject),
        ],
        ["Policy", h("span", { class: "mono" }, review.policy_version)],
        ["Scanner", h("span", { class: "mono" }, review.scanner_version || "—")],
        ["Created", formatTime(review.created_at)],
        ["Updated", formatTime(review.updated_at)],
      ]),
    ),
    section("Why", reasonList(review.reasons)),
    findingsSection(review.reports),
    licenceSection(review),
    signatureSection(review.signature),
    decisionSection(review),
    pathsSection(review),
    downloadsSection(review.downloads),
    attemptsSection(review.attempts),
    auditSection(review.audit),
  );
}

// --- routing ------------------------------------------------------------------------------------------

function route() {
  notify("");
  if (!session.token || !session.who) return renderLogin();
  const raw = location.hash.replace(/^#\/?/, "");
  const mark = raw.indexOf("?");
  const path = mark < 0 ? raw : raw.slice(0, mark);
  const params = new URLSearchParams(mark < 0 ? "" : raw.slice(mark + 1));
  const detail = /^reviews\/([0-9]{1,12})$/.exec(path);
  const revision = REVISION_ROUTE.exec(path);
  const current = ++navigation;
  const context = { isCurrent: () => current === navigation, signOut };
  let rendered;
  if (detail) rendered = renderReview(detail[1], current);
  else if (revision) rendered = renderRevision(revision, context);
  else if (path === "inventory") rendered = renderInventory(params, context);
  else rendered = renderList(params, current);
  markSection(path.startsWith("inventory") ? "inventory" : "reviews");
  rendered.then(() => current === navigation && focusHeading());
}

function markSection(name) {
  for (const link of $("sections").querySelectorAll("a")) {
    if (link.dataset.section === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function start() {
  $("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  if (session.token) {
    try {
      session.who = await api("GET", "whoami");
    } catch (error) {
      if (error.status === 401) return signOut(error.message);
      // hubgate down or restarting: keep the token, offer to try again.
      return show(
        $("view"),
        h("h1", { tabindex: "-1" }, "hubgate is not answering"),
        alertBox(error),
        h("button", { type: "button", class: "button", onclick: () => location.reload() }, "Try again"),
      );
    }
  }
  showSession();
  route();
}

start();
