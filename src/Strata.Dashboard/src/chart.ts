// Live CPU and memory of one instance, sampled from /stats, drawn with uPlot.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export class LiveChart {
  private readonly data: [number[], number[], number[]] = [[], [], []];
  private readonly plot: uPlot;

  constructor(host: HTMLElement, private readonly keep = 120) {
    this.plot = new uPlot({
      width: Math.max(320, host.clientWidth || 640),
      height: 200,
      series: [
        {},
        { label: "CPU %", stroke: "#2f6fde", width: 2, scale: "cpu", value: (_u, v) => (v == null ? "–" : `${v.toFixed(1)} %`) },
        { label: "Memory MiB", stroke: "#d9822b", width: 2, scale: "mem", value: (_u, v) => (v == null ? "–" : `${v.toFixed(1)} MiB`) },
      ],
      axes: [{}, { scale: "cpu", label: "CPU %" }, { scale: "mem", side: 1, label: "MiB", grid: { show: false } }],
      scales: { x: { time: true }, cpu: { range: (_u, _min, max) => [0, Math.max(10, max)] }, mem: { range: (_u, _min, max) => [0, Math.max(1, max * 1.2)] } },
    }, this.data, host);
  }

  push(time: number, cpuPercent: number, memoryBytes: number): void {
    this.data[0].push(time);
    this.data[1].push(cpuPercent);
    this.data[2].push(memoryBytes / (1024 * 1024));
    for (const s of this.data) if (s.length > this.keep) s.shift();
    // The last two minutes, however few samples there are yet (one sample alone has no span to scale by).
    this.plot.setData(this.data, false);
    this.plot.setScale("x", { min: time - 120, max: time });
  }

  destroy(): void {
    this.plot.destroy();
  }
}
