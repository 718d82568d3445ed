import { Button } from "@/components/ui/button";
import { Checkbox } from "@/components/ui/checkbox";
import { Check, X, Loader2, Sparkles, AlertTriangle, ChevronLeft, ChevronRight } from "lucide-react";

// One proposal preview inline in the conversation (a new table, schema changes, data changes), as
// the preview model of proposals/preview.py describes it. Checkboxes and the apply phase live in props
// (React state is wiped on every re-render); the server re-checks every payload sent from here.
// Cell values render as text: React escapes them.

const TINT = {
  added: "rgba(34, 197, 94, 0.12)",
  removed: "rgba(239, 68, 68, 0.10)",
  modified: "rgba(245, 158, 11, 0.14)",
  updated: "rgba(245, 158, 11, 0.06)",
  changedCell: "rgba(245, 158, 11, 0.24)",
  deleted: "rgba(239, 68, 68, 0.10)",
};
const EDGE = { added: "#4ade80", removed: "#f87171", modified: "#fbbf24", updated: "#fbbf24", deleted: "#f87171" };
const RED = "#dc2626";
const GREEN = "#16a34a";
const AMBER = "#b45309";
const MUTED = { color: "var(--muted-foreground, #6b7280)" };

const STYLE = `
@keyframes tcFadeIn { from { opacity: 0; transform: translateY(4px); } to { opacity: 1; transform: none; } }
@keyframes tcSlide { from { transform: translateX(-100%); } to { transform: translateX(250%); } }
`;

// decided with nothing applied; what to say comes ready in props.outcome.message (proposals/outcome.py)
const FINAL = { dismissed: true, superseded: true, stale: true };

// Sample rows fade in once per proposal, not again on every re-render (any props update remounts us).
function firstShowing() {
  const seen = (window.__tablechatShown = window.__tablechatShown || new Set());
  if (seen.has(props.proposal_id)) return false;
  seen.add(props.proposal_id);
  return true;
}

function resultsByOp() {
  const out = {};
  for (const r of props.results || []) out[r.index] = r;
  return out;
}

function isUnchecked(op) {
  return (props.unselected || []).includes(op);
}

function setProps(patch) {
  updateElement({ ...props, ...patch });
}

function toggle(ops, checked) {
  const off = new Set(props.unselected || []);
  for (const op of ops) {
    if (checked) off.delete(op);
    else off.add(op);
  }
  setProps({ unselected: Array.from(off).sort((a, b) => a - b), error: null });
}

function payload(extra) {
  return {
    proposal_id: props.proposal_id,
    unselected: props.unselected || [],
    include_samples: props.include_samples !== false,
    ...(extra || {}),
  };
}

async function act(name, extra, busy) {
  const before = props;
  if (busy) updateElement({ ...before, phase: busy, error: null });
  try {
    const res = await callAction({ name, payload: payload(extra) });
    const answer = res && res.response;
    if (!answer || answer.ok === false) {
      if (answer && answer.error) updateElement({ ...before, phase: null, error: answer.error });
      else if (busy && answer && !answer.status) updateElement({ ...before, phase: null });
    }
  } catch (e) {
    updateElement({ ...before, phase: null, error: "The server could not be reached; nothing was changed. Try again." });
  }
}

function TypeBadge({ type }) {
  return (
    <span
      className="rounded px-1 text-[10px] font-normal whitespace-nowrap"
      style={{ border: "1px solid var(--border, #e5e7eb)", ...MUTED }}
    >
      {String(type).replace("_", " ")}
    </span>
  );
}

function StatusIcon({ result, applying }) {
  if (applying) return <Loader2 size={14} className="animate-spin" style={MUTED} aria-label="applying" />;
  if (!result) return null;
  return result.ok ? (
    <Check size={14} style={{ color: GREEN }} aria-label="applied" />
  ) : (
    <span title={result.error || "failed"} style={{ display: "inline-flex" }}>
      <X size={14} style={{ color: RED }} aria-label={"failed: " + (result.error || "")} />
    </span>
  );
}

function Banner({ tone, children, testid }) {
  const color = tone === "bad" ? RED : tone === "good" ? GREEN : tone === "warn" ? AMBER : undefined;
  return (
    <div className="text-sm font-medium" style={{ color }} data-testid={testid}>
      {children}
    </div>
  );
}

function ErrorLine() {
  if (!props.error) return null;
  return (
    <div className="text-xs flex items-center gap-1" style={{ color: RED }} data-testid="proposal-error">
      <AlertTriangle size={12} /> {props.error}
    </div>
  );
}

