// How one cell reads: its value, an AI cell's state (queued, computing, failed, stale), a pin on an AI
// cell edited by hand, and the marks of an edit not saved yet or in conflict.
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

function CellView({ cell, column, pending }) {
  const shown = pending ? pending.value : cell.value;
  return (
    <span className="flex items-center gap-1" style={{ minWidth: 0 }}>
      <span className="truncate" style={pending && pending.state !== "refused" ? { fontStyle: "italic" } : null}>{show(shown)}</span>
      {column.ai && cell.pinned ? (
        <span data-testid="pinned" title="Pinned: set by hand, the AI leaves it alone (Unpin to let it fill the cell again)"
          style={{ color: COLOR.ai, display: "inline-flex" }}><Pin size={11} /></span>
      ) : null}
      {column.ai && !pending ? <StatusBadge cell={cell} /> : null}
      {pending && pending.state === "waiting" ? (
        <span data-testid="unsaved" title="Not saved yet: kept in this browser, sent when the server answers"
          style={{ color: COLOR.warn, display: "inline-flex" }}><CloudOff size={11} /></span>
      ) : null}
      {pending && pending.state !== "waiting" ? (
        <span title={pending.message || "not saved"} style={{ color: COLOR.bad, display: "inline-flex" }}><AlertTriangle size={11} /></span>
      ) : null}
    </span>
  );
}
