// What the explorer's and the runs' pages share: asking the lab for JSON, saying what went
// wrong in the page's #error box, and making elements. Loaded before each page's own script.
"use strict";

const $ = (id) => document.getElementById(id);

// The answer of a JSON request; a refusal throws the server's own sentence.
async function api(path, options) {
  const response = await fetch(path, options);
  let answer = null;
  try { answer = await response.json(); } catch (_) { /* not JSON: said below */ }
  if (!response.ok) {
    throw new Error(answer && answer.detail ? answer.detail :
      `the lab answered ${response.status} ${response.statusText}`);
  }
  return answer;
}

function showError(error) {
  $("error").textContent = error.message || String(error);
  $("error").hidden = false;
  document.body.dataset.state = "error";
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function element(tag, attributes = {}, text = "") {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  if (text) made.textContent = text;
  return made;
}
