import { Checkbox } from "@/components/ui/checkbox";
import { ChevronLeft, ChevronRight } from "lucide-react";

// One proposal preview inline in the conversation (a new table, schema changes, data changes), as
// the preview model of proposals/preview.py describes it. Checkboxes and the apply phase live in props
// (React state is wiped on every re-render); the server re-checks every payload sent from here.
// Cell values render as text: React escapes them.
// Each preview kind has its file in proposal/ (pasted below, see core/elements.py); they use the
// helpers and imports of this file.
// Long because it is the file Chainlit loads: its own ~90 lines, plus the shared parts and the three
// preview kinds pasted in, and the deletion / rename one (each source under public/elements/ is under 180 lines).

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

// ==== pasted from shared/preview.jsx (edit public/elements/shared/preview.jsx, then `make elements`) ====
// The parts every proposal preview shares: its phase, cells and rows tinted by state, the outcome banner,
// the progress bar and the Dismiss / Apply buttons. Pasted after look.jsx (see there why it is pasted).
// They take what they show as arguments; only phaseOf and Outcome read the element's `props`.
import { Button } from "@/components/ui/button";
import { Check, X, Loader2, Sparkles, AlertTriangle } from "lucide-react";

const KEYFRAMES = `
@keyframes tcFadeIn { from { opacity: 0; transform: translateY(4px); } to { opacity: 1; transform: none; } }
@keyframes tcSlide { from { transform: translateX(-100%); } to { transform: translateX(250%); } }
`;

// what a decided-without-applying proposal says when the server sent no text of its own
const FINAL = {
  dismissed: "Dismissed — nothing was changed.",
  superseded: "Superseded by a newer proposal — nothing was changed.",
  stale: "Not applied: the table changed since this proposal was made.",
};

const th = "px-2 py-1 text-left align-top font-medium whitespace-nowrap";
const td = "px-2 py-1 align-top";

// Where the proposal stands; `applying` lives in props (set before Apply is sent) so a re-render keeps it.
function phaseOf(p) {
  const pending = p.status === "pending";
  const results = {};
  for (const r of p.results || []) results[r.index] = r;
  return {
    pending,
    applying: pending && p.phase === "applying",
    decided: p.status === "applied" || p.status === "failed",
    results,
  };
}

// nothing applied: bad; some failed: a warning; else good
function outcomeTone(outcome) {
  if (!outcome.applied) return "bad";
  return outcome.failed ? "warn" : "good";
}

// The outcome line of a decided proposal: the server's ready text (`outcome.text`, worded in
// proposals/outcome.py) when it sent one; threads stored before it carry none, hence
// `fallback(outcome)` once applied or failed, or the FINAL words of a proposal not applied.
function Outcome({ fallback }) {
  const outcome = props.outcome;
  const final = FINAL[props.status];
  const decided = props.status === "applied" || props.status === "failed";
  if (!final && !(decided && outcome)) return null;
  const text = outcome && outcome.text ? outcome.text : final || fallback(outcome);
  return <Banner tone={final ? "muted" : outcomeTone(outcome)} testid="proposal-outcome">{text}</Banner>;
}

function Banner({ tone, children, testid }) {
  const color = { bad: COLOR.bad, good: COLOR.good, warn: COLOR.warn }[tone];
  return (
    <div className="text-sm font-medium" style={{ color }} data-testid={testid}>
      {children}
    </div>
  );
}

function ErrorLine({ error }) {
  if (!error) return null;
  return (
    <div className="text-xs flex items-center gap-1" style={{ color: COLOR.bad }} data-testid="proposal-error">
      <AlertTriangle size={12} /> {error}
    </div>
  );
}

