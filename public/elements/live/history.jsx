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
