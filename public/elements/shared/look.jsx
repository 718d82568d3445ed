// Colours and value formatting of every tablechat element: one palette, one way to show a value.
//
// Why this file is copied into each element instead of imported: Chainlit 2.12 fetches
// /public/elements/<Name>.jsx and runs it with react-runner, whose `import` resolves only a fixed map of
// packages (react, lucide-react, @/components/ui/...) and throws "Module not found" for anything else,
// relative paths included. So `make elements` (core/elements.py) pastes the files of this folder
// between marker lines of the elements that name them, and a test fails when a pasted copy differs.
// Edit the files here, never the pasted copies. Only a few Tailwind colours are compiled into
// Chainlit's CSS, hence inline colours.

const COLOR = {
  bad: "#dc2626",
  good: "#16a34a",
  warn: "#b45309",
  busy: "#2563eb",
  ai: "#7c3aed",
  muted: "var(--muted-foreground, #6b7280)",
  border: "var(--border, #e5e7eb)",
  panel: "var(--muted, #f9fafb)",
  track: "rgba(127, 127, 127, 0.25)",
};
const MUTED = { color: COLOR.muted };

// the background and left edge of a proposed change, by its state
const TINT = {
  added: "rgba(34, 197, 94, 0.12)",
  removed: "rgba(239, 68, 68, 0.10)",
  modified: "rgba(245, 158, 11, 0.14)",
  updated: "rgba(245, 158, 11, 0.06)",
  changedCell: "rgba(245, 158, 11, 0.24)",
  deleted: "rgba(239, 68, 68, 0.10)",
};
const EDGE = { added: "#4ade80", removed: "#f87171", modified: "#fbbf24", updated: "#fbbf24", deleted: "#f87171" };

// A stored value as cell text, the same way proposals/preview.py `show` writes preview cells.
function show(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function typeLabel(type) {
  return String(type).replace("_", " ");
}