// `count` of `total` (both optional) make it a bar that fills and says "Applying… X of N" while not
// done, with how many of those `failed` so far.
function Progress({ done, count, total, failed }) {
  const counted = !done && total > 0 && count !== undefined && count !== null;
  const bar = (
    <div
      className="w-full rounded overflow-hidden"
      style={{ height: 6, background: COLOR.track }}
      data-testid="proposal-progress"
    >
      {done ? (
        <div style={{ width: "100%", height: "100%", background: COLOR.good }} />
      ) : counted ? (
        <div style={{ width: `${Math.min(100, (100 * count) / total)}%`, height: "100%", background: COLOR.busy }} />
      ) : (
        <div style={{ width: "40%", height: "100%", background: COLOR.busy, animation: "tcSlide 1s linear infinite" }} />
      )}
    </div>
  );
  if (!counted) return bar;
  return (
    <div className="flex items-center gap-2 w-full">
      {bar}
      <span className="text-xs whitespace-nowrap" style={MUTED}>
        Applying… <span data-testid="proposal-progress-count">{count.toLocaleString()} of {total.toLocaleString()}</span>
        {failed ? <span style={{ color: COLOR.bad }} data-testid="proposal-progress-failed"> · {failed.toLocaleString()} failed</span> : null}
      </span>
    </div>
  );
}

function StatusIcon({ result, applying }) {
  if (applying && !result) return <Loader2 size={14} className="animate-spin" style={MUTED} aria-label="applying" />;
  if (!result) return null;
  return result.ok ? (
    <Check size={14} style={{ color: COLOR.good }} aria-label="applied" />
  ) : (
    <span title={result.error || "failed"} style={{ display: "inline-flex" }}>
      <X size={14} style={{ color: COLOR.bad }} aria-label={"failed: " + (result.error || "")} />
    </span>
  );
}

function TypeBadge({ type }) {
  return (
    <span
      className="rounded px-1 text-[10px] font-normal whitespace-nowrap"
      style={{ border: `1px solid ${COLOR.border}`, ...MUTED }}
    >
      {typeLabel(type)}
    </span>
  );
}

// a column's name with its marks: * when required, a spark when AI fills it
function ColumnName({ column, struck }) {
  return (
    <>
      <span style={{ textDecoration: struck ? "line-through" : "none" }}>{column.name}</span>
      {column.required ? <span style={{ color: COLOR.bad }}>*</span> : null}
      {column.ai_prompt ? <Sparkles size={12} style={{ color: COLOR.ai }} /> : null}
    </>
  );
}

// The table a preview draws in; `box` gets the scrolling element (to bring a change into view).
function PreviewTable({ children, maxHeight, box }) {
  return (
    <div className="overflow-auto rounded" style={{ border: `1px solid ${COLOR.border}`, maxHeight }} ref={box}>
      <table className="text-sm w-full" style={{ borderCollapse: "collapse" }}>{children}</table>
    </div>
  );
}

// A row tinted by the state of its change (added, updated, deleted); `off` when its box is unchecked.
function Row({ state, off, dim, style, children, ...rest }) {
  const shown = off ? "unchanged" : state;
  return (
    <tr
      className="border-t"
      style={{
        background: TINT[shown],
        boxShadow: EDGE[shown] ? `inset 4px 0 0 ${EDGE[shown]}` : undefined,
        opacity: shown === "deleted" ? 0.6 : off ? 0.55 : dim ? 0.4 : 1,
        textDecoration: shown === "deleted" ? "line-through" : "none",
        ...style,
      }}
      {...rest}
    >
      {children}
    </tr>
  );
}

// One value; `was` (the value before a proposed update) highlights it and shows "Was: …" under it.
function Cell({ text, style, title, was }) {
  const changed = was !== undefined && was !== null;
  return (
    <td
      className={td}
      style={{ maxWidth: 260, background: changed ? TINT.changedCell : undefined, ...style }}
      title={title !== undefined ? title : changed ? `Was: ${was || "(empty)"}` : undefined}
    >
      <span className="block truncate">{text}</span>
      {changed ? (
        <span className="block truncate text-[11px]" style={{ color: COLOR.warn }}>Was: {was || "(empty)"}</span>
      ) : null}
    </td>
  );
}

