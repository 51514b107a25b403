// The playground's page: the form is the state, the URL mirrors it (so a link reproduces the
// page), the server computes (cnnlab's explanation, plan and scratch engine), and this script
// draws the answer and steps through its windows. Nothing here computes arithmetic itself.
"use strict";

const FIELDS = ["layer", "pool", "input", "kernel", "stride", "padding", "dilation",
  "output_padding", "ceil_mode", "in_channels", "out_channels", "groups", "bias", "x", "w"];
const CHECKBOXES = new Set(["ceil_mode", "bias"]);
const DEFAULTS = {layer: "conv", pool: "max", input: "5x5", kernel: "3", stride: "",
  padding: "0", dilation: "1", output_padding: "0", ceil_mode: "0", in_channels: "1",
  out_channels: "1", groups: "1", bias: "1", x: "", w: ""};
// Each kind of layer reads only some fields; a hidden field's value is not sent.
const APPLIES = {pool: ["pool"], ceil_mode: ["pool"], output_padding: ["transposed"],
  out_channels: ["conv", "transposed"], groups: ["conv", "transposed"], bias: ["conv", "transposed"],
  w: ["conv", "transposed"]};
// Changing these resizes the input or the kernel: values typed for the old size no longer fit.
const RESIZES = {input: ["x"], kernel: ["w"]};
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
const state = {answer: null, index: 0, timer: null, request: 0};

function field(name) { return $(name); }

function readForm() {
  const query = new URLSearchParams();
  const layer = field("layer").value;
  for (const name of FIELDS) {
    if (APPLIES[name] && !APPLIES[name].includes(layer)) continue;
    const element = field(name);
    let value;
    if (CHECKBOXES.has(name)) value = element.checked ? "1" : "0";
    else if (name === "x" || name === "w") value = element.dataset.edited === "1" ? element.value.trim() : "";
    else value = element.value.trim();
    if (value !== "" && value !== DEFAULTS[name]) query.set(name, value);
  }
  return query;
}

function fillForm(query) {
  for (const name of FIELDS) {
    const element = field(name);
    const value = query.has(name) ? query.get(name) : DEFAULTS[name];
    if (CHECKBOXES.has(name)) element.checked = value === "1";
    else element.value = value;
    if (name === "x" || name === "w") element.dataset.edited = query.has(name) ? "1" : "0";
  }
  showKind();
}

function showKind() {
  const layer = field("layer").value;
  document.querySelectorAll(".pool-only").forEach((e) => e.classList.toggle("hidden", layer !== "pool"));
  document.querySelectorAll(".conv-only").forEach((e) => e.classList.toggle("hidden", layer === "pool"));
  document.querySelectorAll(".transposed-only").forEach((e) => e.classList.toggle("hidden", layer !== "transposed"));
  field("stride").placeholder = layer === "pool" ? "the kernel" : "1";
}

async function update(step = 0) {
  const query = readForm();
  // an input event and the change event after it ask for the same layer: keep the window shown
  if (state.answer && state.query === query.toString()) return;
  state.query = query.toString();
  history.replaceState(null, "", "?" + query.toString());
  $("share").value = location.href;
  const request = ++state.request;
  let answer, ok;
  try {
    const response = await fetch("/api/playground?" + query.toString());
    answer = await response.json();
    ok = response.ok;
  } catch (error) {
    answer = {detail: "the lab did not answer (" + error + "); is `cnnlab lab` still running?"};
    ok = false;
  }
  if (request !== state.request) return; // a newer change is on its way
  if (!ok) { showError(answer.detail); return; }
  render(answer, step);
}

function showError(message) {
  stop();
  state.query = null;
  state.answer = null;
  $("error").textContent = message;
  $("error").hidden = false;
  $("answer").hidden = true;
  document.body.dataset.state = "error";
}

function text(id, value) { $(id).textContent = value; }

function fieldText(rf) {
  if (rf.size !== undefined) return rf.size + "x" + rf.size;
  return rf.H.size + "x" + rf.W.size;
}

