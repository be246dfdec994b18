// The Rolwijzer API over the Connect protocol: POST /rolwijzer.v1.RolwijzerService/<Method> with a JSON body in
// proto3 JSON, answered in proto3 JSON, or with a Connect JSON error ({"code", "message", "details"}).

const SERVICE = "/rolwijzer.v1.RolwijzerService/";

/** An error answered by the API (or the network), with a message meant for people. */
export class ApiError extends Error {
  /**
   * @param {string} code the Connect error code, for example "invalid_argument", or "unavailable" for the network
   * @param {string} message the server's message
   * @param {string[]} details readable lines from the error details (field violations), maybe none
   */
  constructor(code, message, details = []) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.details = details;
  }
}

/**
 * Call one method of RolwijzerService and return its answer with camelCase field names (proto3 JSON allows
 * either spelling; the pages read camelCase).
 * @param {string} method the RPC name, for example "Evaluate"
 * @param {object} request the request in proto3 JSON
 * @returns {Promise<object>} the answer
 * @throws {ApiError} when the server answers an error or cannot be reached
 */
export async function call(method, request) {
  let response;
  try {
    response = await fetch(SERVICE + method, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Connect-Protocol-Version": "1" },
      body: JSON.stringify(request),
    });
  } catch (err) {
    throw new ApiError("unavailable", String(err && err.message ? err.message : err));
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = null;
  }
  if (!response.ok) {
    const code = body && body.code ? String(body.code) : `http_${response.status}`;
    const message = body && body.message ? String(body.message) : text.slice(0, 300) || response.statusText;
    throw new ApiError(code, message, detailLines(body && body.details));
  }
  if (body === null) {
    throw new ApiError("internal", `no JSON in the answer to ${method}`);
  }
  return camelKeys(body);
}

/**
 * Readable lines from Connect error details: the field violations of a google.rpc.BadRequest when the server
 * sends its JSON form ("debug"), otherwise the detail's type.
 * @param {unknown} details the "details" array of a Connect error
 * @returns {string[]} one line per field violation or detail
 */
export function detailLines(details) {
  if (!Array.isArray(details)) return [];
  const lines = [];
  for (const detail of details) {
    const debug = detail && (detail.debug || detail.value);
    const violations = debug && typeof debug === "object" ? debug.fieldViolations || debug.field_violations : null;
    if (Array.isArray(violations)) {
      for (const v of violations) lines.push(`${v.field}: ${v.description}`);
    } else if (debug && typeof debug === "object" && (debug.reason || debug.metadata)) {
      lines.push([debug.reason, JSON.stringify(debug.metadata || {})].filter(Boolean).join(" "));
    }
  }
  return lines;
}

/**
 * A copy of a JSON value with every object key in camelCase (proto field names may come as snake_case).
 * @param {unknown} value parsed JSON
 * @returns {any} the same value, keys in camelCase
 */
export function camelKeys(value) {
  if (Array.isArray(value)) return value.map(camelKeys);
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase())] = camelKeys(inner);
  }
  return out;
}

/**
 * A google.type.Date as YYYY-MM-DD, or "" when absent.
 * @param {{year?: number, month?: number, day?: number} | undefined} date
 * @returns {string}
 */
export function isoDate(date) {
  if (!date || !date.year) return "";
  const pad = (n) => String(n || 0).padStart(2, "0");
  return `${String(date.year).padStart(4, "0")}-${pad(date.month)}-${pad(date.day)}`;
}