// Dismiss and the apply button (with a spinner while applying); `children` go before them.
function Actions({ phase, label, canApply, onDismiss, onApply, children }) {
  return (
    <span className="flex gap-2 items-center flex-wrap">
      {children}
      <Button variant="outline" size="sm" disabled={phase.applying} onClick={onDismiss}>Dismiss</Button>
      <Button size="sm" disabled={phase.applying || !canApply} onClick={onApply}>
        {phase.applying ? <Loader2 size={14} className="animate-spin mr-1" /> : null}
        {label}
      </Button>
    </span>
  );
}
// ==== end of shared/preview.jsx ====

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

// A call cut off because the page is going away (a reload, a closed tab) is not a failure to show: its
// outcome reaches the element from the server, and saving "could not be reached" now would overwrite it.
if (typeof window !== "undefined" && !window.__tablechatLeaving) {
  window.__tablechatLeaving = { now: false };
  window.addEventListener("pagehide", () => { window.__tablechatLeaving.now = true; });
  window.addEventListener("beforeunload", () => { window.__tablechatLeaving.now = true; });
  window.addEventListener("pageshow", () => { window.__tablechatLeaving.now = false; });
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
    if (window.__tablechatLeaving && window.__tablechatLeaving.now) return;
    updateElement({ ...before, phase: null, error: "The server could not be reached; nothing was changed. Try again." });
  }
}

const dismiss = () => act("proposal_dismiss");
const apply = () => act("proposal_apply", null, "applying");

// ==== pasted from proposal/create.jsx (edit public/elements/proposal/create.jsx, then `make elements`) ====
// The preview of a new table, pasted into Proposal.jsx (whose helpers and imports it uses).

// Sample rows fade in once per proposal, not again on every re-render (any props update remounts us).
function firstShowing() {
  const seen = (window.__tablechatShown = window.__tablechatShown || new Set());
  if (seen.has(props.proposal_id)) return false;
  seen.add(props.proposal_id);
  return true;
}

// -- a new table ---------------------------------------------------------------------------------------

function createdText(outcome) {
  const samples = outcome.sample_rows ? ` and ${plural(outcome.sample_rows, "sample row")}` : "";
  return outcome.message + samples + (outcome.applied ? " — it is open in the live view." : "");
}

function CreatePreview() {
  const phase = phaseOf(props);
  const withSamples = props.include_samples !== false;
  const chosen = props.columns.filter((c) => !isUnchecked(c.op)).length;
  const animate = phase.pending && firstShowing();
  return (
    <div className="flex flex-col gap-2">
      <div>
        <div className="text-xs uppercase tracking-wide" style={MUTED}>New table</div>
        <div className="text-lg font-semibold" data-testid="proposal-title">{props.table_name}</div>
        {props.table_description ? <div className="text-sm" style={MUTED}>{props.table_description}</div> : null}
      </div>
      <PreviewTable>
        <thead style={{ background: COLOR.panel }}>
          <tr>
            {props.columns.map((c) => {
              const off = isUnchecked(c.op);
              return (
                <th key={c.key} className={th} data-col={c.name} style={{ opacity: off ? 0.45 : 1 }}>
                  <span className="flex items-center gap-1">
                    {phase.pending ? (
                      <Checkbox
                        checked={!off}
                        disabled={phase.applying}
                        aria-label={`Include column ${c.name}`}
                        onCheckedChange={(v) => toggle([c.op], v === true)}
                      />
                    ) : (
                      <StatusIcon result={phase.results[c.op]} />
                    )}
                    <ColumnName column={c} struck={off} />
                  </span>
                  <div className="mt-0.5"><TypeBadge type={c.type} /></div>
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r, i) => (
            <Row
              key={r.id}
              dim={!withSamples}
              data-testid="sample-row"
              style={animate ? { animation: "tcFadeIn 0.35s ease both", animationDelay: `${i * 90}ms` } : undefined}
            >
              {props.columns.map((c) => (
                <Cell key={c.key} text={r.cells[c.key]} style={{ opacity: isUnchecked(c.op) ? 0.45 : 1 }} />
              ))}
            </Row>
          ))}
        </tbody>
      </PreviewTable>
      {phase.pending ? (
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
                disabled={phase.applying}
                aria-label="Include sample data"
                onCheckedChange={(v) => setProps({ include_samples: v === true })}
              />
              Include sample data ({props.rows.length} rows)
            </label>
          ) : <span />}
          <Actions phase={phase} label="Create Table" canApply={chosen > 0} onDismiss={dismiss} onApply={apply} />
        </div>
      ) : null}
      {phase.applying ? <Progress done={false} /> : null}
      <ErrorLine error={props.error} />
      <Outcome fallback={createdText} />
    </div>
  );
}
// ==== end of proposal/create.jsx ====

