import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLORS = ['#0b57d0', '#b3261e', '#1a7f37', '#8250df', '#bc4c00', '#0a7ea4', '#6e7781', '#d4a72c'];

export interface SeriesData {
  /** Bucket starts (ISO 8601). */
  buckets: string[];
  templates: Record<string, number[]>;
}

/**
 * A stacked bar chart of counts per bucket and template (uPlot, canvas): each template's bar sits
 * on the ones before it, the legend shows its own count. The same numbers follow in a table, for
 * screen readers and for copying.
 */
export function StackedBars({ id, title, data, bucketLabel }: { id: string; title: string; data: SeriesData; bucketLabel: (iso: string) => string }) {
  const box = useRef<HTMLDivElement>(null);
  const names = Object.keys(data.templates).sort();
  const total = data.buckets.map((_, i) => names.reduce((n, t) => n + data.templates[t]![i]!, 0));
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const xs = data.buckets.map((b) => Date.parse(b) / 1000);
    // Cumulative sums, drawn tallest first so each template's part shows below the next one's.
    const cumulative: number[][] = [];
    names.forEach((t, k) => cumulative.push(data.templates[t]!.map((v, i) => v + (k ? cumulative[k - 1]![i]! : 0))));
    const order = names.map((_, k) => names.length - 1 - k);
    const raw = order.map((k) => data.templates[names[k]!]!);
    const width = () => Math.max(280, Math.min(el.clientWidth - 16, 1100));
    const step = xs.length > 1 ? xs[1]! - xs[0]! : 86_400;
    const plot = new uPlot(
      {
        width: width(),
        height: 240,
        scales: { x: { time: true, range: [xs[0]! - step / 2, xs[xs.length - 1]! + step / 2] }, y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] } },
        axes: [{}, { label: 'certificates' }],
        legend: { show: true },
        series: [
          { label: 'date', value: (_u, v) => (v === null ? '—' : bucketLabel(new Date(v * 1000).toISOString())) },
          ...order.map((k, j) => ({
            label: names[k]!,
            stroke: COLORS[k % COLORS.length]!,
            fill: COLORS[k % COLORS.length]!,
            paths: uPlot.paths.bars!({ size: [0.7, 60] }),
            points: { show: false },
            value: (_u: uPlot, _v: number | null, _si: number, idx: number | null) => (idx === null ? '—' : String(raw[j]![idx] ?? 0)),
          })),
        ],
      },
      [xs, ...order.map((k) => cumulative[k]!)] as uPlot.AlignedData,
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: 240 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [data]);
  return (
    <figure class="chart" aria-labelledby={`${id}-caption`}>
      <figcaption id={`${id}-caption`}>
        <strong>{title}</strong> <span class="muted">({total.reduce((a, b) => a + b, 0)} in all)</span>
      </figcaption>
      <div ref={box} aria-hidden="true" />
      {names.length === 0 && <p class="muted">No certificates in this period.</p>}
      <details>
        <summary>{title} as a table</summary>
        <div class="table-wrap" tabIndex={0} role="region" aria-label={`${title} (table)`}>
          <table>
            <thead>
              <tr>
                <th scope="col">{data.buckets.length > 20 ? 'Day' : 'Week from'}</th>
                {names.map((n) => (
                  <th scope="col" key={n}>
                    {n}
                  </th>
                ))}
                <th scope="col">Total</th>
              </tr>
            </thead>
            <tbody>
              {data.buckets.map((b, i) => (
                <tr key={b}>
                  <th scope="row">{bucketLabel(b)}</th>
                  {names.map((n) => (
                    <td key={n}>{data.templates[n]![i]}</td>
                  ))}
                  <td>{total[i]}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
