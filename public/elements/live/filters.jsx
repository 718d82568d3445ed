// What the grid asks the server for: the sort (a header click), the search box and the filter panel,
// all answered server-side over the whole table (`GET …/records?sort=&q=&filter=`).
const TEXTUAL = ["eq", "ne", "contains", "lt", "le", "gt", "ge", "empty", "not_empty"];
const OPS_BY_TYPE = {
  text: TEXTUAL, long_text: TEXTUAL, email: TEXTUAL, url: TEXTUAL, select: TEXTUAL,
  multi_select: ["contains", "eq", "ne", "empty", "not_empty"],
  json: ["contains", "eq", "ne", "empty", "not_empty"],
  number: ["eq", "ne", "lt", "le", "gt", "ge", "empty", "not_empty"],
  date: ["eq", "ne", "lt", "le", "gt", "ge", "empty", "not_empty"],
  boolean: ["eq", "ne", "empty", "not_empty"],
};
const OP_LABEL = {
  eq: "is", ne: "is not", contains: "contains", lt: "<", le: "≤", gt: ">", ge: "≥",
  empty: "is empty", not_empty: "is not empty", status: "AI status is",
};
// the AI states a person filters by, as the server's `status` values
const AI_FILTERS = { error: ["error"], stale: ["stale"], pending: ["pending", "computing"], pinned: ["pinned"] };
const AI_FILTER_LABEL = { error: "failed", stale: "stale", pending: "queued or computing", pinned: "pinned" };
const NO_VALUE = ["empty", "not_empty"];
const SEARCH_DEBOUNCE_MS = 300;

function opsOf(column) {
  const ops = OPS_BY_TYPE[column.type] || ["eq", "ne", "empty", "not_empty"];
  return column.ai ? ["status", ...ops] : ops;
}

// The conditions the server gets: complete ones only (a value typed, unless the op needs none).
function serverFilters(table, filters) {
  const out = [];
  for (const f of filters) {
    const col = table.columns.find((c) => c.id === f.column);
    if (!col) continue;
    if (f.op === "status") out.push({ column: col.id, op: "status", value: AI_FILTERS[f.value] || [f.value] });
    else if (NO_VALUE.includes(f.op)) out.push({ column: col.id, op: f.op });
    else if (f.value !== undefined && String(f.value).trim() !== "") {
      const value = col.type === "boolean" ? f.value === "true"
        : col.type === "multi_select" || f.op === "contains" ? String(f.value) : parseInput(String(f.value), col.type);
      out.push({ column: col.id, op: f.op, value });
    }
  }
  return out;
}

function recordsQuery(table, view, pageSize) {
  const params = new URLSearchParams({ limit: String(pageSize), offset: String(view.page * pageSize) });
  if (view.sort) params.set("sort", JSON.stringify([view.sort]));
  if (view.q && view.q.trim()) params.set("q", view.q.trim());
  const filters = table ? serverFilters(table, view.filters || []) : [];
  if (filters.length) params.set("filter", JSON.stringify(filters));
  return params.toString();
}

function nextSort(sort, columnId) {
  if (!sort || sort.column !== columnId) return { column: columnId, direction: "asc" };
  if (sort.direction === "asc") return { column: columnId, direction: "desc" };
  return null;
}

const FIELD = "border rounded px-1 bg-background text-xs";

function FilterRow({ table, filter, onChange, onRemove }) {
  const col = table.columns.find((c) => c.id === filter.column) || table.columns[0];
  const ops = opsOf(col);
  return (
    <div className="flex items-center gap-1" data-testid="filter-row">
      <select className={FIELD} aria-label="Filter column" value={col.id}
        onChange={(e) => {
          const next = table.columns.find((c) => c.id === e.target.value);
          const nextOps = opsOf(next);
          const op = nextOps.includes(filter.op) ? filter.op : nextOps[0];
          onChange({ column: next.id, op, value: op === "status" ? "error" : "" });
        }}>
        {table.columns.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
      </select>
      <select className={FIELD} aria-label="Filter condition" value={filter.op}
        onChange={(e) => onChange({ ...filter, op: e.target.value, value: e.target.value === "status" ? "error" : filter.value })}>
        {ops.map((op) => <option key={op} value={op}>{OP_LABEL[op]}</option>)}
      </select>
      {filter.op === "status" ? (
        <select className={FIELD} aria-label="AI status" value={filter.value || "error"}
          onChange={(e) => onChange({ ...filter, value: e.target.value })}>
          {Object.keys(AI_FILTERS).map((s) => <option key={s} value={s}>{AI_FILTER_LABEL[s]}</option>)}
        </select>
      ) : NO_VALUE.includes(filter.op) ? null : col.type === "boolean" ? (
        <select className={FIELD} aria-label="Filter value" value={filter.value || ""}
          onChange={(e) => onChange({ ...filter, value: e.target.value })}>
          <option value="">…</option><option value="true">Yes</option><option value="false">No</option>
        </select>
      ) : col.options && col.options.length && ["eq", "ne", "contains"].includes(filter.op) ? (
        <select className={FIELD} aria-label="Filter value" value={filter.value || ""}
          onChange={(e) => onChange({ ...filter, value: e.target.value })}>
          <option value="">…</option>
          {col.options.map((o) => <option key={o} value={o}>{o}</option>)}
        </select>
      ) : (
        <input className={FIELD} aria-label="Filter value" placeholder="value" value={filter.value || ""}
          onChange={(e) => onChange({ ...filter, value: e.target.value })} />
      )}
      <button className="text-xs px-1" title="Remove this condition" aria-label="Remove filter" onClick={onRemove}>
        <X size={12} />
      </button>
    </div>
  );
}

function FilterPanel({ table, filters, setFilters }) {
  const first = table.columns[0];
  return (
    <div className="flex flex-col gap-1 p-2 border rounded" data-testid="filter-panel" style={{ background: COLOR.panel }}>
      {filters.map((f, i) => (
        <FilterRow key={i} table={table} filter={f}
          onChange={(next) => setFilters(filters.map((old, j) => (j === i ? next : old)))}
          onRemove={() => setFilters(filters.filter((_, j) => j !== i))} />
      ))}
      <div className="flex gap-1">
        <Button size="sm" variant="outline" onClick={() => setFilters([...filters, { column: first.id, op: opsOf(first)[0], value: opsOf(first)[0] === "status" ? "error" : "" }])}>
          <Plus size={12} className="mr-1" /> Add condition
        </Button>
        {filters.length ? <Button size="sm" variant="ghost" onClick={() => setFilters([])}>Clear filters</Button> : null}
      </div>
    </div>
  );
}