// ==== pasted from proposal/schema.jsx (edit public/elements/proposal/schema.jsx, then `make elements`) ====
// The preview of schema changes, pasted into Proposal.jsx (whose helpers and imports it uses).

// The first changed column may sit past the right edge of a narrow chat: bring it into view.
function showFirstChange(box) {
  if (!box) return;
  const head = box.querySelector('th[data-state="removed"], th[data-state="added"], th[data-state="modified"]');
  if (head && head.offsetLeft + head.offsetWidth > box.clientWidth) box.scrollLeft = Math.max(0, head.offsetLeft - 48);
}

// the state a column is drawn in: as it is today once all its changes are unchecked
function shownState(c) {
  return c.ops.length > 0 && c.ops.every(isUnchecked) ? "unchanged" : c.state;
}

function SchemaHead({ c, phase }) {
  const state = shownState(c);
  const off = state !== c.state;
  const result = c.op !== null && c.op !== undefined ? phase.results[c.op] : null;
  const removed = c.state === "removed" && !off;
  return (
    <th
      className={th}
      data-col={c.name}
      data-state={c.state}
      style={{
        background: TINT[state] || COLOR.panel,
        borderLeft: EDGE[state] ? `3px solid ${EDGE[state]}` : undefined,
        opacity: removed ? 0.85 : 1,
      }}
    >
      <span className="flex items-center gap-1">
        {phase.pending && (c.state !== "unchanged" || c.moved) ? (
          <Checkbox
            checked={!off}
            disabled={phase.applying}
            aria-label={`Include the change to ${c.name}`}
            onCheckedChange={(v) => toggle(c.ops, v === true)}
          />
        ) : null}
        {!phase.pending && result ? <StatusIcon result={result} /> : null}
        <ColumnName column={c} struck={removed} />
        <span style={MUTED}>·</span>
        <TypeBadge type={c.type} />
      </span>
      {c.state === "removed" ? (
        <div className="text-[11px] font-semibold" style={{ color: COLOR.bad }}>Data will be lost</div>
      ) : c.subtitle ? (
        <div className="text-[11px] font-normal" style={{ color: COLOR.warn }}>{c.subtitle}</div>
      ) : c.moved ? (
        <div className="text-[11px] font-normal" style={MUTED}>→ moved</div>
      ) : null}
    </th>
  );
}

function schemaCellStyle(state) {
  const removed = state === "removed";
  return {
    background: state === "added" || removed ? TINT[state] : state === "modified" ? TINT.updated : undefined,
    textDecoration: removed ? "line-through" : "none",
    opacity: removed ? 0.6 : 1,
    color: state === "added" ? COLOR.muted : undefined,
  };
}

