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
