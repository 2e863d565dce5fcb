// The JSON API under ../api/hubgate/v1/ with the token the reviewer pasted (kept in this tab only).

import { ApiError } from "./ui.js";

export const API = new URL("../api/hubgate/v1/", document.baseURI);
export const TOKEN_KEY = "hubgate.token";

export const session = { token: sessionStorage.getItem(TOKEN_KEY), who: null };

export async function api(method, path, body) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${session.token}` };
  // No cookies: the token in this header is the only credential, so there is no CSRF surface.
  const init = { method, headers, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(path, API), init);
  } catch (error) {
    throw new ApiError(0, "NetworkError", `hubgate cannot be reached (${error.message})`);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const code = response.headers.get("X-Error-Code") || "Error";
    const message = data && typeof data.error === "string" ? data.error : response.statusText;
    throw new ApiError(response.status, code, message);
  }
  return data;
}

// A document to keep (an SBOM, an attestation): fetched with the token like any call, then handed to the
// browser as a file, because a plain link could not carry the bearer header.
export async function saveDocument(path, filename) {
  const headers = { Authorization: `Bearer ${session.token}` };
  let response;
  try {
    response = await fetch(new URL(path, API), { headers, credentials: "omit", cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, "NetworkError", `hubgate cannot be reached (${error.message})`);
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    const code = response.headers.get("X-Error-Code") || "Error";
    const message = data && typeof data.error === "string" ? data.error : response.statusText;
    throw new ApiError(response.status, code, message);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The browser has taken the file once click() returns; the object URL only needs to outlive that.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
