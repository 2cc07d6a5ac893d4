// The gateway's HTTP API as the page uses it: JSON in and out, the session cookie sent by the
// browser, the CSRF token echoed on state-changing requests, and every refusal turned into an
// ApiError that names the field at fault so the page can show it next to that field.

const CSRF_HEADER = "X-CSRF-Token";
let csrfToken = null;

/**
 * JSON.parse that keeps money exact: a number with a fraction (5445.0095) or beyond 2**53
 * comes back as its source text, which money.fromWire reads digit by digit, when the browser
 * gives the reviver the source (Chromium 114+); safe integers stay numbers.
 */
export function parseJson(text) {
  return JSON.parse(text, (key, value, context) =>
    typeof value === "number" && !Number.isSafeInteger(value) &&
    context && typeof context.source === "string"
      ? context.source
      : value,
  );
}

/** A refused request: HTTP status, a machine code, a plain message, the field at fault. */
export class ApiError extends Error {
  constructor(status, code, message, field = null, orderId = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.orderId = orderId;
  }
}

/** Remember the session's CSRF token (from /auth/me); the csrfToken cookie is the fallback. */
export function setCsrfToken(token) {
  csrfToken = token || null;
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

/** "tradeData.stopLossPrice" -> "stopLossPrice": the ticket's field names are the API's. */
export function fieldName(path) {
  if (!path || typeof path !== "string") return null;
  const parts = path.replace(/^tradeData\./, "").split(/[.[]/);
  return parts[0] || null;
}

/**
 * Call the API. Engine-backed routes answer with the envelope {success, orderId,
 * engineResponse: {status, data, message}}: its data is returned on success, its refusal thrown.
 */
export async function api(method, path, body = undefined, { idempotencyKey } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") {
    const token = csrfToken || cookie("csrfToken");
    if (token) headers[CSRF_HEADER] = token;
  }
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, "network", "cannot reach the exchange; check your connection");
  }
  let data = null;
  try {
    data = parseJson(await response.text());
  } catch (err) {
    data = null;
  }
  if (data && typeof data === "object" && "engineResponse" in data) {
    if (data.success) return data.engineResponse.data;
    const refusal = data.engineResponse || {};
    const detail = refusal.data && typeof refusal.data === "object" ? refusal.data : {};
    throw new ApiError(
      response.status,
      detail.code || "refused",
      refusal.message || "the exchange refused the request",
      fieldName(detail.field),
      data.orderId || null,
    );
  }
  if (!response.ok) {
    const detail = data && typeof data === "object" ? data : {};
    throw new ApiError(
      response.status,
      detail.error || `http_${response.status}`,
      detail.message || response.statusText || `HTTP ${response.status}`,
      fieldName(detail.field),
      detail.orderId || null,
    );
  }
  return data;
}

/** A fresh Idempotency-Key: retries of one order reuse it, so it is never placed twice. */
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
