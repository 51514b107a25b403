// The explorer's page: the URL holds what is looked at (model, image, stage, class, Grad-CAM
// layer), the server computes everything on the model itself, and this script lays out its
// answers. Pictures arrive at their own resolution and are scaled up pixel for pixel by CSS.
"use strict";

const state = {models: [], model: null, about: null, image: "test:0", stage: "", cls: "",
  layer: "", request: 0, galleryQuery: null, galleryOffset: 0};
const PAGE = 60;

function base() { return `/api/explorer/${encodeURIComponent(state.model)}`; }

function writeUrl() {
  const query = new URLSearchParams({model: state.model, image: state.image});
  if (state.stage) query.set("stage", state.stage);
  if (state.cls !== "") query.set("class", state.cls);
  if (state.layer) query.set("layer", state.layer);
  history.replaceState(null, "", `/explorer?${query}`);
}

function percent(value) { return `${(100 * value).toFixed(1)}%`; }

// ------------------------------------------------------------------ the model
async function loadModel(key) {
  state.model = key;
  const about = await api(base());
  state.about = about;
  $("model-facts").textContent = `${about.model} on ${about.dataset}, ${about.engine} engine; ` +
    `${about.table.params.toLocaleString()} parameters; receives ${about.receives}; ` +
    `weights: ${about.weights}`;
  $("image-number").max = about.test_images - 1;
  drawTable(about);
  const classes = $("cam-class");
  classes.replaceChildren(element("option", {value: ""}, "the predicted class"));
  about.classes.forEach((name, index) => classes.append(element("option", {value: index},
    `${index}: ${name}`)));
  classes.value = state.cls;
  const layers = $("cam-layer");
  layers.replaceChildren(...about.cam_layers.map((name) => element("option", {value: name},
    stageName(name))));
  layers.value = state.layer || about.cam_layers[about.cam_layers.length - 1];
  $("confusion").replaceChildren();
  $("gallery").replaceChildren();
  $("gallery-title").hidden = true;
  $("more").hidden = true;
  $("show-wrong").disabled = true;
  $("test-summary").textContent = `${about.test_images.toLocaleString()} test images`;
}

function stageName(module) {
  const stage = state.about.stages.find((s) => s.module === module);
  return stage ? `${stage.label} (${module})` : module;
}

function drawTable(about) {
  const head = element("tr");
  about.table.columns.forEach((name) => head.append(element("th", {}, name)));
  $("table").tHead.replaceChildren(head);
  const rows = about.table.rows.map((cells, index) => {
    const row = element("tr");
    cells.forEach((cell) => row.append(element("td", {}, cell)));
    const stage = about.table.stages[index];
    if (stage !== null) {
      row.dataset.stage = about.stages[stage].label;
      row.classList.add("link");
      row.tabIndex = 0;
      row.addEventListener("click", () => chooseStage(row.dataset.stage));
      row.addEventListener("keydown", (event) => {
        if (event.key === "Enter") chooseStage(row.dataset.stage);
      });
    }
    return row;
  });
  $("table").tBodies[0].replaceChildren(...rows);
}

function markStage() {
  document.querySelectorAll("#table tr[data-stage]").forEach((row) =>
    row.classList.toggle("selected", row.dataset.stage === state.stage));
}

// ------------------------------------------------------------------ one image
async function refresh(what = {features: true, attribution: true}) {
  const request = ++state.request;
  writeUrl();
  clearError();
  document.body.dataset.state = "loading";
  try {
    const stage = new URLSearchParams({image: state.image, stage: state.stage});
    const cam = new URLSearchParams({image: state.image, class: state.cls,
      layer: state.layer});
    const [features, attribution] = await Promise.all([
      what.features ? api(`${base()}/features?${stage}`) : null,
      what.attribution ? api(`${base()}/attribution?${cam}`) : null]);
    const chosen = features && state.about.stages[features.stage.index];
    const conv = chosen && chosen.kind === "conv" &&
      // a layer called again ("conv (2nd call)") shows the kernels of its first call
      state.about.convs.find((c) => c.module === chosen.module.replace(/ \(\d+\w\w call\)$/, ""));
    const kernels = conv ? await api(`${base()}/kernels?layer=${conv.number}`) : null;
    if (request !== state.request) return;  // a later choice has been made meanwhile
    if (features) {
      drawImage(features.image);
      drawProbabilities(features.probabilities, features.true);
      drawStage(features);
      drawKernels(kernels, !!conv);
    }
    if (attribution) drawAttribution(attribution);
    document.body.dataset.state = "ready";
  } catch (error) {
    if (request === state.request) showError(error);
  }
}