function SchemaPreview() {
  const phase = phaseOf(props);
  const changed = props.columns.filter((c) => c.state !== "unchanged" || c.moved);
  const chosen = changed.filter((c) => !c.ops.every(isUnchecked)).length;
  return (
    <div className="flex flex-col gap-2">
      <div
        className="flex items-center justify-between gap-2 flex-wrap rounded px-3 py-2"
        style={{ background: COLOR.panel, border: `1px solid ${COLOR.border}` }}
        data-testid="schema-strip"
      >
        <div className="text-sm">
          <span className="font-semibold" data-testid="proposal-title">
            {titleOf(phase.decided ? "Schema changes" : "Schema changes proposed")}
          </span>
          <span style={MUTED}>{props.revert ? " · " : ": "}{props.summary}</span>
          <span style={MUTED}> · {props.renamed_from ? `${props.renamed_from} → ` : ""}{props.table_name}</span>
        </div>
        {phase.pending ? (
          <Actions phase={phase} label="Apply" canApply={chosen > 0} onDismiss={dismiss} onApply={apply} />
        ) : null}
      </div>
      {phase.applying ? <Progress done={false} /> : null}
      <PreviewTable box={showFirstChange}>
        <thead>
          <tr>
            <th className={th} style={{ width: 1, ...MUTED }}>#</th>
            {props.columns.map((c) => <SchemaHead key={c.key} c={c} phase={phase} />)}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <Row key={r.id}>
              <td className={td + " text-xs"} style={MUTED}>{r.id}</td>
              {props.columns.map((c) => (
                <Cell key={c.key} text={r.cells[c.key]} style={schemaCellStyle(shownState(c))} />
              ))}
            </Row>
          ))}
        </tbody>
      </PreviewTable>
      {props.total_rows > props.rows.length ? (
        <div className="text-xs" style={MUTED}>Showing {props.rows.length} of {props.total_rows} rows.</div>
      ) : null}
      <ErrorLine error={props.error} />
      <Outcome fallback={(o) => o.message} />
    </div>
  );
}
// ==== end of proposal/schema.jsx ====

// ==== pasted from proposal/data.jsx (edit public/elements/proposal/data.jsx, then `make elements`) ====
// The preview of data changes, pasted into Proposal.jsx (whose helpers and imports it uses).

function countsLine() {
  const c = props.counts || {};
  const parts = [];
  if (c.added) parts.push(plural(c.added, "new row"));
  if (c.updated) parts.push(plural(c.updated, "update"));
  if (c.deleted) parts.push(plural(c.deleted, "deletion"));
  return parts.join(", ");
}

