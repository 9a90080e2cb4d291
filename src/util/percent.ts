/**
 * How mIoU over seeds is printed everywhere (demo, report, report.html notes): a fraction as a percentage with two
 * decimals, ± the standard deviation when more than one seed went into it.
 */
export function pctMeanStd([mean, std]: readonly [number, number], seeds: number): string {
  return `${(mean * 100).toFixed(2)}${seeds > 1 ? ` ± ${(std * 100).toFixed(2)}` : ''}`;
}