function drawImage(image) {
  $("current-image").src = image.png;
  $("image-caption").textContent = image.caption;
  $("current-image").dataset.source = image.source;
  const list = $("conversion");
  list.replaceChildren(...(image.conversion || []).map((step) => element("li", {}, step)));
  list.hidden = !image.conversion;
  $("original").hidden = !image.original;
  if (image.original) $("original").src = image.original;
  if (image.index !== undefined) $("image-number").value = image.index;
}

function drawProbabilities(probabilities, truth) {
  const best = probabilities.indexOf(Math.max(...probabilities));
  const items = probabilities.map((p, index) => {
    const item = element("li", {"data-class": index});
    item.classList.toggle("predicted", index === best);
    item.classList.toggle("true", index === truth);
    const bar = element("span", {class: "bar"});
    bar.style.width = `${Math.max(0.5, 100 * p)}%`;
    const marks = (index === best ? " predicted" : "") + (index === truth ? " (true class)" : "");
    item.append(element("span", {class: "name"}, state.about.classes[index]),
      element("span", {class: "track"}), element("span", {class: "value"},
        `${percent(p)}${marks}`));
    item.querySelector(".track").append(bar);
    return item;
  });
  $("probabilities").replaceChildren(...items);
}

function drawStage(answer) {
  const stage = answer.stage;
  state.stage = stage.label;
  markStage();
  writeUrl();
  const [c, h, w] = stage.shape;
  $("stage-title").textContent = `${stage.label} (${stage.module}): ${stage.what}, ` +
    `${h}x${w}x${c}`;
  $("stage-note").textContent = (answer.tiles.length < answer.channels ?
    `the first ${answer.tiles.length} of ${answer.channels} maps; ` : "") +
    "grey is 0, darker negative, lighter positive, each map on its own scale" +
    (answer.tiles.some((tile) => tile.before) ?
      " (the activation's input and output on one: what it removed turns grey)"
      : "");
  const tiles = answer.tiles.map((tile) => {
    const box = element("figure", {class: "tile", "data-channel": tile.channel});
    if (tile.before) {
      box.append(element("img", {src: tile.before, class: "pixels map before",
        alt: `channel ${tile.channel} before the activation`, title: `before: ${tile.before_min.toFixed(3)} to ${tile.before_max.toFixed(3)}`}));
    }
    box.append(element("img", {src: tile.output, class: "pixels map output",
      alt: `channel ${tile.channel}`, title: `${tile.min.toFixed(3)} to ${tile.max.toFixed(3)}`}));
    box.append(element("figcaption", {}, `${tile.channel}`));
    return box;
  });
  $("tiles").replaceChildren(...tiles);
}

function drawKernels(kernels, isConv) {
  $("kernels-box").hidden = !isConv;
  if (!kernels) return;
  $("kernels").src = kernels.png;
  $("kernels").dataset.layer = kernels.label;
  const out = kernels.shape[0];
  $("kernels-note").textContent = `${kernels.title}` + (kernels.shown < out ?
    `; the first ${kernels.shown} of ${out} kernels` : "") + `; stride ${kernels.stride.join("x")}`;
}

function drawAttribution(answer) {
  $("cam-overlay").src = answer.overlay_png;
  $("cam-map").src = answer.cam_png;
  $("saliency").src = answer.saliency_png;
  $("cam-overlay").dataset.class = answer.class;
  $("cam-caption").textContent = `${stageName(answer.layer)}, ${answer.cam.length}x` +
    `${answer.cam[0].length}, for ${answer.class_name} (${percent(answer.probabilities[answer.class])})`;
  $("cam-layer").value = answer.layer;
}

function chooseStage(label) {
  state.stage = label;
  markStage();
  refresh({features: true, attribution: false});
}

function chooseImage(source) {
  state.image = source;
  refresh();
}

// ------------------------------------------------------------------ the test set
async function computeTestSet() {
  $("compute").disabled = true;
  $("test-summary").textContent = `predicting ${state.about.test_images.toLocaleString()} ` +
    "test images...";
  try {
    const answer = await api(`${base()}/confusion`);
    drawConfusion(answer);
    $("test-summary").textContent = `accuracy ${percent(answer.accuracy)} on ` +
      `${answer.images.toLocaleString()} test images; ${answer.wrong.toLocaleString()} ` +
      "misclassified. Click a cell to see its images.";
    $("show-wrong").disabled = false;
  } catch (error) {
    showError(error);
  } finally {
    $("compute").disabled = false;
  }
}

