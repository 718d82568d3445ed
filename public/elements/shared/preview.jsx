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
