// Charts with Chart.js (vendored UMD build, see vendor/README.md); one chart per canvas.
const charts = new WeakMap();
const COLORS = { red: "#d9363e", yellow: "#e6a23c", green: "#3a9c5f", blue: "#3b6fd6", grey: "#8a94a6" };

export function chart(canvas, config) {
  charts.get(canvas)?.destroy();
  const c = new window.Chart(canvas, {
    ...config,
    options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
  });
  charts.set(canvas, c);
  return c;
}

export { COLORS };
