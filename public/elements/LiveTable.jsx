import { useEffect, useRef, useState } from "react";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Loader2, Sparkles, AlertTriangle, RotateCw, Clock, Lock } from "lucide-react";

// The live view of the active table. It reads the REST API with the login cookie and follows the
// change feed (pushed over its event stream, polled only while that is down: live/feed.jsx), so edits
// from another tab, user or the API appear at once.
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

// ==== pasted from live/feed.jsx (edit public/elements/live/feed.jsx, then `make elements`) ====
// How the live table hears of changes: pushed over the table's event stream (GET …/events, server-sent
// events), with the cursor poll of /updates only while the push is down. The stream is read with fetch,
// not EventSource, because a request signed in by the login cookie must carry the X-Requested-With header
// (docs/security.md) and EventSource cannot send headers.
//
// followFeed(tableId, getCursor, onPage, onGone, pollMs) hands every change after getCursor() to
// onPage({changes, cursor, more}) — the shape of /updates; `more` means "read the rows again" — one page at
// a time, in order. When the stream fails it polls every pollMs and opens the stream again by itself
// (after 1, 2, 5, 10, then every 30 s), catching up from the cursor; while the stream says the push is
// down it polls too. onGone() is called when the table is deleted or no longer the caller's.
// Returns a function that stops it all.

const FEED_RETRY_MS = [1000, 2000, 5000, 10000, 30000];
const FEED_HEADERS = { "X-Requested-With": "tablechat", Accept: "text/event-stream" };

function followFeed(tableId, getCursor, onPage, onGone, pollMs) {
  const base = `/api/v1/tables/${tableId}`;
  let stopped = false;
  let pollTimer = null;
  let retryTimer = null;
  let controller = null;
  let failures = 0;
  let chain = Promise.resolve();

  // one page at a time, in order, only what is newer than the cursor (a poll and the stream may overlap)
  function deliver(page) {
    chain = chain.then(async () => {
      if (stopped) return;
      const cur = getCursor();
      const changes = page.changes.filter((c) => cur === null || c.seq > cur);
      if (changes.length === 0 && !page.more) return;
      await onPage({ ...page, changes });
    }).catch(() => {});
    return chain;
  }

  async function poll() {
    if (stopped || getCursor() === null) return;
    try {
      const res = await fetch(`${base}/updates?cursor=${getCursor()}&limit=500`, {
        credentials: "same-origin", headers: { "X-Requested-With": "tablechat" },
      });
      if (res.status === 404) { stop(); onGone(); return; }
      if (res.ok) await deliver(await res.json());
    } catch (e) {
      // offline for now: the next poll or the stream catches up
    }
  }

  function startPolling() {
    if (pollTimer === null && !stopped) pollTimer = setInterval(poll, pollMs);
  }

  function stopPolling() {
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
  }

  function handle(name, data) {
    if (name === "change") {
      return deliver({ changes: [data], cursor: data.seq, more: false });
    } else if (name === "reset") {
      return deliver({ changes: [], cursor: data.cursor, more: true });
    } else if (name === "ready" || name === "push") {
      failures = 0;
      if (data.push === false || data.up === false) startPolling(); else stopPolling();
    } else if (name === "gone") {
      stop();
      onGone();
    }
    return null;
  }

  async function listen() {
    if (stopped) return;
    if (getCursor() === null) { retryTimer = setTimeout(listen, 200); return; }
    controller = new AbortController();
    try {
      const res = await fetch(`${base}/events?cursor=${getCursor()}`, {
        credentials: "same-origin", headers: FEED_HEADERS, signal: controller.signal, cache: "no-store",
      });
      if (res.status === 404) { stop(); onGone(); return; }
      if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done || stopped) break;
        buffered += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffered.indexOf("\n\n")) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          let name = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (data.length) handle(name, JSON.parse(data.join("\n")));
        }
      }
    } catch (e) {
      // dropped, refused or aborted: poll meanwhile and try again below
    }
    controller = null;
    if (stopped) return;
    startPolling();
    const wait = FEED_RETRY_MS[Math.min(failures, FEED_RETRY_MS.length - 1)];
    failures += 1;
    retryTimer = setTimeout(listen, wait);
  }

  function stop() {
    stopped = true;
    stopPolling();
    if (retryTimer !== null) clearTimeout(retryTimer);
    if (controller !== null) controller.abort();
  }

  listen();
  return stop;
}
// ==== end of live/feed.jsx ====

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

// ==== pasted from live/history.jsx (edit public/elements/live/history.jsx, then `make elements`) ====
// A cell's history and the table's AI spend, pasted into LiveTable.jsx (whose `api`, COLOR, MUTED and
// `show` it uses). Right-click a cell: each value it has had, newest first, with when and who or what
// wrote it; an AI value opens to the model, the rows as sent, the raw answer, tokens, cost and time.

