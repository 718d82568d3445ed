import { useEffect, useRef, useState } from "react";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Loader2, Sparkles, AlertTriangle, RotateCw, Clock, Lock } from "lucide-react";

// The live view of the active table. It reads the REST API with the login cookie and follows the
// change feed, so edits from another tab, user or the API appear within a second or two.
// Values render as text (React escapes them); nothing here is HTML from a cell.
// Long because the grid, its paging, the cell editor with its 409 handling and the AI-cell actions share
// one props state (Chainlit wipes local state): split them when the grid grows (the pasted look is ~50 lines).

// ==== pasted from shared/look.jsx (edit public/elements/shared/look.jsx, then `make elements`) ====
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
// ==== end of shared/look.jsx ====

const API = "/api/v1";
const HEADERS = { "X-Requested-With": "tablechat", "Content-Type": "application/json" };
const POLL_MS = 1000;
// The AI status counts read the whole table (~0.15 s at 100,000 rows): asked again only when the feed
// moved, and no sooner than this many times the last answer took (at least once a poll).
const STATUS_COST_FACTOR = 10;
const RETRY_ACTION = "live_retry_failed";

async function api(path, options = {}) {
  const res = await fetch(API + path, { credentials: "same-origin", headers: HEADERS, ...options });
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error((body && body.error && body.error.message) || res.statusText);
    err.status = res.status;
    err.body = body;
    throw err;
  }
  return body;
}

function parseInput(text, type) {
  if (text.trim() === "") return null;
  if (type === "number") return Number(text.replace(/,/g, ""));
  if (type === "boolean") return ["true", "yes", "1", "✓", "y"].includes(text.trim().toLowerCase());
  if (type === "multi_select") return text.split(",").map((s) => s.trim()).filter(Boolean);
  if (type === "json") {
    try { return JSON.parse(text); } catch (e) { return text; }
  }
  return text;
}

const STATUS = {
  pending: { icon: Clock, label: "queued", color: COLOR.muted },
  computing: { icon: Loader2, label: "computing", color: COLOR.busy, spin: true },
  error: { icon: AlertTriangle, label: "failed", color: COLOR.bad },
  stale: { icon: RotateCw, label: "stale", color: COLOR.warn },
};

function StatusBadge({ cell }) {
  const s = STATUS[cell.status];
  if (!s) return null;
  const Icon = s.icon;
  return (
    <span title={cell.error || s.label} style={{ color: s.color, display: "inline-flex", alignItems: "center", gap: 2, fontSize: 11 }}>
      <Icon size={12} className={s.spin ? "animate-spin" : ""} />
      {cell.status === "error" ? "failed" : s.label}
    </span>
  );
}