function render(answer, index) {
  state.answer = answer;
  $("error").hidden = true;
  $("answer").hidden = false;
  const facts = answer.explanation;
  text("output-size", facts.output.join("x"));
  text("output-shape", facts.output_shape ? "(" + facts.output_shape.join("x") + ", CxHxW)" : "");
  text("params", facts.params.toLocaleString("en"));
  text("macs", facts.macs.toLocaleString("en"));
  text("field", fieldText(facts.receptive_field));
  const formula = $("formula");
  formula.replaceChildren();
  for (const [axis, about] of Object.entries(facts.axes)) {
    const name = Object.keys(facts.axes).length === 1 ? "out" : axis + "_out";
    const line = document.createElement("div");
    line.className = "axis-formula";
    line.dataset.axis = axis;
    line.textContent = name + " = " + about.formula + " = " + about.with_numbers + " = " + about.output;
    formula.append(line);
  }
  const warnings = $("warnings");
  warnings.replaceChildren(...facts.warnings.map((w) => {
    const item = document.createElement("li");
    item.textContent = w;
    return item;
  }));
  text("command", answer.command);
  text("explain", answer.text);
  for (const name of ["x", "w"]) {
    const element = field(name);
    if (document.activeElement !== element && element.dataset.edited !== "1") element.value = answer.settings[name];
  }
  $("not-drawn").hidden = !answer.not_drawn;
  text("not-drawn", answer.not_drawn ? "No drawing: " + answer.not_drawn + "." : "");
  $("drawing-box").hidden = !answer.drawing;
  document.body.dataset.state = "ready";
  if (!answer.drawing) { stop(); return; }
  draw(answer.drawing);
  show(Math.min(Math.max(0, index || 0), answer.drawing.windows.length - 1));
}

function element(name, attributes, parent) {
  const made = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
  if (parent) parent.append(made);
  return made;
}

function shown(value) {
  if (value === null || value === undefined) return "";
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(3)));
}

function draw(drawing) {
  const svg = $("drawing");
  svg.replaceChildren();
  const rows = drawing.kinds.length, cols = drawing.kinds[0].length;
  const [outRows, outCols] = drawing.out_shape;
  const cell = Math.max(16, Math.min(44, Math.floor(420 / Math.max(rows, cols, outRows, outCols))));
  const top = 22, gap = 48;
  const outLeft = cols * cell + gap;
  const width = outLeft + outCols * cell + 2, height = top + Math.max(rows, outRows) * cell + 2;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const defs = element("defs", {}, svg);
  const hatch = element("pattern", {id: "lost-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)"}, defs);
  element("rect", {width: 6, height: 6, fill: "rgb(125, 175, 225)"}, hatch);
  element("line", {x1: 0, y1: 0, x2: 0, y2: 6, stroke: "rgb(200, 40, 40)", "stroke-width": 2}, hatch);
  element("text", {x: 0, y: 14, class: "label"}, svg).textContent = drawing.input_label;
  element("text", {x: outLeft, y: 14, class: "label"}, svg).textContent = "output " + outRows + "x" + outCols;
  const unseen = new Set(drawing.unseen.map(([r, c]) => r + "," + c));
  const grid = element("g", {id: "grid"}, svg);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const kind = drawing.kinds[r][c];
      const lost = unseen.has(r + "," + c);
      element("rect", {x: c * cell + 1, y: top + r * cell + 1, width: cell, height: cell,
        class: "cell kind-" + kind + (lost ? " unseen" : ""), "data-row": r, "data-col": c}, grid);
      const value = drawing.values ? drawing.values[r][c] : null;
      if (value !== null && kind !== "beyond" && cell >= 18) {
        element("text", {x: c * cell + 1 + cell / 2, y: top + r * cell + 1 + cell / 2, class: "value",
          "data-row": r, "data-col": c}, grid).textContent = shown(value);
      }
    }
  }
  element("g", {id: "taps"}, svg);
  const output = element("g", {id: "output"}, svg);
  for (let r = 0; r < outRows; r++) {
    for (let c = 0; c < outCols; c++) {
      element("rect", {x: outLeft + c * cell + 1, y: top + r * cell + 1, width: cell, height: cell,
        class: "out", "data-out-row": r, "data-out-col": c}, output);
      element("text", {x: outLeft + c * cell + 1 + cell / 2, y: top + r * cell + 1 + cell / 2,
        class: "value", "data-out-row": r, "data-out-col": c}, output);
    }
  }
  state.layout = {cell, top, outLeft};
  const notes = [...drawing.notes];
  if (drawing.channels_note) notes.push(drawing.channels_note);
  if (drawing.unseen.length) notes.push("hatched red: input cells no window reaches (" + drawing.unseen.length + ")");
  $("notes").replaceChildren(...notes.map((n) => {
    const item = document.createElement("li");
    item.textContent = n;
    return item;
  }));
}