function money(usd) {
  return usd >= 1 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

function sourceLine(s) {
  const who = {
    edit: "Edited by hand",
    proposal: s.thread_id ? "Applied proposal in a chat" : "Applied proposal",
    ai: "Written by AI",
    import: "Imported",
    revert: "Reverted",
    unknown: "Written",
  }[s.kind] || "Written";
  const detail = s.row_created ? " (row added)" : "";
  return `${who}${detail}${s.summary ? ` · ${s.summary}` : ""}`;
}

function AiSource({ s }) {
  if (!s.model) return null;
  const t = s.tokens || {};
  return (
    <details className="text-xs mt-1" data-testid="history-ai">
      <summary style={{ cursor: "pointer", ...MUTED }}>
        {s.model} · {t.input || 0} in ({t.cached || 0} cached) / {t.output || 0} out tokens · {money(s.cost_usd || 0)}
        {" "}for {s.rows_in_call || 1} row{s.rows_in_call === 1 ? "" : "s"} · {Math.round(s.duration_ms || 0)} ms
        {s.attempts > 1 ? ` · ${s.attempts} attempts` : ""}
      </summary>
      <div className="mt-1 font-semibold">Prompt as sent</div>
      <pre className="whitespace-pre-wrap border rounded p-1" style={{ maxHeight: 160, overflow: "auto" }}>{s.prompt || "(not kept)"}</pre>
      <div className="mt-1 font-semibold">Raw answer</div>
      <pre className="whitespace-pre-wrap border rounded p-1" style={{ maxHeight: 160, overflow: "auto" }}>{s.answer || "(none)"}</pre>
    </details>
  );
}

function CellHistory({ tableId, target, onClose }) {
  const [items, setItems] = useState(null);
  const [failure, setFailure] = useState(null);
  useEffect(() => {
    setItems(null);
    api(`/tables/${tableId}/records/${target.row}/cells/${target.col.id}/history?limit=50`)
      .then((body) => setItems(body.items))
      .catch((e) => setFailure(e.message));
  }, [tableId, target.row, target.col.id]);
  return (
    <div className="border rounded p-2 flex flex-col gap-1" data-testid="cell-history">
      <div className="flex items-center justify-between">
        <span className="font-semibold text-sm">History of “{target.col.name}”, row {target.row}</span>
        <Button size="sm" variant="ghost" onClick={onClose} aria-label="Close history">×</Button>
      </div>
      {failure ? <div className="text-xs" style={{ color: COLOR.bad }}>{failure}</div> : null}
      {items === null && !failure ? <div className="text-xs" style={MUTED}>Loading…</div> : null}
      {(items || []).map((v, i) => (
        <div key={i} className="border-t pt-1 text-sm" data-testid="history-version" data-kind={v.source.kind}>
          <div className="flex justify-between gap-2">
            <span className="truncate">{v.value === null || v.value === undefined ? <em style={MUTED}>(empty)</em> : show(v.value)}</span>
            <span className="text-xs whitespace-nowrap" style={MUTED}>{new Date(v.at).toLocaleString()}</span>
          </div>
          <div className="text-xs" style={MUTED}>{sourceLine(v.source)}</div>
          {v.source.kind === "ai" ? <AiSource s={v.source} /> : null}
        </div>
      ))}
    </div>
  );
}

function Spend({ tableId, tick }) {
  const [spend, setSpend] = useState(null);
  useEffect(() => {
    api(`/tables/${tableId}/spend`).then(setSpend).catch(() => setSpend(null));
  }, [tableId, tick]);
  if (!spend || !spend.total_usd) return null;
  return (
    <span className="text-xs whitespace-nowrap" style={MUTED} data-testid="live-table-spend"
      title="What the AI columns of this table cost (model calls), today (UTC) and in all">
      AI spend: {money(spend.today_usd)} today · {money(spend.total_usd)} in all
    </span>
  );
}
// ==== end of live/history.jsx ====

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
  const [historyOf, setHistoryOf] = useState(null); // the cell whose history is open (right-click)
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
    async function apply(feed) {
      try {
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
    return followFeed(props.table_id, () => cursor.current, apply, () => setError("This table no longer exists."), POLL_MS);
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
        <Spend tableId={props.table_id} tick={total} />
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
                      title={(locked ? "Editing is paused while a proposal is open" : "Double-click to edit") + " · right-click: history"}
                      onContextMenu={(e) => { e.preventDefault(); setHistoryOf({ row: r.id, col: c }); }}
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
      {historyOf ? <CellHistory tableId={props.table_id} target={historyOf} onClose={() => setHistoryOf(null)} /> : null}
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
