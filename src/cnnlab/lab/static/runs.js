// Runs side by side: the server sends each run's history and the table `cnnlab runs` prints,
// and the accuracy-vs-speed points of one split; this script draws them as SVG (no library:
// the page works offline). Every tick label is placed inside the figure.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
  "#17becf", "#bcbd22", "#7f7f7f"];
const state = {runs: [], hidden: new Set()};

function node(tag, attributes = {}, text = "") {
  const made = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  if (text) made.textContent = text;
  return made;
}

// ------------------------------------------------------------------ axes
function niceTicks(low, high, count = 5, whole = false) {
  if (!(high > low)) { high = low + 1; low -= 1; }
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw);
  if (whole) step = Math.max(1, Math.round(step));  // epochs: no tick between two
  const ticks = [];
  for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

function logTicks(low, high) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(low)); e <= Math.ceil(Math.log10(high)); e++) {
    for (const m of [1, 2, 5]) {
      const t = m * 10 ** e;
      if (t >= low && t <= high) ticks.push(t);
    }
  }
  return ticks;
}

function shorten(text, most) {
  return text.length <= most ? text : `${text.slice(0, most - 1)}\u2026`;
}

function format(value) {
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString();
  return String(Number(value.toPrecision(3)));
}

// An axis frame in `svg` with its scales; labels are clamped inside the viewBox.
function frame(svg, {x, y, xLabel, yLabel, xLog = false, xWhole = false}) {
  const [width, height] = svg.getAttribute("viewBox").split(" ").slice(2).map(Number);
  const box = {left: 64, right: width - 16, top: 14, bottom: height - 46};
  const xs = xLog ? [Math.log10(x[0]), Math.log10(x[1])] : x;
  const sx = (v) => box.left + ((xLog ? Math.log10(v) : v) - xs[0]) / (xs[1] - xs[0] || 1) *
    (box.right - box.left);
  const sy = (v) => box.bottom - (v - y[0]) / (y[1] - y[0] || 1) * (box.bottom - box.top);
  svg.replaceChildren();
  svg.append(node("rect", {x: box.left, y: box.top, width: box.right - box.left,
    height: box.bottom - box.top, class: "plot-area"}));
  for (const t of xLog ? logTicks(x[0], x[1]) : niceTicks(x[0], x[1], 5, xWhole)) {
    if (t < x[0] || t > x[1]) continue;
    const at = sx(t);
    svg.append(node("line", {x1: at, x2: at, y1: box.top, y2: box.bottom, class: "grid"}));
    const anchor = at < box.left + 20 ? "start" : at > box.right - 20 ? "end" : "middle";
    svg.append(node("text", {x: at, y: box.bottom + 16, "text-anchor": anchor, class: "tick"},
      format(t)));
  }
  for (const t of niceTicks(y[0], y[1])) {
    if (t < y[0] || t > y[1]) continue;
    const at = sy(t);
    svg.append(node("line", {x1: box.left, x2: box.right, y1: at, y2: at, class: "grid"}));
    svg.append(node("text", {x: box.left - 6, y: Math.min(Math.max(at + 4, box.top + 8),
      box.bottom), "text-anchor": "end", class: "tick"}, format(t)));
  }
  svg.append(node("text", {x: (box.left + box.right) / 2, y: height - 8, "text-anchor": "middle",
    class: "axis-label"}, xLabel));
  svg.append(node("text", {x: 14, y: (box.top + box.bottom) / 2, "text-anchor": "middle",
    transform: `rotate(-90 14 ${(box.top + box.bottom) / 2})`, class: "axis-label"}, yLabel));
  return {sx, sy, box};
}

function span(values, pad = 0.04) {
  let low = Math.min(...values), high = Math.max(...values);
  if (high === low) { low -= Math.abs(low) * 0.05 || 0.5; high += Math.abs(high) * 0.05 || 0.5; }
  const margin = (high - low) * pad;
  return [low - margin, high + margin];
}

// ------------------------------------------------------------------ curves
const METRIC_NAMES = {val_acc: "validation accuracy", train_acc: "training accuracy",
  val_loss: "validation loss", train_loss: "training loss", lr: "learning rate"};

function curvePoints(run, metric, along) {
  let clock = 0;
  const points = [];
  for (const row of run.history) {
    clock += row.seconds || 0;
    const value = row[metric];
    if (value === null || value === undefined) continue;
    points.push([along === "seconds" ? clock : row.epoch, value]);
  }
  return points;
}