function drawConfusion(answer) {
  const table = $("confusion");
  const head = element("tr");
  head.append(element("th", {}, "true \\ predicted"));
  answer.classes.forEach((name) => head.append(element("th", {title: name}, name)));
  const rows = [head];
  const largest = Math.max(...answer.confusion.flat());
  answer.confusion.forEach((counts, truth) => {
    const row = element("tr");
    row.append(element("th", {}, answer.classes[truth]));
    counts.forEach((count, predicted) => {
      const cell = element("td", {"data-true": truth, "data-predicted": predicted,
        title: `${answer.classes[truth]} predicted as ${answer.classes[predicted]}`});
      cell.classList.add(truth === predicted ? "hit" : "miss");
      cell.style.setProperty("--share", `${count / largest}`);
      const button = element("button", {type: "button"}, String(count));
      button.disabled = count === 0;
      button.addEventListener("click", () => showGallery({true: truth, predicted},
        `${count} test images of ${answer.classes[truth]} predicted as ` +
        `${answer.classes[predicted]}`));
      cell.append(button);
      row.append(cell);
    });
    rows.push(row);
  });
  table.replaceChildren(...rows);
}

async function showGallery(query, title, offset = 0) {
  state.galleryQuery = query;
  state.galleryOffset = offset;
  $("gallery-title").textContent = title;
  $("gallery-title").hidden = false;
  try {
    const parameters = new URLSearchParams({...query, offset, limit: PAGE});
    const answer = await api(`${base()}/gallery?${parameters}`);
    const figures = answer.items.map((item) => {
      const figure = element("figure", {"data-index": item.index, tabindex: 0,
        title: `test image ${item.index}: click to look at it`});
      figure.append(element("img", {src: `${base()}/test/${item.index}.png`, class: "pixels",
        alt: `test image ${item.index}`}), element("figcaption", {},
        `${item.index}: ${state.about.classes[item.true]} \u2192 ` +
        `${state.about.classes[item.predicted]} (${percent(item.confidence)})`));
      figure.addEventListener("click", () => {
        chooseImage(`test:${item.index}`);
        $("image-panel").scrollIntoView({behavior: "smooth"});
      });
      return figure;
    });
    if (offset === 0) $("gallery").replaceChildren(...figures);
    else $("gallery").append(...figures);
    $("more").hidden = offset + answer.items.length >= answer.total;
  } catch (error) {
    showError(error);
  }
}

// ------------------------------------------------------------------ wiring
async function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  clearError();
  try {
    const answer = await api(`${base()}/upload?invert=${$("invert").value}`,
      {method: "POST", body: file, headers: {"Content-Type": file.type || "application/octet-stream"}});
    chooseImage(answer.source);
  } catch (error) {
    showError(error);
  } finally {
    $("upload").value = "";
  }
}

function stepImage(by) {
  const number = Number($("image-number").value) + by;
  if (number >= 0 && number < state.about.test_images) chooseImage(`test:${number}`);
}

async function start() {
  const query = new URLSearchParams(location.search);
  state.image = query.get("image") || "test:0";
  state.stage = query.get("stage") || "";
  state.cls = query.get("class") || "";
  state.layer = query.get("layer") || "";
  try {
    state.models = (await api("/api/explorer")).models;
    if (!state.models.length) {
      $("no-models").hidden = false;
      document.body.dataset.state = "ready";
      return;
    }
    const select = $("model");
    select.replaceChildren(...state.models.map((m) => element("option", {value: m.id}, m.title)));
    const wanted = state.models.find((m) => m.id === query.get("model"));
    select.value = wanted ? wanted.id : state.models[0].id;
    $("model-bar").hidden = false;
    $("explorer-main").hidden = false;
    await loadModel(select.value);
    await refresh();
    if (query.get("model") && !wanted) {
      showError(new Error(`no model '${query.get("model")}' in this lab: showing ` +
        `${select.value} (its models: ${state.models.map((m) => m.id).join(", ")})`));
    }
  } catch (error) {
    showError(error);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("model").addEventListener("change", async () => {
    state.stage = ""; state.cls = ""; state.layer = ""; state.image = "test:0";
    try { await loadModel($("model").value); await refresh(); } catch (error) { showError(error); }
  });
  $("image-number").addEventListener("change", () =>
    chooseImage(`test:${$("image-number").value.trim()}`));
  $("previous").addEventListener("click", () => stepImage(-1));
  $("next").addEventListener("click", () => stepImage(1));
  $("upload").addEventListener("change", upload);
  $("cam-class").addEventListener("change", () => {
    state.cls = $("cam-class").value;
    refresh({features: false, attribution: true});
  });
  $("cam-layer").addEventListener("change", () => {
    state.layer = $("cam-layer").value;
    refresh({features: false, attribution: true});
  });
  $("compute").addEventListener("click", computeTestSet);
  $("show-wrong").addEventListener("click", () =>
    showGallery({wrong: 1}, "misclassified test images (true \u2192 predicted)"));
  $("more").addEventListener("click", () => showGallery(state.galleryQuery,
    $("gallery-title").textContent, state.galleryOffset + PAGE));
  start();
});
