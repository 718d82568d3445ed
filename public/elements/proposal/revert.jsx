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
