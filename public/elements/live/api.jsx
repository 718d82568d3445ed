// The REST calls of the live view, with the login cookie. A request the server never answered (offline,
// server stopped, a proxy's 502/503/504) fails with `unreachable` set and words a person can read, never
// the browser's raw "Failed to fetch".
const API = "/api/v1";
const HEADERS = { "X-Requested-With": "tablechat", "Content-Type": "application/json" };
const UNREACHABLE = "The server cannot be reached";

async function api(path, options = {}) {
  let res;
  try {
    res = await fetch(API + path, { credentials: "same-origin", headers: HEADERS, ...options });
  } catch (e) {
    const err = new Error(UNREACHABLE);
    err.unreachable = true;
    throw err;
  }
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const gateway = [502, 503, 504].includes(res.status) && !(body && body.error);
    const err = new Error(gateway ? UNREACHABLE : (body && body.error && body.error.message) || res.statusText);
    err.status = res.status;
    err.body = body;
    err.unreachable = gateway;
    throw err;
  }
  return body;
}

function errorDetails(e) {
  return (e && e.body && e.body.error && e.body.error.details) || {};
}

// What a person typed into a cell, as the value of the column's type (the server checks it again).
function parseInput(text, type) {
  if (text.trim() === "") return null;
  if (type === "number") {
    const n = Number(text.replace(/,/g, ""));
    return Number.isNaN(n) ? text : n; // the server answers "not a number" with the text kept
  }
  if (type === "boolean") return ["true", "yes", "1", "✓", "y"].includes(text.trim().toLowerCase());
  if (type === "multi_select") return text.split(",").map((s) => s.trim()).filter(Boolean);
  if (type === "json") {
    try { return JSON.parse(text); } catch (e) { return text; }
  }
  return text;
}

function sameValue(a, b) {
  return JSON.stringify(a === undefined ? null : a) === JSON.stringify(b === undefined ? null : b);
}
