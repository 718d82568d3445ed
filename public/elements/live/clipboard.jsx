// A spreadsheet's clipboard text (text/plain) as rows of cells. Excel, Google Sheets and LibreOffice
// write tab-separated lines and put a cell holding a tab, a line break or a leading quote in double
// quotes, a quote inside doubled (""). So: a cell that starts with a quote runs to the quote that is
// followed by a tab, a line break or the end, "" in it read as one quote; a quote with no such end is an
// ordinary character (the cell then ends at the next tab or line break), as the spreadsheets read it.
// CRLF and CR count as line breaks; a last line break ends the block and adds no row. Plain JavaScript:
// the tests run it in Chromium as it is.
function parseBlock(text) {
  const s = String(text).replace(/\r\n?/g, "\n");
  const rows = [];
  let row = [];
  let i = 0;
  for (;;) {
    let cell = null;
    if (s[i] === '"') {
      const end = closingQuote(s, i + 1);
      if (end >= 0) {
        cell = s.slice(i + 1, end).replace(/""/g, '"');
        i = end + 1;
      }
    }
    if (cell === null) {
      let j = i;
      while (j < s.length && s[j] !== "\t" && s[j] !== "\n") j += 1;
      cell = s.slice(i, j);
      i = j;
    }
    row.push(cell);
    if (i >= s.length) break;
    if (s[i] === "\n") {
      rows.push(row);
      row = [];
      if (i + 1 >= s.length) return rows; // the line break that ends the block
    }
    i += 1;
  }
  rows.push(row);
  return rows;
}

// Where the quoted cell opened just before `from` ends: its closing quote's index, or -1 when it has none.
function closingQuote(s, from) {
  for (let k = from; k < s.length; k += 1) {
    if (s[k] !== '"') continue;
    if (s[k + 1] === '"') { k += 1; continue; }
    if (k + 1 === s.length || s[k + 1] === "\t" || s[k + 1] === "\n") return k;
  }
  return -1;
}