function Progress({ done }) {
  return (
    <div
      className="w-full rounded overflow-hidden"
      style={{ height: 6, background: "rgba(127, 127, 127, 0.25)" }}
      data-testid="proposal-progress"
    >
      {done ? (
        <div style={{ width: "100%", height: "100%", background: GREEN }} />
      ) : (
        <div style={{ width: "40%", height: "100%", background: "#3b82f6", animation: "tcSlide 1s linear infinite" }} />
      )}
    </div>
  );
}

const th = "px-2 py-1 text-left align-top font-medium whitespace-nowrap";
const td = "px-2 py-1 align-top";

function Cell({ text, style, title }) {
  return (
    <td className={td} style={{ maxWidth: 260, ...style }} title={title}>
      <span className="block truncate">{text}</span>
    </td>
  );
}

// -- a new table ---------------------------------------------------------------------------------------

function CreatePreview() {
  const pending = props.status === "pending";
  const applying = props.phase === "applying" && pending;
  const applied = props.status === "applied" || props.status === "failed";
  const results = resultsByOp();
  const withSamples = props.include_samples !== false;
  const chosen = props.columns.filter((c) => !isUnchecked(c.op)).length;
  const outcome = props.outcome;
  const animate = pending && firstShowing();
  return (
    <div className="flex flex-col gap-2">
      <div>
        <div className="text-xs uppercase tracking-wide" style={MUTED}>New table</div>
        <div className="text-lg font-semibold" data-testid="proposal-title">{props.table_name}</div>
        {props.table_description ? <div className="text-sm" style={MUTED}>{props.table_description}</div> : null}
      </div>
      <div className="overflow-auto rounded" style={{ border: "1px solid var(--border, #e5e7eb)" }}>
        <table className="text-sm w-full" style={{ borderCollapse: "collapse" }}>
          <thead style={{ background: "var(--muted, #f9fafb)" }}>
            <tr>
              {props.columns.map((c) => {
                const off = isUnchecked(c.op);
                return (
                  <th key={c.key} className={th} data-col={c.name} style={{ opacity: off ? 0.45 : 1 }}>
                    <span className="flex items-center gap-1">
                      {pending ? (
                        <Checkbox
                          checked={!off}
                          disabled={applying}
                          aria-label={`Include column ${c.name}`}
                          onCheckedChange={(v) => toggle([c.op], v === true)}
                        />
                      ) : (
                        <StatusIcon result={results[c.op]} />
                      )}
                      <span style={{ textDecoration: off ? "line-through" : "none" }}>{c.name}</span>
                      {c.required ? <span style={{ color: RED }}>*</span> : null}
                      {c.ai_prompt ? <Sparkles size={12} style={{ color: "#7c3aed" }} /> : null}
                    </span>
                    <div className="mt-0.5"><TypeBadge type={c.type} /></div>
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {props.rows.map((r, i) => (
              <tr
                key={r.id}
                className="border-t"
                data-testid="sample-row"
                style={{
                  opacity: withSamples ? 1 : 0.4,
                  animation: animate ? "tcFadeIn 0.35s ease both" : undefined,
                  animationDelay: animate ? `${i * 90}ms` : undefined,
                }}
              >
                {props.columns.map((c) => (
                  <Cell key={c.key} text={r.cells[c.key]} style={{ opacity: isUnchecked(c.op) ? 0.45 : 1 }} />
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {pending ? (
        <div className="flex items-center justify-between gap-2 flex-wrap">
          {props.import_rows != null ? (
            <span className="text-sm" data-testid="import-note" style={MUTED}>
              The first {props.rows.length} rows of {props.import_file} are shown; Create Table imports all{" "}
              {Number(props.import_rows).toLocaleString()} rows.
            </span>
          ) : props.has_sample_rows ? (
            <label className="flex items-center gap-2 text-sm cursor-pointer">
              <Checkbox
                checked={withSamples}
                disabled={applying}
                aria-label="Include sample data"
                onCheckedChange={(v) => setProps({ include_samples: v === true })}
              />
              Include sample data ({props.rows.length} rows)
            </label>
          ) : <span />}
          <span className="flex gap-2">
            <Button variant="outline" size="sm" disabled={applying} onClick={() => act("proposal_dismiss")}>Dismiss</Button>
            <Button size="sm" disabled={applying || chosen === 0} onClick={() => act("proposal_apply", null, "applying")}>
              {applying ? <Loader2 size={14} className="animate-spin mr-1" /> : null}
              Create Table
            </Button>
          </span>
        </div>
      ) : null}
      {applying ? <Progress done={false} /> : null}
      <ErrorLine />
      {applied && outcome ? (
        <Banner tone={outcome.applied ? "good" : "bad"} testid="proposal-outcome">
          {outcome.message}
        </Banner>
      ) : null}
      {FINAL[props.status] ? <Banner tone="muted" testid="proposal-outcome">{outcome && outcome.message}</Banner> : null}
    </div>
  );
}

// The first changed column may sit past the right edge of a narrow chat: bring it into view.
function showFirstChange(box) {
  if (!box) return;
  const th = box.querySelector('th[data-state="removed"], th[data-state="added"], th[data-state="modified"]');
  if (th && th.offsetLeft + th.offsetWidth > box.clientWidth) box.scrollLeft = Math.max(0, th.offsetLeft - 48);
}

// -- schema changes to a table ------------------------------------------------------------------------

function SchemaPreview() {
  const pending = props.status === "pending";
  const applying = props.phase === "applying" && pending;
  const applied = props.status === "applied" || props.status === "failed";
  const results = resultsByOp();
  const changed = props.columns.filter((c) => c.state !== "unchanged" || c.moved);
  const chosen = changed.filter((c) => !c.ops.every(isUnchecked)).length;
  const outcome = props.outcome;
  return (
    <div className="flex flex-col gap-2">
      <div
        className="flex items-center justify-between gap-2 flex-wrap rounded px-3 py-2"
        style={{ background: "var(--muted, #f9fafb)", border: "1px solid var(--border, #e5e7eb)" }}
        data-testid="schema-strip"
      >
        <div className="text-sm">
          <span className="font-semibold">{applied ? "Schema changes" : "Schema changes proposed"}</span>
          <span style={MUTED}>: {props.summary}</span>
          <span style={MUTED}> · {props.renamed_from ? `${props.renamed_from} → ` : ""}{props.table_name}</span>
        </div>
        {pending ? (
          <span className="flex gap-2">
            <Button variant="outline" size="sm" disabled={applying} onClick={() => act("proposal_dismiss")}>Dismiss</Button>
            <Button size="sm" disabled={applying || chosen === 0} onClick={() => act("proposal_apply", null, "applying")}>
              {applying ? <Loader2 size={14} className="animate-spin mr-1" /> : null}
              Apply
            </Button>
          </span>
        ) : null}
      </div>
      {applying ? <Progress done={false} /> : null}
      <div className="overflow-auto rounded" style={{ border: "1px solid var(--border, #e5e7eb)" }} ref={showFirstChange}>
        <table className="text-sm w-full" style={{ borderCollapse: "collapse" }}>
          <thead>
            <tr>
              <th className={th} style={{ width: 1, ...MUTED }}>#</th>
              {props.columns.map((c) => {
                const off = c.ops.length > 0 && c.ops.every(isUnchecked);
                const state = off ? "unchanged" : c.state;
                const result = c.op !== null && c.op !== undefined ? results[c.op] : null;
                return (
                  <th
                    key={c.key}
                    className={th}
                    data-col={c.name}
                    data-state={c.state}
                    style={{
                      background: TINT[state] || "var(--muted, #f9fafb)",
                      borderLeft: EDGE[state] ? `3px solid ${EDGE[state]}` : undefined,
                      opacity: c.state === "removed" && !off ? 0.85 : 1,
                    }}
                  >
                    <span className="flex items-center gap-1">
                      {pending && (c.state !== "unchanged" || c.moved) ? (
                        <Checkbox
                          checked={!off}
                          disabled={applying}
                          aria-label={`Include the change to ${c.name}`}
                          onCheckedChange={(v) => toggle(c.ops, v === true)}
                        />
                      ) : null}
                      {!pending && result ? <StatusIcon result={result} /> : null}
                      <span style={{ textDecoration: c.state === "removed" && !off ? "line-through" : "none" }}>{c.name}</span>
                      {c.required ? <span style={{ color: RED }}>*</span> : null}
                      {c.ai_prompt ? <Sparkles size={12} style={{ color: "#7c3aed" }} /> : null}
                      <span style={MUTED}>·</span>
                      <TypeBadge type={c.type} />
                    </span>
                    {c.state === "removed" ? (
                      <div className="text-[11px] font-semibold" style={{ color: RED }}>Data will be lost</div>
                    ) : c.subtitle ? (
                      <div className="text-[11px] font-normal" style={{ color: AMBER }}>{c.subtitle}</div>
                    ) : c.moved ? (
                      <div className="text-[11px] font-normal" style={MUTED}>→ moved</div>
                    ) : null}
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {props.rows.map((r) => (
              <tr key={r.id} className="border-t">
                <td className={td + " text-xs"} style={MUTED}>{r.id}</td>
                {props.columns.map((c) => {
                  const off = c.ops.length > 0 && c.ops.every(isUnchecked);
                  const state = off ? "unchanged" : c.state;
                  const removed = state === "removed";
                  return (
                    <Cell
                      key={c.key}
                      text={r.cells[c.key]}
                      style={{
                        background: state === "added" || removed ? TINT[state] : state === "modified" ? TINT.updated : undefined,
                        textDecoration: removed ? "line-through" : "none",
                        opacity: removed ? 0.6 : 1,
                        color: state === "added" ? "var(--muted-foreground, #6b7280)" : undefined,
                      }}
                    />
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {props.total_rows > props.rows.length ? (
        <div className="text-xs" style={MUTED}>Showing {props.rows.length} of {props.total_rows} rows.</div>
      ) : null}
      <ErrorLine />
      {applied && outcome ? (
        <Banner tone={outcome.applied ? (outcome.failed ? "warn" : "good") : "bad"} testid="proposal-outcome">
          {outcome.message}
        </Banner>
      ) : null}
      {FINAL[props.status] ? <Banner tone="muted" testid="proposal-outcome">{outcome && outcome.message}</Banner> : null}
    </div>
  );
}

// -- data changes -------------------------------------------------------------------------------------

function countsLine() {
  const c = props.counts || {};
  const parts = [];
  if (c.added) parts.push(`${c.added} new row${c.added === 1 ? "" : "s"}`);
  if (c.updated) parts.push(`${c.updated} update${c.updated === 1 ? "" : "s"}`);
  if (c.deleted) parts.push(`${c.deleted} deletion${c.deleted === 1 ? "" : "s"}`);
  return parts.join(", ");
}

function ResearchLog() {
  const log = props.research_log || [];
  if (!log.length) return null;
  return (
    <details className="text-xs" data-testid="research-log">
      <summary className="cursor-pointer" style={MUTED}>Research log ({log.length} step{log.length === 1 ? "" : "s"})</summary>
      <ol className="list-decimal ml-5 mt-1 flex flex-col gap-1">
        {log.map((e, i) => (
          <li key={i}>
            {e.query ? <span className="font-medium">{e.query}</span> : null}
            {e.note ? <span>{e.query ? " — " : ""}{e.note}</span> : null}
            {e.source ? <span style={MUTED}> ({e.source})</span> : null}
          </li>
        ))}
      </ol>
    </details>
  );
}

function DataPreview() {
  const pending = props.status === "pending";
  const applying = props.phase === "applying" && pending;
  const decided = props.status === "applied" || props.status === "failed";
  const results = resultsByOp();
  const total = props.total_ops || 0;
  const unselected = props.unselected || [];
  const chosen = total - unselected.length;
  const outcome = props.outcome;
  const allOps = Array.from({ length: total }, (_, i) => i);
  return (
    <div className="flex flex-col gap-2">
      <div
        className="flex flex-col gap-2 rounded px-3 py-2"
        style={{ background: "var(--muted, #f9fafb)", border: "1px solid var(--border, #e5e7eb)" }}
        data-testid="data-bar"
      >
        <div className="flex items-center justify-between gap-2 flex-wrap">
          <div className="text-sm">
            <span className="font-semibold">AI Proposed Changes</span>
            <span style={MUTED}> · {countsLine()} · {props.table_name}</span>
          </div>
          {pending ? (
            <span className="flex gap-2 items-center flex-wrap">
              <Button variant="ghost" size="sm" disabled={applying} onClick={() => setProps({ unselected: [], error: null })}>Select all</Button>
              <Button variant="ghost" size="sm" disabled={applying} onClick={() => setProps({ unselected: allOps, error: null })}>Deselect all</Button>
              <Button variant="outline" size="sm" disabled={applying} onClick={() => act("proposal_dismiss")}>Dismiss</Button>
              <Button size="sm" disabled={applying || chosen === 0} onClick={() => act("proposal_apply", null, "applying")}>
                {applying ? <Loader2 size={14} className="animate-spin mr-1" /> : null}
                Apply {chosen} of {total}
              </Button>
            </span>
          ) : null}
          {decided && !props.acknowledged ? (
            <Button size="sm" onClick={() => act("proposal_done")}>Done</Button>
          ) : null}
        </div>
        {applying || decided ? <Progress done={decided} /> : null}
        {decided && outcome ? (
          <Banner tone={outcome.failed ? (outcome.applied ? "warn" : "bad") : "good"} testid="proposal-outcome">
            {outcome.message}
          </Banner>
        ) : null}
        {FINAL[props.status] ? <Banner tone="muted" testid="proposal-outcome">{outcome && outcome.message}</Banner> : null}
        <ErrorLine />
        <ResearchLog />
      </div>
      <div className="overflow-auto rounded" style={{ border: "1px solid var(--border, #e5e7eb)", maxHeight: 520 }}>
        <table className="text-sm w-full" style={{ borderCollapse: "collapse" }}>
          <thead style={{ background: "var(--muted, #f9fafb)", position: "sticky", top: 0 }}>
            <tr>
              <th className={th} style={{ width: 1 }} />
              <th className={th} style={{ width: 1, ...MUTED }}>#</th>
              {props.columns.map((c) => (
                <th key={c.key} className={th} data-col={c.name}>
                  <span className="flex items-center gap-1">
                    {c.name}
                    {c.ai_prompt ? <Sparkles size={12} style={{ color: "#7c3aed" }} /> : null}
                  </span>
                  <div className="mt-0.5"><TypeBadge type={c.type} /></div>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {props.rows.map((r) => {
              const proposed = r.op !== null && r.op !== undefined;
              const off = proposed && isUnchecked(r.op);
              const state = off ? "unchanged" : r.state;
              const result = proposed ? results[r.op] : null;
              return (
                <tr
                  key={r.id}
                  className="border-t"
                  data-testid={proposed ? "proposed-row" : "context-row"}
                  data-state={r.state}
                  data-op={proposed ? r.op : undefined}
                  style={{
                    background: TINT[state],
                    boxShadow: EDGE[state] ? `inset 4px 0 0 ${EDGE[state]}` : undefined,
                    opacity: state === "deleted" ? 0.6 : off ? 0.55 : 1,
                    textDecoration: state === "deleted" ? "line-through" : "none",
                  }}
                >
                  <td className={td}>
                    {proposed && pending && !applying ? (
                      <Checkbox
                        checked={!off}
                        aria-label={`Include change ${r.op + 1}`}
                        onCheckedChange={(v) => toggle([r.op], v === true)}
                      />
                    ) : proposed ? (
                      <StatusIcon result={result} applying={applying && !off} />
                    ) : null}
                  </td>
                  <td className={td + " text-xs"} style={MUTED}>{r.id > 0 ? r.id : "new"}</td>
                  {props.columns.map((c) => {
                    const change = r.changes && r.changes[c.key];
                    return (
                      <td
                        key={c.key}
                        className={td}
                        style={{ maxWidth: 260, background: change && !off ? TINT.changedCell : undefined }}
                        title={change ? `Was: ${change.was || "(empty)"}` : undefined}
                      >
                        <span className="block truncate">{change && off ? change.was : r.cells[c.key]}</span>
                        {change && !off ? (
                          <span className="block truncate text-[11px]" style={{ color: AMBER }}>Was: {change.was || "(empty)"}</span>
                        ) : null}
                      </td>
                    );
                  })}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {props.pages > 1 ? (
        <div className="flex items-center justify-between text-xs" style={MUTED}>
          <span>Page {props.page + 1} of {props.pages} · {total} changes</span>
          <span className="flex gap-1">
            <Button size="sm" variant="outline" disabled={props.page === 0 || applying}
              onClick={() => act("proposal_page", { page: props.page - 1 })}><ChevronLeft size={14} /></Button>
            <Button size="sm" variant="outline" disabled={props.page + 1 >= props.pages || applying}
              onClick={() => act("proposal_page", { page: props.page + 1 })}><ChevronRight size={14} /></Button>
          </span>
        </div>
      ) : null}
    </div>
  );
}

export default function Proposal() {
  const body = props.kind === "schema_create" ? <CreatePreview /> : props.kind === "schema_update" ? <SchemaPreview /> : <DataPreview />;
  return (
    <div
      className="w-full flex flex-col gap-1"
      data-testid="proposal"
      data-kind={props.kind}
      data-status={props.status}
      style={{ opacity: FINAL[props.status] ? 0.7 : 1 }}
    >
      <style>{STYLE}</style>
      {body}
      {(props.fill_estimates || []).map((e) => (
        <div key={e.column} className="text-xs" style={MUTED} data-testid="fill-estimate">
          {props.status === "applied" ? "Filling" : "On Apply, AI fills"} “{e.column}”: {e.cells.toLocaleString()} cells,
          estimated cost about ${e.usd.toFixed(e.usd < 1 ? 4 : 2)} ({e.model})
        </div>
      ))}
      {props.reasoning && props.status === "pending" ? (
        <div className="text-xs" style={MUTED}>{props.reasoning}</div>
      ) : null}
    </div>
  );
}
