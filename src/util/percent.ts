/**
 * How mIoU over seeds is printed in text (the demo's table, its report.html notes, `clan report`): a fraction as a
 * percentage with two decimals, ± the standard deviation when more than one seed went into it. The report page's
 * table cells use report/html.ts `pct`, which also draws a missing value as "—".
 */
export function pctMeanStd([mean, std]: readonly [number, number], seeds: number): string {
  return `${(mean * 100).toFixed(2)}${seeds > 1 ? ` ± ${(std * 100).toFixed(2)}` : ''}`;
}
