// A small live chart of a campaign's messages per second over its run: sent, failed at
// send and failed after acceptance, from GET /api/campaigns/{id}/rate-series.
//
//   const chart = rateChart(element);               // as wide as element, 180 px high
//   chart.update(body.points, body.bucketSeconds);  // as often as new points come
//   chart.destroy();                                // when the view goes
//
// Drawn with uPlot (vendored in static/vendor/uplot by `make vendor`; its CSS is linked
// from index.html). The canvas says nothing to a screen reader, so a visually hidden
// caption says the same in words; each line has its own dash as well as its colour.

import uPlot from "../../vendor/uplot/uPlot.esm.js";

// The page's colours (app.css): green for what went out, red for what failed; the
// failures after acceptance dashed, as the failed bars are striped.
const SERIES = [
  { key: "sent", label: "Sent", colour: "--ok", fallback: "#1a7f37", dash: [] },
  { key: "failed", label: "Failed at send", colour: "--bad", fallback: "#b42318", dash: [] },
  {
    key: "failedAfterAcceptance",
    label: "Failed after acceptance",
    colour: "--bad",
    fallback: "#b42318",
    dash: [6, 4],
  },
];
const DEFAULT_HEIGHT = 180;
const MIN_WIDTH = 240;

function cssColour(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

const perSecond = (value) =>
  value === null || value === undefined ? "—" : `${Number(value.toFixed(1)).toLocaleString()}/s`;

function duration(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

// The bucket width the points were sent with; without it, the step between them (the
// endpoint sends every bucket, empty ones included), else one second.
function bucketWidth(points, given) {
  if (Number.isFinite(given) && given > 0) return given;
  let step = Infinity;
  for (let i = 1; i < points.length; i += 1) {
    const gap = points[i].at - points[i - 1].at;
    if (gap > 0 && gap < step) step = gap;
  }
  return Number.isFinite(step) ? step : 1;
}

// The caption: what a sighted reader takes from the lines, in words.
export function summarise(points, bucketSeconds) {
  if (points.length === 0) return "Messages per second: nothing sent yet.";
  const span = points[points.length - 1].at - points[0].at + bucketSeconds;
  const last = points[points.length - 1];
  const parts = SERIES.map(({ key, label }) => {
    const total = points.reduce((sum, point) => sum + (point[key] ?? 0), 0);
    const peak = Math.max(...points.map((point) => point[key] ?? 0)) / bucketSeconds;
    const now = (last[key] ?? 0) / bucketSeconds;
    return `${label.toLowerCase()}: ${total.toLocaleString()} in all, ${perSecond(now)} in the latest ${bucketSeconds} s, at most ${perSecond(peak)}`;
  });
  return `Messages per second over ${duration(span)}. ${parts.join("; ")}.`;
}

// The chart follows its container's width; its height is fixed (height, in px, as
// given), so that a container whose height follows the chart cannot make it grow.
export function rateChart(container, { height = DEFAULT_HEIGHT } = {}) {
  const caption = document.createElement("figcaption");
  caption.className = "visually-hidden";
  const plotArea = document.createElement("div");
  plotArea.className = "rate-chart-plot";
  plotArea.setAttribute("aria-hidden", "true");
  const figure = document.createElement("figure");
  figure.className = "rate-chart";
  figure.append(plotArea, caption);
  container.append(figure);

  const size = () => ({
    width: Math.max(MIN_WIDTH, Math.floor(container.clientWidth || MIN_WIDTH)),
    height,
  });
  const muted = cssColour("--muted", "#57606a");
  const line = cssColour("--line", "#d0d7de");
  const axis = {
    stroke: muted,
    grid: { stroke: line, width: 1 },
    ticks: { stroke: line, width: 1 },
  };
  const plot = new uPlot(
    {
      ...size(),
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      axes: [axis, { ...axis, label: "messages / s", values: (_u, ticks) => ticks.map(String) }],
      series: [
        {},
        ...SERIES.map(({ label, colour, fallback, dash }) => ({
          label,
          stroke: cssColour(colour, fallback),
          width: 2,
          dash,
          points: { show: false },
          value: (_u, value) => perSecond(value),
        })),
      ],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
    },
    [[], ...SERIES.map(() => [])],
    plotArea,
  );
  caption.textContent = summarise([], 1);

  const resized = new ResizeObserver(() => plot.setSize(size()));
  resized.observe(container);

  return {
    // points: [{at (epoch s), sent, failed, failedAfterAcceptance}], oldest first.
    update(points, bucketSeconds) {
      const width = bucketWidth(points, bucketSeconds);
      plot.setData([
        points.map((point) => point.at),
        ...SERIES.map(({ key }) => points.map((point) => (point[key] ?? 0) / width)),
      ]);
      caption.textContent = summarise(points, width);
    },
    destroy() {
      resized.disconnect();
      plot.destroy();
      figure.remove();
    },
  };
}
