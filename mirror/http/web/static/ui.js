// The review page's building blocks: DOM nodes built from text (never from HTML), formatting, errors.
//
// Repo ids, file names, scanner evidence and reasons are attacker-controlled. Everything from the server
// reaches the document as text nodes or attribute values through h() below; nothing here parses HTML (and
// the page's Trusted Types policy would make any such attempt throw).

export const STATES = ["PENDING", "QUARANTINED", "APPROVED", "BLOCKED", "REVOKED"];
export const SEVERITIES = ["critical", "high", "medium", "low", "info"];

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// --- DOM helpers --------------------------------------------------------------------------------------

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, String(value));
  }
  return add(element, children);
}

export function add(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// replaceChildren() would turn a null (an absent section) into the text "null"; add() skips it.
export function show(element, ...children) {
  element.replaceChildren();
  return add(element, children);
}

export function $(id) {
  return document.getElementById(id);
}

// Characters that hide or reorder text (bidi overrides and isolates, zero-width and tag characters,
// controls, line separators, blank letters). A file name upstream chose is never rendered with them:
// each is written out as <U+XXXX>, whatever the server sent (mirror/pathtext.py does the same).
const HIDDEN_CHARACTERS = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u115F\u1160\u2800\u3164\uFFA0]/gu;

export function visiblePath(text) {
  return String(text ?? "").replace(
    HIDDEN_CHARACTERS,
    (char) => `<U+${char.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}>`,
  );
}

export function pathText(text) {
  const shown = visiblePath(text);
  if (shown === String(text ?? "")) return h("span", { class: "mono path" }, shown);
  return h(
    "span",
    { class: "mono path hidden-characters", title: "this name contains invisible or control characters" },
    shown,
  );
}

export function badge(kind, value) {
  if (!value) return h("span", { class: "badge" }, "—");
  const known = kind === "state" ? STATES.includes(value) : SEVERITIES.includes(value);
  const modifier = known ? ` ${kind}-${value.toLowerCase()}` : "";
  return h("span", { class: `badge${modifier}` }, value);
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function formatBytes(count) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(count) || 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const exact = `${Number(count || 0).toLocaleString("en")} bytes`;
  return unit === 0 ? exact : `${value.toFixed(1)} ${units[unit]} (${exact})`;
}

export function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many}`;
}

export function errorText(error) {
  if (error instanceof ApiError) {
    const status = error.status ? `${error.status} ` : "";
    return `${status}${error.code}: ${error.message}`;
  }
  return String(error && error.message ? error.message : error);
}

export function alertBox(error) {
  const refused = error instanceof ApiError && error.status > 0;
  return h(
    "div",
    { class: "alert", role: "alert" },
    refused ? h("strong", {}, "Refused by hubgate: ") : null,
    errorText(error),
  );
}

export function notify(text) {
  const notice = $("notice");
  show(notice, text);
  notice.hidden = !text;
}

export function focusHeading() {
  const heading = $("view").querySelector("h1");
  if (heading) heading.focus();
}

export function select(id, label, options, current) {
  return [
    h("label", { for: id }, label),
    h(
      "select",
      { id, name: id },
      options.map(([value, text]) => h("option", { value, selected: value === current }, text)),
    ),
  ];
}

export function section(title, ...content) {
  return h("section", { class: "panel" }, h("h2", {}, title), ...content);
}

export function facts(rows) {
  return h(
    "dl",
    { class: "facts" },
    rows
      .filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}
