// A served (or judged) revision's page: publisher, lineage with origins and licences, licence, reviews and
// sign-off, signature, the SBOM and attestation as files, files, and downloads by identity.
//
// Everything from the server is shown as text (ui.js's h()): repo ids, file names and card fields come
// from upstream and are never parsed as markup.

import { api, saveDocument } from "./api.js";
import { failed, numberCell, repoPath, reviewBadge, stated, table } from "./inventory.js";
import { $, alertBox, facts, formatBytes, formatTime, h, pathText, plural, section, show } from "./ui.js";

export const REVISION_ROUTE = /^inventory\/(model|dataset|space)\/([^?#]+)\/([0-9a-f]{40})$/;

export async function renderRevision(match, context) {
  const [, repoType, rawRepo, commit] = match;
  const repoId = rawRepo.split("/").map(decodeURIComponent).join("/");
  const view = $("view");
  const back = h("a", { href: "#/inventory", class: "back" }, "← Inventory");
  const heading = h(
    "h1",
    { tabindex: "-1" },
    "Revision ",
    h("span", { class: "mono title-path" }, `${repoId}@${commit.slice(0, 10)}`),
  );
  show(view, back, heading, h("p", { class: "muted" }, "Loading…"));
  const where = `${repoType}/${repoPath(repoId)}/${commit}`;
  let revision;
  try {
    revision = await api("GET", `inventory/${where}`);
  } catch (error) {
    return failed(view, [back, heading], error, context);
  }
  if (!context.isCurrent()) return;
  show(
    view,
    back,
    heading,
    section(
      "Revision",
      facts([
        ["Repository", h("span", { class: "mono" }, `${repoType}s/${repoId}`)],
        ["Commit", h("span", { class: "mono" }, commit)],
        [
          "Publisher",
          `${revision.origin.organisation} (${revision.origin.org || "no namespace"}) · ${revision.origin.country} · ${revision.origin.family}`,
        ],
        ["On the Hub", revision.upstream_state],
        ["Task", revision.card.pipeline_tag],
        ["Library", revision.card.library_name],
        ["First served", revision.first_served_at ? formatTime(revision.first_served_at) : "never served"],
        ["Last served", revision.last_served_at ? formatTime(revision.last_served_at) : ""],
        [
          "Downloads",
          `${plural(revision.downloads.count, "download", "downloads")}, ${formatBytes(revision.downloads.bytes)}`,
        ],
      ]),
    ),
    lineageSection(revision),
    licenceFacts(revision),
    reviewsSection(revision),
    section(
      "Model signature",
      facts([
        ["Status", revision.signature.status],
        ["Signer", revision.signature.signer || "—"],
      ]),
    ),
    documentsSection(revision, where),
    filesSection(revision),
    identitiesSection(revision),
  );
}

function lineageSection(revision) {
  // The licence the gate resolved for each repository of the lineage (the revision's own and its bases).
  const licences = new Map(revision.licence.lineage.map((item) => [item.repo_id, item]));
  const licenceOf = (repoId) => {
    if (repoId === revision.repo_id) return `${stated(revision.licence)}`;
    const known = licences.get(repoId);
    return known ? `${known.licences.join(" + ") || "none stated"} (${known.bucket})` : "";
  };
  const origins = revision.origins;
  if (origins && origins.recorded) {
    // Every repository of the lineage as the gate resolved its origin, the revision's own first.
    return section(
      "Lineage",
      h(
        "p",
        { class: "muted" },
        "What the model card's base_model names, followed through the bases' own cards, with where each ",
        "comes from. ",
        origins.complete ? "The whole lineage is known." : "Part of the lineage is unknown (see below).",
      ),
      h(
        "ol",
        { class: "lineage", "aria-label": "Lineage" },
        origins.lineage.map((node) =>
          h(
            "li",
            { class: node.root ? "lineage-root" : null },
            h("span", { class: "mono" }, node.repo_id),
            " ",
            h("span", { class: "tag" }, node.role),
            node.relation ? h("span", { class: "tag" }, node.relation) : null,
            h(
              "div",
              { class: "muted" },
              [node.organisation, node.country, node.family, licenceOf(node.repo_id)].filter(Boolean).join(" · "),
            ),
            node.depth ? h("div", { class: "muted mono" }, `via ${node.path}`) : null,
            node.entities.length
              ? h("div", {}, "Listed: ", node.entities.map((mark) => `${mark.list} (${mark.name})`).join(", "))
              : null,
            node.unknown ? h("div", { class: "alert-inline" }, `Unknown past here: ${node.unknown}`) : null,
          ),
        ),
      ),
    );
  }
  const ancestors = revision.licence.lineage;
  const bases = revision.card.base_model;
  if (!ancestors.length && !bases.length) {
    return section(
      "Lineage",
      h("p", {}, "The model card names no base_model: as far as hubgate knows, this revision is its own root."),
    );
  }
  return section(
    "Lineage",
    h(
      "p",
      { class: "muted" },
      "What the model card's base_model names, followed through the bases' own cards (as far as the ",
      "policy's max_base_model_depth), with each one's licence as the gate resolved it.",
    ),
    h(
      "ol",
      { class: "lineage", "aria-label": "Lineage" },
      h(
        "li",
        {},
        h("span", { class: "mono" }, revision.repo_id),
        " ",
        h("span", { class: "tag" }, "this revision"),
        h("div", { class: "muted" }, `${licenceOf(revision.repo_id)} · built on ${bases.join(", ") || "—"}`),
      ),
      ancestors.map((ancestor) =>
        h(
          "li",
          {},
          h("span", { class: "mono" }, ancestor.repo_id),
          " ",
          h("span", { class: "tag" }, "base model"),
          h("div", { class: "muted" }, licenceOf(ancestor.repo_id)),
        ),
      ),
    ),
  );
}

function licenceFacts(revision) {
  const licence = revision.licence;
  return section(
    "Licence",
    facts([
      ["Stated", stated(licence)],
      ["Bucket", licence.bucket],
      ["Verdict", licence.verdict || "—"],
      ["Decided under", h("span", { class: "mono" }, licence.policy_version || "—")],
      ["Policy now", revision.policy ? h("span", { class: "mono" }, revision.policy.current) : ""],
    ]),
  );
}

function reviewsSection(revision) {
  const states = {};
  for (const file of revision.files) states[file.review.state] = (states[file.review.state] || 0) + 1;
  const refused = revision.files.filter(
    (file) => file.review.id !== null && !["APPROVED", "PENDING"].includes(file.review.state),
  );
  const signOff = revision.sign_off;
  return section(
    "Reviews",
    facts([
      ["Revision (licence, signature)", reviewBadge(revision.review)],
      [
        "Files",
        Object.entries(states)
          .map(([state, number]) => `${number} ${state}`)
          .join(", ") || "none known",
      ],
      ["Approved for use", revision.approved ? "yes" : "no"],
    ]),
    signOff
      ? [
          h("h3", {}, "Sign-off"),
          facts([
            ["By", signOff.by],
            ["Token", signOff.token],
            ["Why", signOff.reason],
            ["When", formatTime(signOff.at)],
            ["Until", signOff.expires_at ? formatTime(signOff.expires_at) : "no expiry"],
            ["Rules waived", signOff.rules.join(", ")],
          ]),
        ]
      : null,
    refused.length
      ? [
          h("h3", {}, "Files refused"),
          h(
            "ul",
            { class: "refused-files" },
            refused.map((file) =>
              h("li", {}, pathText(file.path), " ", reviewBadge(file.review)),
            ),
          ),
        ]
      : null,
  );
}

function documentsSection(revision, where) {
  const name = `${revision.repo_id.replace("/", "--")}-${revision.commit.slice(0, 12)}`;
  const status = h("div", { class: "action-error" });
  const button = (label, path, filename) =>
    h(
      "button",
      {
        type: "button",
        class: "button button-quiet",
        onclick: async () => {
          show(status);
          try {
            await saveDocument(path, filename);
          } catch (error) {
            show(status, alertBox(error));
          }
        },
      },
      label,
    );
  return section(
    "SBOM and attestation",
    h(
      "div",
      { class: "action-buttons" },
      button("Download the SBOM (CycloneDX 1.6)", `inventory/${where}/sbom`, `${name}.cdx.json`),
      revision.approved
        ? button("Download hubgate's attestation", `attestations/${where}`, `${name}.hubgate.sig`)
        : null,
    ),
    h(
      "p",
      { class: "muted" },
      "The same with a token: ",
      h("code", {}, `GET /api/hubgate/v1/inventory/${where}/sbom`),
      revision.approved ? [" and ", h("code", {}, `GET /api/hubgate/v1/attestations/${where}`)] : null,
      revision.approved ? null : " (hubgate attests only revisions whose every file passed review)",
      ".",
    ),
    status,
  );
}

function filesSection(revision) {
  return section(
    "Files",
    table(
      "Files",
      ["Path", "Size#", "SHA-256", "Review", "Downloads#"],
      revision.files.map((file) =>
        h(
          "tr",
          {},
          h("td", {}, pathText(file.path), file.lfs ? h("span", { class: "tag" }, "LFS") : null),
          numberCell(file.size, formatBytes(file.size)),
          h("td", { class: "mono", title: file.sha256 || "" }, file.sha256 ? file.sha256.slice(0, 16) : "—"),
          h("td", {}, reviewBadge(file.review)),
          numberCell(file.downloads.count),
        ),
      ),
    ),
  );
}

function identitiesSection(revision) {
  const rows = Object.entries(revision.downloads.by_identity);
  if (!rows.length) return null;
  return section(
    "Downloads by identity",
    table(
      "Downloads by identity",
      ["Who", "Downloads#", "Bytes#"],
      rows.map(([identity, tally]) =>
        h(
          "tr",
          {},
          h("td", { class: "mono" }, identity),
          numberCell(tally.count),
          numberCell(tally.bytes, formatBytes(tally.bytes)),
        ),
      ),
    ),
  );
}