function drawCurves() {
  const metric = $("metric").value, along = $("along").value;
  const series = state.runs.map((run, index) => ({run, index,
    points: curvePoints(run, metric, along)}));
  const shown = series.filter((s) => !state.hidden.has(s.index) && s.points.length);
  const svg = $("curves");
  const missing = series.filter((s) => !s.points.length).map((s) => s.run.name);
  $("curves-note").textContent = missing.length ?
    `${missing.join(", ")}: no ${METRIC_NAMES[metric]} recorded` +
    (metric.startsWith("val") ? " (trained without a validation split)" : "") : "";
  if (!shown.length) { svg.replaceChildren(); return; }
  const xs = shown.flatMap((s) => s.points.map((p) => p[0]));
  const ys = shown.flatMap((s) => s.points.map((p) => p[1]));
  const {sx, sy} = frame(svg, {x: span([along === "epoch" ? 1 : 0, ...xs], 0.02), y: span(ys),
    xLabel: along === "epoch" ? "epoch" : "seconds of training", yLabel: METRIC_NAMES[metric],
    xWhole: along === "epoch"});
  for (const s of shown) {
    const colour = COLOURS[s.index % COLOURS.length];
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    svg.append(node("path", {d, class: "curve", stroke: colour, "data-run": s.run.name}));
    for (const p of s.points) {
      const dot = node("circle", {cx: sx(p[0]), cy: sy(p[1]), r: 3, fill: colour});
      dot.append(node("title", {}, `${s.run.name}: ${METRIC_NAMES[metric]} ${format(p[1])} ` +
        `at ${along === "epoch" ? "epoch" : "second"} ${format(p[0])}`));
      svg.append(dot);
    }
  }
}

function drawLegend() {
  $("legend").replaceChildren(...state.runs.map((run, index) => {
    const item = element("li");
    const box = element("input", {type: "checkbox"});
    box.checked = !state.hidden.has(index);
    box.addEventListener("change", () => {
      if (box.checked) state.hidden.delete(index); else state.hidden.add(index);
      drawCurves();
    });
    const swatch = element("span", {class: "swatch"});
    swatch.style.background = COLOURS[index % COLOURS.length];
    const label = element("label");
    label.append(box, swatch, document.createTextNode(` ${run.name} (${run.model})`));
    item.append(label);
    return item;
  }));
}

function drawTable(answer) {
  const head = element("tr");
  answer.header.forEach((name) => head.append(element("th", {}, name)));
  $("runs-table").tHead.replaceChildren(head);
  $("runs-table").tBodies[0].replaceChildren(...answer.cells.map((cells) => {
    const row = element("tr");
    cells.forEach((cell) => row.append(element("td", {}, cell)));
    return row;
  }));
}

// ------------------------------------------------------------------ accuracy vs speed
async function plotPareto() {
  const query = new URLSearchParams({split: $("split").value, speed: $("speed").value});
  $("plot").disabled = true;
  $("pareto-status").textContent = "measuring (a run not yet evaluated on this split is " +
    "evaluated now)...";
  try {
    const answer = await api(`/api/runs/pareto?${query}`);
    drawPareto(answer);
    $("pareto-status").textContent = `measured on ${answer.split}`;
    drawTable(await api("/api/runs"));  // the evaluations just made fill its speed column
    $("error").hidden = true;
  } catch (error) {
    $("pareto-status").textContent = "";
    showError(error);
  } finally {
    $("plot").disabled = false;
  }
}

function drawPareto(answer) {
  const svg = $("pareto");
  svg.removeAttribute("hidden");  // an SVG element has no .hidden property
  const speeds = answer.points.map((p) => p.speed);
  const accuracies = answer.points.map((p) => 100 * p.accuracy);
  const xLog = Math.max(...speeds) / Math.min(...speeds) > 20;
  const x = xLog ? [Math.min(...speeds) / 1.6, Math.max(...speeds) * 1.6] : span(speeds, 0.1);
  if (!xLog && x[0] < 0) x[0] = 0;
  const {sx, sy, box} = frame(svg, {x, y: span(accuracies, 0.15), xLabel: answer.label,
    yLabel: "top-1 accuracy (%)", xLog});
  const front = answer.points.filter((p) => p.front).sort((a, b) => a.speed - b.speed);
  if (front.length > 1) {
    svg.append(node("path", {class: "front", d: front.map((p, i) =>
      `${i ? "L" : "M"}${sx(p.speed).toFixed(1)},${sy(100 * p.accuracy).toFixed(1)}`).join("")}));
  }
  answer.points.forEach((point, index) => {
    const cx = sx(point.speed), cy = sy(100 * point.accuracy);
    const group = node("g", {class: "point", "data-name": point.name});
    const dot = node("circle", {cx, cy, r: 5, fill: COLOURS[index % COLOURS.length]});
    dot.append(node("title", {}, `${point.name}: ${(100 * point.accuracy).toFixed(2)}%, ` +
      `${format(point.speed)}`));
    // The name beside its point, on whichever side keeps it inside the plot.
    const right = cx < (box.left + box.right) / 2;
    const label = node("text", {x: right ? cx + 8 : cx - 8, y: Math.max(cy - 8, box.top + 12),
      "text-anchor": right ? "start" : "end", class: "point-label"}, shorten(point.name, 44));
    group.append(dot, label);
    svg.append(group);
  });
}

// ------------------------------------------------------------------ start
async function start() {
  try {
    const answer = await api("/api/runs");
    if (!answer.runs.length) {
      $("no-runs").hidden = false;
      document.body.dataset.state = "ready";
      return;
    }
    state.runs = answer.runs;
    $("runs-main").hidden = false;
    drawLegend();
    drawCurves();
    drawTable(answer);
    document.body.dataset.state = "ready";
  } catch (error) {
    showError(error);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("metric").addEventListener("change", drawCurves);
  $("along").addEventListener("change", drawCurves);
  $("plot").addEventListener("click", plotPareto);
  start();
});