export default function LiveTable() {
  const pageSize = props.page_size || 50;
  const [table, setTable] = useState(null);
  const [page, setPage] = useState(props.page || 0);
  const [rows, setRows] = useState([]);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState(null);
  const [editing, setEditing] = useState(null);
  const [notice, setNotice] = useState(null);
  const [aiStatus, setAiStatus] = useState({});
  const [retrying, setRetrying] = useState(null);
  const cursor = useRef(null);
  const statusClock = useRef({ timer: null, last: 0, took: 0 });
  const locked = !!props.locked;

  async function load(p = page) {
    try {
      const [t, recs] = await Promise.all([
        api(`/tables/${props.table_id}`),
        api(`/tables/${props.table_id}/records?limit=${pageSize}&offset=${p * pageSize}`),
      ]);
      setTable(t);
      setRows(recs.items);
      setTotal(recs.total);
      if (cursor.current === null || recs.cursor > cursor.current) cursor.current = recs.cursor;
      setError(null);
    } catch (e) {
      setError(e.status === 404 ? "This table no longer exists." : e.message);
    }
  }

  // failed / queued cells of each AI column over the whole table, not just this page
  async function loadStatus() {
    const clock = statusClock.current;
    clock.last = Date.now();
    try {
      const status = await api(`/tables/${props.table_id}/ai-status`);
      const byColumn = {};
      for (const c of status.columns) byColumn[c.column_id] = c;
      setAiStatus(byColumn);
    } catch (e) {
      // the table view shows what went wrong with the table itself; the counts simply wait
    }
    clock.took = Date.now() - clock.last;
  }

  function statusChanged() {
    const clock = statusClock.current;
    if (clock.timer !== null) return; // the refresh already planned reads this change too
    const gap = Math.max(POLL_MS, STATUS_COST_FACTOR * clock.took);
    clock.timer = setTimeout(() => { clock.timer = null; loadStatus(); }, Math.max(0, clock.last + gap - Date.now()));
  }

  useEffect(() => {
    cursor.current = null;
    load(page);
  }, [props.table_id, page]);

  useEffect(() => {
    setAiStatus({});
    loadStatus();
    return () => {
      const clock = statusClock.current;
      if (clock.timer !== null) clearTimeout(clock.timer);
      clock.timer = null;
    };
  }, [props.table_id]);

  useEffect(() => {
    let stopped = false;
    async function poll() {
      if (stopped || cursor.current === null) return;
      try {
        const feed = await api(`/tables/${props.table_id}/updates?cursor=${cursor.current}&limit=500`);
        if (feed.changes.length === 0) return;
        cursor.current = feed.cursor;
        statusChanged();
        let reload = feed.more;
        const cellChanges = {};
        for (const c of feed.changes) {
          if (c.kind === "cell") {
            cellChanges[c.record_id] = cellChanges[c.record_id] || {};
            cellChanges[c.record_id][c.column_id] = c.data;
          } else {
            reload = true;
          }
        }
        if (reload) {
          await load(page);
        } else {
          setRows((old) => old.map((r) => (cellChanges[r.id] ? { ...r, cells: { ...r.cells, ...cellChanges[r.id] } } : r)));
        }
      } catch (e) {
        if (e.status === 404) setError("This table no longer exists.");
      }
    }
    const timer = setInterval(poll, POLL_MS);
    return () => { stopped = true; clearInterval(timer); };
  }, [props.table_id, page]);

  async function save(row, col, text) {
    const cell = row.cells[col.id] || { version: 0 };
    setEditing(null);
    try {
      const updated = await api(`/tables/${props.table_id}/records/${row.id}/cells/${col.id}`, {
        method: "PATCH",
        body: JSON.stringify({ value: parseInput(text, col.type), version: cell.version }),
      });
      setRows((old) => old.map((r) => (r.id === row.id ? { ...r, cells: { ...r.cells, [col.id]: updated } } : r)));
      setNotice(null);
    } catch (e) {
      if (e.status === 409) {
        const current = e.body && e.body.error && e.body.error.details && e.body.error.details.current;
        if (current) setRows((old) => old.map((r) => (r.id === row.id ? { ...r, cells: { ...r.cells, [col.id]: current } } : r)));
        setNotice(`Someone changed "${col.name}" of row ${row.id} first; the current value is shown. Edit again to overwrite it.`);
      } else {
        setNotice(e.message);
      }
    }
  }

  // Through the chat session when it answers (the conversation then follows the fill with its live
  // progress message, as for any fill), else straight through the REST API.
  async function retryFailed(col) {
    if (locked || retrying) return;
    setRetrying(col.id);
    const cells = (n) => `${n} failed cell${n === 1 ? "" : "s"} of "${col.name}"`;
    try {
      let answer = null;
      try {
        if (typeof callAction === "function") {
          const res = await callAction({ name: RETRY_ACTION, payload: { table_id: props.table_id, column_id: col.id } });
          answer = res && res.response;
        }
      } catch (e) {
        answer = null; // no chat session to take it (or no such action there): the REST call below
      }
      if (answer && answer.ok) {
        setNotice(answer.total ? `Retrying ${cells(answer.total)}: progress in the chat.` : `No failed cells of "${col.name}" left to retry.`);
      } else if (answer && answer.error) {
        setNotice(answer.error);
      } else {
        const job = await api(`/tables/${props.table_id}/columns/${col.id}/fill`, {
          method: "POST",
          body: JSON.stringify({ scope: "failed" }),
        });
        setNotice(`Retrying ${cells(job.total)}…`);
      }
    } catch (e) {
      setNotice(e.message);
    } finally {
      setRetrying(null);
      loadStatus();
    }
  }

  if (error) return <div className="p-3 text-sm" style={{ color: COLOR.bad }}>{error}</div>;
  if (!table) return <div className="p-3 text-sm text-muted-foreground"><Loader2 size={14} className="animate-spin inline" /> Loading table…</div>;

  const pages = Math.max(1, Math.ceil(total / pageSize));
  const first = total === 0 ? 0 : page * pageSize + 1;
  const last = Math.min(total, (page + 1) * pageSize);
  const failedColumns = table.columns.filter((c) => c.ai && (aiStatus[c.id] || {}).error > 0);

  return (
    <div className="flex flex-col gap-2 w-full" data-testid="live-table">
      <div className="flex items-center justify-between gap-2">
        <div>
          {props.workspace ? (
            <div className="text-xs text-muted-foreground" data-testid="live-table-workspace">Workspace {props.workspace}</div>
          ) : null}
          <div className="font-semibold" data-testid="live-table-name">{table.name}</div>
          {table.description ? <div className="text-xs text-muted-foreground">{table.description}</div> : null}
        </div>
        {locked ? (
          <Badge variant="outline" title="Apply or dismiss the proposal in the chat to edit again">
            <Lock size={12} className="mr-1" /> editing paused: proposal open
          </Badge>
        ) : null}
      </div>
      {notice ? <div className="text-xs" style={{ color: COLOR.warn }}>{notice}</div> : null}
      {failedColumns.length ? (
        <div className="flex flex-wrap gap-1">
          {failedColumns.map((c) => (
            <Button key={c.id} size="sm" variant="outline" data-testid="retry-failed" data-column={c.name}
              disabled={locked || retrying !== null}
              title={locked ? "Apply or dismiss the proposal in the chat first" : `Fill the failed cells of "${c.name}" again`}
              onClick={() => retryFailed(c)}>
              {retrying === c.id ? <Loader2 size={12} className="mr-1 animate-spin" /> : <RotateCw size={12} className="mr-1" />}
              Retry {aiStatus[c.id].error} failed: {c.name}
            </Button>
          ))}
        </div>
      ) : null}
      <div className="overflow-auto border rounded" style={{ maxHeight: "70vh" }}>
        <table className="text-sm w-full" style={{ borderCollapse: "collapse" }}>
          <thead className="bg-muted" style={{ position: "sticky", top: 0 }}>
            <tr>
              <th className="px-2 py-1 text-left text-xs text-muted-foreground">#</th>
              {table.columns.map((c) => (
                <th key={c.id} className="px-2 py-1 text-left whitespace-nowrap">
                  <span>{c.name}</span>{c.required ? <span style={{ color: COLOR.bad }}>*</span> : null}{" "}
                  <Badge variant="secondary" className="text-[10px] px-1 py-0">{typeLabel(c.type)}</Badge>
                  {c.ai ? <Sparkles size={12} className="inline ml-1" style={{ color: COLOR.ai }} /> : null}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} className="border-t" data-row-id={r.id}>
                <td className="px-2 py-1 text-xs text-muted-foreground">{r.id}</td>
                {table.columns.map((c) => {
                  const cell = r.cells[c.id] || { value: null, version: 0, status: "idle" };
                  const isEditing = editing && editing.row === r.id && editing.col === c.id;
                  return (
                    <td
                      key={c.id}
                      className="px-2 py-1 align-top"
                      data-col={c.name}
                      title={locked ? "Editing is paused while a proposal is open" : "Double-click to edit"}
                      onDoubleClick={() => !locked && setEditing({ row: r.id, col: c.id, text: show(cell.value) })}
                      style={{ cursor: locked ? "default" : "text", maxWidth: 320 }}
                    >
                      {isEditing ? (
                        <input
                          autoFocus
                          className="border rounded px-1 w-full bg-background"
                          defaultValue={editing.text}
                          onKeyDown={(e) => {
                            if (e.key === "Enter") save(r, c, e.currentTarget.value);
                            if (e.key === "Escape") setEditing(null);
                          }}
                          onBlur={(e) => save(r, c, e.currentTarget.value)}
                        />
                      ) : (
                        <span className="flex items-center gap-1">
                          <span className="truncate">{show(cell.value)}</span>
                          {c.ai ? <StatusBadge cell={cell} /> : null}
                        </span>
                      )}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="flex items-center justify-between text-xs text-muted-foreground">
        <span data-testid="live-table-count">Rows {first}–{last} of {total}</span>
        <span className="flex gap-1">
          <Button size="sm" variant="outline" disabled={page === 0} onClick={() => setPage(page - 1)}>Previous</Button>
          <Button size="sm" variant="outline" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>Next</Button>
        </span>
      </div>
    </div>
  );
}