function show(index) {
  const drawing = state.answer && state.answer.drawing;
  if (!drawing) return;
  const count = drawing.windows.length;
  state.index = index;
  const window_ = drawing.windows[index];
  const {cell, top} = state.layout;
  const taps = $("taps");
  taps.replaceChildren();
  const rows = drawing.kinds.length, cols = drawing.kinds[0].length;
  for (const [r, c, weight] of window_.taps) {
    const beyond = r >= rows || c >= cols || drawing.kinds[r][c] === "beyond";
    element("rect", {x: c * cell + 1, y: top + r * cell + 1, width: cell, height: cell,
      class: "tap" + (beyond ? " beyond" : ""), "data-row": r, "data-col": c}, taps);
    const value = drawing.values && !beyond ? drawing.values[r][c] : null;
    if (value !== null && cell >= 18) {
      element("text", {x: c * cell + 1 + cell / 2, y: top + r * cell + 1 + cell / 2,
        class: "value on-tap"}, taps).textContent = shown(value);
    }
    if (weight !== null && cell >= 26) {
      element("text", {x: (c + 1) * cell - 1, y: top + (r + 1) * cell - 2, class: "weight"}, taps)
        .textContent = shown(weight);
    }
  }
  const order = (r, c) => r * drawing.out_shape[1] + c;
  document.querySelectorAll("#output rect").forEach((rect) => {
    const at = order(Number(rect.dataset.outRow), Number(rect.dataset.outCol));
    rect.setAttribute("class", "out" + (at < index ? " done" : at === index ? " current" : ""));
  });
  document.querySelectorAll("#output text").forEach((label) => {
    const r = Number(label.dataset.outRow), c = Number(label.dataset.outCol);
    label.textContent = order(r, c) <= index && drawing.output && state.layout.cell >= 18 ? shown(drawing.output[r][c]) : "";
  });
  const [outRow, outCol] = window_.out;
  text("position", `window ${index + 1} of ${count}: output row ${outRow}, column ${outCol}`);
  text("expression", window_.expression || "");
  const query = new URLSearchParams(location.search);
  if (index) query.set("step", String(index)); else query.delete("step");
  history.replaceState(null, "", "?" + query.toString());
  $("share").value = location.href;
}

function stop() {
  if (state.timer !== null) clearInterval(state.timer);
  state.timer = null;
  $("play").textContent = "\u25B6 play";
}

function play() {
  const drawing = state.answer && state.answer.drawing;
  if (!drawing) return;
  if (state.timer !== null) { stop(); return; }
  if (state.index >= drawing.windows.length - 1) show(0);
  $("play").textContent = "\u23F8 pause";
  state.timer = setInterval(() => {
    if (state.index >= drawing.windows.length - 1) { stop(); return; }
    show(state.index + 1);
  }, Number($("speed").value));
}

function step(by) {
  const drawing = state.answer && state.answer.drawing;
  if (!drawing) return;
  stop();
  show(Math.min(Math.max(0, state.index + by), drawing.windows.length - 1));
}

function speedLabel() { text("speed-label", $("speed").value + " ms a window"); }

async function loadExamples() {
  const response = await fetch("/api/playground/examples");
  const examples = await response.json();
  $("examples").replaceChildren(...examples.map((example) => {
    const button = document.createElement("button");
    button.type = "button";
    button.id = "example-" + example.key;
    button.textContent = example.label;
    button.addEventListener("click", () => {
      stop();
      fillForm(new URLSearchParams(example.query));
      update(0);
    });
    return button;
  }));
}

function listen() {
  let pending = null;
  const changed = (event) => {
    const name = event.target.name;
    for (const cleared of RESIZES[name] || []) {
      field(cleared).dataset.edited = "0";
      field(cleared).value = "";
    }
    if (name === "x" || name === "w") event.target.dataset.edited = "1";
    if (name === "layer") showKind();
    stop();
    clearTimeout(pending);
    pending = setTimeout(() => update(0), event.type === "input" ? 120 : 0);
  };
  const form = $("settings");
  form.addEventListener("change", changed);
  form.addEventListener("input", (event) => {
    if (event.target.tagName === "INPUT" && event.target.type === "text") changed(event);
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  $("play").addEventListener("click", play);
  $("step").addEventListener("click", () => step(1));
  $("back").addEventListener("click", () => step(-1));
  $("first").addEventListener("click", () => step(-Infinity));
  $("last").addEventListener("click", () => step(Infinity));
  $("speed").addEventListener("input", () => {
    speedLabel();
    if (state.timer !== null) { stop(); play(); }
  });
  document.addEventListener("keydown", (event) => {
    if (["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) return;
    const keys = {ArrowRight: () => step(1), ArrowLeft: () => step(-1), Home: () => step(-Infinity),
      End: () => step(Infinity), " ": play};
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const name of FIELDS) field(name).name = name;
  fillForm(new URLSearchParams(location.search));
  speedLabel();
  listen();
  loadExamples();
  update(Number(new URLSearchParams(location.search).get("step")) || 0);
});
