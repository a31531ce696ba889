// How far apart two names are, for "Did you mean …?" hints: option names, methods, app files.
// No imports: the link layer, in every peer's import graph, uses it too.

/** Levenshtein distance: the fewest insertions, deletions and substitutions from `a` to `b`. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The one of `known` nearest to `given` (case aside) within `max` edits, if any. */
export function nearest(given: string, known: readonly string[], max = 2): string | undefined {
  let best: string | undefined;
  let distance = max + 1;
  for (const name of known) {
    const d = editDistance(given.toLowerCase(), name.toLowerCase());
    if (d < distance) {
      best = name;
      distance = d;
    }
  }
  return best;
}
