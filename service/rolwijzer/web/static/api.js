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
    if (!detail || typeof detail !== "object") continue;
    const type = String(detail.type || "").replace(/^.*\//, "");
    const debug = detail.debug && typeof detail.debug === "object" ? detail.debug : null;
    let violations = debug ? debug.fieldViolations || debug.field_violations : null;
    let reason = debug ? debug.reason : "";
    if (!debug && typeof detail.value === "string") {
      const fields = decodeFields(detail.value);
      if (type === "google.rpc.BadRequest") {
        violations = (fields[1] || []).map((bytes) => {
          const inner = decodeFields(bytes);
          return { field: text(inner[1]), description: text(inner[2]) };
        });
      } else if (type === "google.rpc.ErrorInfo") {
        reason = text(fields[1]);
      }
    }
    if (Array.isArray(violations)) {
      for (const v of violations) lines.push(`${v.field}: ${v.description}`);
    } else if (reason) {
      lines.push(reason);
    }
  }
  return lines;
}

function text(values) {
  return values && values.length ? new TextDecoder().decode(values[0]) : "";
}

/**
 * The length-delimited fields of a protobuf message (base64 or bytes), by field number: enough to read the
 * strings of google.rpc.BadRequest and ErrorInfo, which a Connect error carries as {"type", "value"}.
 * @param {string | Uint8Array} data
 * @returns {Record<number, Uint8Array[]>}
 */
export function decodeFields(data) {
  let bytes = data;
  if (typeof data === "string") {
    const padded = data.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(data.length / 4) * 4, "=");
    try {
      bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    } catch {
      return {};
    }
  }
  const fields = {};
  let at = 0;
  const varint = () => {
    let value = 0;
    let shift = 0;
    while (at < bytes.length) {
      const byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
    throw new Error("truncated");
  };
  try {
    while (at < bytes.length) {
      const key = varint();
      const wire = key % 8;
      const number = Math.floor(key / 8);
      if (wire === 0) varint();
      else if (wire === 1) at += 8;
      else if (wire === 5) at += 4;
      else if (wire === 2) {
        const length = varint();
        (fields[number] ||= []).push(bytes.subarray(at, at + length));
        at += length;
      } else break;
    }
  } catch {
    return fields;
  }
  return fields;
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
