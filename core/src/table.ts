// Plain aligned columns for text meant for a terminal or a log (a failure report, `peer-cluster up`):
// two spaces between columns, no borders, no quotes, nothing after the last column.

/** Each row as a line, every column but the last padded to its widest cell. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}