function ResearchLog() {
  const log = props.research_log || [];
  if (!log.length) return null;
  return (
    <details className="text-xs" data-testid="research-log">
      <summary className="cursor-pointer" style={MUTED}>Research log ({plural(log.length, "step")})</summary>
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

// A row not applied says why under it (the ✗ alone would leave the reason to a tooltip).
function FailedLine({ result }) {
  if (!result || result.ok) return null;
  return (
    <tr data-testid="row-failed">
      <td />
      <td colSpan={props.columns.length + 1} className="px-2 pb-1 text-xs" style={{ color: COLOR.bad }}>
        Not applied: {result.error || "failed"}
      </td>
    </tr>
  );
}

function DataRow({ r, phase }) {
  const proposed = r.op !== null && r.op !== undefined;
  const off = proposed && isUnchecked(r.op);
  return (
    <>
      <Row
        state={r.state}
        off={off}
        data-testid={proposed ? "proposed-row" : "context-row"}
        data-state={r.state}
        data-op={proposed ? r.op : undefined}
      >
        <td className={td}>
          {proposed && phase.pending && !phase.applying ? (
            <Checkbox
              checked={!off}
              aria-label={`Include change ${r.op + 1}`}
              onCheckedChange={(v) => toggle([r.op], v === true)}
            />
          ) : proposed ? (
            <StatusIcon result={phase.results[r.op]} applying={phase.applying && !off} />
          ) : null}
        </td>
        <td className={td + " text-xs"} style={MUTED}>{r.id > 0 ? r.id : "new"}</td>
        {props.columns.map((c) => {
          const change = r.changes && r.changes[c.key];
          return (
            <Cell
              key={c.key}
              text={change && off ? change.was : r.cells[c.key]}
              was={change && !off ? change.was : undefined}
              title={change ? `Was: ${change.was || "(empty)"}` : undefined}
            />
          );
        })}
      </Row>
      {proposed ? <FailedLine result={phase.results[r.op]} /> : null}
    </>
  );
}

function DataPreview() {
  const phase = phaseOf(props);
  const total = props.total_ops || 0;
  const chosen = total - (props.unselected || []).length;
  const allOps = Array.from({ length: total }, (_, i) => i);
  const select = (unselected) => setProps({ unselected, error: null });
  return (
    <div className="flex flex-col gap-2">
      <div
        className="flex flex-col gap-2 rounded px-3 py-2"
        style={{ background: COLOR.panel, border: `1px solid ${COLOR.border}` }}
        data-testid="data-bar"
      >
        <div className="flex items-center justify-between gap-2 flex-wrap">
          <div className="text-sm">
            <span className="font-semibold" data-testid="proposal-title">{titleOf("AI Proposed Changes")}</span>
            <span style={MUTED}> · {countsLine()} · {props.table_name}</span>
          </div>
          {phase.pending ? (
            <Actions phase={phase} label={`Apply ${chosen} of ${total}`} canApply={chosen > 0} onDismiss={dismiss} onApply={apply}>
              <Button variant="ghost" size="sm" disabled={phase.applying} onClick={() => select([])}>Select all</Button>
              <Button variant="ghost" size="sm" disabled={phase.applying} onClick={() => select(allOps)}>Deselect all</Button>
            </Actions>
          ) : null}
          {phase.decided && !props.acknowledged ? (
            <Button size="sm" onClick={() => act("proposal_done")}>Done</Button>
          ) : null}
        </div>
        {phase.applying || phase.decided ? (
          <Progress done={phase.decided} count={(props.progress || {}).done} total={(props.progress || {}).total}
            failed={(props.progress || {}).failed} />
        ) : null}
        <Outcome fallback={(o) => o.message} />
        <ErrorLine error={props.error} />
        <ResearchLog />
      </div>
      <PreviewTable maxHeight={520}>
        <thead style={{ background: COLOR.panel, position: "sticky", top: 0 }}>
          <tr>
            <th className={th} style={{ width: 1 }} />
            <th className={th} style={{ width: 1, ...MUTED }}>#</th>
            {props.columns.map((c) => (
              <th key={c.key} className={th} data-col={c.name}>
                <span className="flex items-center gap-1"><ColumnName column={{ ...c, required: false }} /></span>
                <div className="mt-0.5"><TypeBadge type={c.type} /></div>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => <DataRow key={r.id} r={r} phase={phase} />)}
        </tbody>
      </PreviewTable>
      {props.pages > 1 ? (
        <div className="flex items-center justify-between text-xs" style={MUTED}>
          <span>Page {props.page + 1} of {props.pages} · {total} changes</span>
          <span className="flex gap-1">
            <Button size="sm" variant="outline" disabled={props.page === 0 || phase.applying}
              onClick={() => act("proposal_page", { page: props.page - 1 })}><ChevronLeft size={14} /></Button>
            <Button size="sm" variant="outline" disabled={props.page + 1 >= props.pages || phase.applying}
              onClick={() => act("proposal_page", { page: props.page + 1 })}><ChevronRight size={14} /></Button>
          </span>
        </div>
      ) : null}
    </div>
  );
}
// ==== end of proposal/data.jsx ====

// ==== pasted from proposal/revert.jsx (edit public/elements/proposal/revert.jsx, then `make elements`) ====
// Reverting, pasted into Proposal.jsx (whose helpers and imports it uses): the Revert button of an
// applied proposal, the title of a revert preview (what it undoes), and what it says above its rows (each
// cell changed since, which keeps its current value while its row stays unchecked).

// "Revert: <the change set's summary>" for a revert's preview, else `title`
function titleOf(title) {
  return props.revert ? `Revert: ${props.revert.summary || "a change"}` : title;
}

function RevertButton() {
  // a new table is undone by deleting it; a revert can be reverted like any change
  if (props.status !== "applied" || !props.change_id || props.kind === "schema_create") return null;
  return (
    <div className="flex items-center gap-2">
      <Button size="sm" variant="outline" data-testid="proposal-revert"
        disabled={!!props.revert_requested}
        onClick={() => act("proposal_revert", null)}>Revert</Button>
      {props.revert_requested ? <span className="text-xs" style={MUTED}>The revert is shown below.</span> : null}
    </div>
  );
}

function RevertNote() {
  const conflicts = (props.revert && props.revert.conflicts) || [];
  if (!conflicts.length || props.status !== "pending") return null;
  return (
    <div className="text-xs" style={{ color: COLOR.warn }} data-testid="revert-conflicts">
      {plural(conflicts.length, "cell")} changed since. Unchecked, each keeps its current value; check its row to restore.
      <ul className="ml-4 list-disc">
        {conflicts.slice(0, 10).map((c) => (
          <li key={`${c.record_id}:${c.column_id}`}>
            Row {c.record_id} · {c.column}: now “{show(c.current)}”, restore “{show(c.restore)}”
          </li>
        ))}
      </ul>
    </div>
  );
}
// ==== end of proposal/revert.jsx ====

// ==== pasted from proposal/table_change.jsx (edit public/elements/proposal/table_change.jsx, then `make elements`) ====
// The preview of a deletion or a rename (a table, or the chat's workspace), pasted into Proposal.jsx
// (whose helpers and imports it uses). A deletion is red and says what is lost; its button is Delete.

function TableChangePreview() {
  const phase = phaseOf(props);
  const c = props.change || {};
  const deleting = c.action === "delete_table";
  const what = c.action === "rename_workspace" ? "workspace" : "table";
  const tone = deleting ? COLOR.bad : COLOR.border;
  return (
    <div className="flex flex-col gap-2">
      <div
        className="flex items-center justify-between gap-2 flex-wrap rounded px-3 py-2"
        style={{ background: deleting ? TINT.deleted : COLOR.panel, border: `1px solid ${tone}` }}
        data-testid="table-change"
        data-action={c.action}
      >
        <div className="text-sm flex flex-col gap-1">
          <span className="font-semibold" style={deleting ? { color: COLOR.bad } : null}>
            {deleting ? `Delete the table “${c.name}”` : `Rename the ${what} “${c.name}” to “${c.new_name}”`}
          </span>
          {deleting ? (
            <span style={{ color: COLOR.bad }} data-testid="rows-lost">
              {c.rows ? `${plural(c.rows, "row")} will be lost` : "It has no rows"}
              {c.columns ? ` (${plural(c.columns, "column")})` : ""} · workspace {c.workspace}
            </span>
          ) : (
            <span style={MUTED}>workspace {c.workspace}</span>
          )}
        </div>
        {phase.pending ? (
          <Actions phase={phase} label={deleting ? "Delete" : "Apply"} canApply={true} onDismiss={dismiss} onApply={apply} />
        ) : null}
      </div>
      {phase.applying ? <Progress done={false} /> : null}
      <ErrorLine error={props.error} />
      <Outcome fallback={(o) => o.message} />
    </div>
  );
}
// ==== end of proposal/table_change.jsx ====

export default function Proposal() {
  const body = props.kind === "schema_create" ? <CreatePreview /> : props.kind === "schema_update" ? <SchemaPreview />
    : props.kind === "table_change" ? <TableChangePreview /> : <DataPreview />;
  return (
    <div
      className="w-full flex flex-col gap-1"
      data-testid="proposal"
      data-kind={props.kind}
      data-status={props.status}
      style={{ opacity: FINAL[props.status] ? 0.7 : 1 }}
    >
      <style>{KEYFRAMES}</style>
      <RevertNote />
      {body}
      <RevertButton />
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
