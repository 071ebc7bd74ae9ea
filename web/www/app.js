// The page: fetches the bundled MNIST files, trains a preset on the GPU through the wasm
// module (web/src/lib.rs), plots the curves, and classifies what the visitor draws.
//
// URL parameters (for tests and links): `?model=fast&seed=1&epochs=E&steps=N&autostart=1`
// trains E epochs (the network's default without `epochs`), stopping after at most N steps
// (the whole schedule without `steps`), as soon as the page has loaded.
// The page's state for a driver (WebDriver, a person with the console) is in
// `document.body.dataset`: `state` (`loading`, `ready`, `training`, `trained`, `error`,
// `no-webgpu`), `testError` (in [0, 1], once evaluated), `prediction` (the class drawn) and
// `verify` (`{checks, passed}` as JSON once the kernel checks have run). For tests,
// `window.shadernetCompare(steps)` trains a fresh copy of the session's network for `steps`
// steps on the GPU and on the CPU executor compiled into the module, and puts the agreement
// report (JSON) into `document.body.dataset.agreement`.

import init, { Session, verify } from "./pkg/shadernet_web.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let session = null;
let busy = false;
const curve = { loss: [], error: [], validation: [] }; // [step, value]

function setState(state) {
  document.body.dataset.state = state;
}

function status(text) {
  $("status").textContent = text;
}

function fail(e) {
  setState("error");
  status(`Error: ${e && e.message ? e.message : e}`);
  console.error(e);
  busy = false;
}

async function fetchBytes(path) {
  const response = await fetch(path);
  if (!response.ok) {
    throw new Error(`${path}: HTTP ${response.status}; expected the bundled MNIST file`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

const mnist = {};
async function loadMnist() {
  const names = [
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
  ];
  for (const name of names) {
    if (!mnist[name]) {
      status(`Fetching ${name}…`);
      mnist[name] = await fetchBytes(`data/${name}`);
    }
  }
  return names.map((n) => mnist[n]);
}

function percent(x) {
  return `${(100 * x).toFixed(2)}%`;
}

function drawCurves(total) {
  const c = $("curves");
  const g = c.getContext("2d");
  const w = c.width, h = c.height, pad = 34;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#999";
  g.strokeRect(pad, 8, w - pad - 8, h - pad - 8);
  g.fillStyle = "#444";
  g.font = "12px sans-serif";
  g.fillText("error (log scale, 0.5% to 100%) against training steps", pad + 6, 22);
  const x = (s) => pad + (w - pad - 8) * (s / Math.max(total, 1));
  const lo = Math.log(0.005), hi = Math.log(1);
  const y = (v) => 8 + (h - pad - 16) * (1 - (Math.log(Math.max(v, 0.005)) - lo) / (hi - lo));
  for (const tick of [0.01, 0.1]) {
    g.fillText(percent(tick).replace(".00", ""), 2, y(tick) + 4);
  }
  g.fillText("0", pad, h - pad + 14);
  g.fillText(`${total} training steps`, w - 130, h - pad + 14);
  const line = (points, colour, label, at) => {
    if (points.length === 0) return;
    g.strokeStyle = colour;
    g.beginPath();
    points.forEach(([s, v], i) => (i ? g.lineTo(x(s), y(v)) : g.moveTo(x(s), y(v))));
    g.stroke();
    g.fillStyle = colour;
    g.fillText(label, w - 150, at);
  };
  line(curve.error, "#3a7bd5", "training error", h - pad - 30);
  line(curve.validation, "#d5533a", "validation error", h - pad - 14);
}

async function train() {
  if (busy) return;
  busy = true;
  try {
    setState("training");
    curve.loss.length = curve.error.length = curve.validation.length = 0;
    $("curves").hidden = false;
    $("result").textContent = "";
    const model = $("model").value;
    const seed = Number($("seed").value) || 1;
    const files = await loadMnist();
    status(`Building ${model} on the GPU…`);
    if (session) session.free();
    session = null;
    const epochs = Number($("epochs").value) || 0;
    const created = await Session.create(model, ...files, seed, epochs);
    session = created;
    $("adapter").textContent = `GPU adapter: ${session.adapter()}`;
    const limit = params.has("steps") ? Number(params.get("steps")) : Infinity;
    const total = Math.min(session.steps_total(), limit);
    const perEpoch = session.steps_per_epoch();
    const started = performance.now();
    status(session.summary());
    // Steps per call: as many as take about half a second, so that the page stays responsive
    // and the progress moves on a fast GPU and on a software one alike.
    let size = 1;
    while (session.steps_done() < total) {
      const done = session.steps_done();
      const chunk = Math.min(size, perEpoch - (done % perEpoch), total - done);
      const before = performance.now();
      const p = JSON.parse(await session.train(chunk));
      const perStep = (performance.now() - before) / chunk;
      size = Math.max(1, Math.min(100, Math.round(500 / Math.max(perStep, 0.1))));
      curve.loss.push([p.steps_done, p.train_loss]);
      curve.error.push([p.steps_done, p.train_error]);
      if (p.steps_done % perEpoch === 0) {
        const v = await session.validation_error();
        curve.validation.push([p.steps_done, v]);
      }
      $("progress").value = p.steps_done / total;
      const seconds = (performance.now() - started) / 1000;
      status(`epoch ${p.epoch}/${p.epochs}, step ${p.steps_done}/${p.steps_total}: ` +
        `loss ${p.train_loss.toFixed(4)}, training error ${percent(p.train_error)}, ` +
        `lr ${p.lr.toPrecision(3)}, ${seconds.toFixed(1)} s`);
      drawCurves(total);
    }
    const trainSeconds = (performance.now() - started) / 1000;
    status(`Evaluating on the 10,000 test images…`);
    const testError = await session.test_error();
    const steps = session.steps_done();
    $("result").textContent = `test error ${percent(testError)} after ${steps} steps ` +
      `(${trainSeconds.toFixed(1)} s of training on ${session.adapter()})`;
    status("Trained: draw a digit below.");
    document.body.dataset.testError = String(testError);
    document.body.dataset.trainSeconds = String(trainSeconds);
    setState("trained");
  } catch (e) {
    fail(e);
    return;
  }
  busy = false;
}

async function loadCheckpoint(file) {
  if (busy || !file) return;
  busy = true;
  try {
    setState("training");
    const files = await loadMnist();
    status(`Loading ${file.name}…`);
    $("curves").hidden = true;
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (session) session.free();
    session = null;
    session = await Session.from_checkpoint(bytes, files[2], files[3]);
    $("adapter").textContent = `GPU adapter: ${session.adapter()}`;
    status(`Evaluating ${file.name} on the 10,000 test images…`);
    const testError = await session.test_error();
    $("result").textContent = `${file.name}: test error ${percent(testError)}`;
    document.body.dataset.testError = String(testError);
    status("Loaded: draw a digit below.");
    setState("trained");
  } catch (e) {
    fail(e);
    return;
  }
  busy = false;
}

// The drawing pad: white ink on black, as MNIST; predict after every stroke.
const pad = $("pad");
const ink = pad.getContext("2d", { willReadFrequently: true });
function clearPad() {
  ink.fillStyle = "#000";
  ink.fillRect(0, 0, pad.width, pad.height);
  $("bars").textContent = "";
  delete document.body.dataset.prediction;
}
clearPad();
let drawing = false;
function at(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}
pad.addEventListener("pointerdown", (e) => {
  drawing = true;
  ink.strokeStyle = "#fff";
  ink.lineWidth = 18;
  ink.lineCap = ink.lineJoin = "round";
  ink.beginPath();
  ink.moveTo(...at(e));
  pad.setPointerCapture(e.pointerId);
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  ink.lineTo(...at(e));
  ink.stroke();
});
pad.addEventListener("pointerup", () => {
  drawing = false;
  predict();
});
$("clear").addEventListener("click", clearPad);

async function predict() {
  if (!session || busy) {
    if (!session) $("prediction").textContent = "Train or load a network first.";
    return;
  }
  busy = true;
  try {
    const { data, width, height } = ink.getImageData(0, 0, pad.width, pad.height);
    const grey = new Float32Array(width * height);
    for (let i = 0; i < grey.length; i++) {
      grey[i] = (0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2]) / 255;
    }
    const probabilities = JSON.parse(await session.predict(grey, width, height));
    let best = 0;
    probabilities.forEach((p, c) => { if (p > probabilities[best]) best = c; });
    $("prediction").textContent = `It is a ${best} (probability ${probabilities[best].toFixed(3)})`;
    $("bars").innerHTML = probabilities.map((p, c) =>
      `<div class="bar">${c} <span class="fill" style="width:${(150 * p).toFixed(0)}px"></span> ${p.toFixed(3)}</div>`
    ).join("");
    document.body.dataset.prediction = String(best);
  } catch (e) {
    $("prediction").textContent = `${e && e.message ? e.message : e}`;
  }
  busy = false;
}

async function checkKernels() {
  if (busy) return;
  busy = true;
  const out = $("verify-result");
  try {
    out.textContent = "Running every kernel check against the CPU reference…";
    const started = performance.now();
    const rows = JSON.parse(await verify());
    const failed = rows.filter((r) => !r.pass);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    out.textContent = failed.length === 0
      ? `All ${rows.length} checks agree with the CPU reference (${seconds} s).`
      : `${failed.length} of ${rows.length} checks disagree:\n` + failed.map((r) => r.text).join("\n");
    document.body.dataset.verify = JSON.stringify({ checks: rows.length, passed: rows.length - failed.length });
  } catch (e) {
    out.textContent = `Error: ${e && e.message ? e.message : e}`;
    document.body.dataset.verify = JSON.stringify({ error: String(e && e.message ? e.message : e) });
  }
  busy = false;
}

window.shadernetCompare = async (steps) => {
  delete document.body.dataset.agreement;
  try {
    if (!session) throw new Error("train or load a network first");
    document.body.dataset.agreement = await session.compare_with_cpu(steps);
  } catch (e) {
    document.body.dataset.agreement = JSON.stringify({ error: String(e && e.message ? e.message : e) });
  }
};

async function main() {
  setState("loading");
  if (!navigator.gpu) {
    const note = $("no-webgpu");
    note.hidden = false;
    note.textContent = "This browser has no WebGPU (navigator.gpu is missing), which shadernet " +
      "needs to run its shaders. Use a recent Chrome, Edge or Safari, or Firefox with WebGPU " +
      "enabled; on Linux, Chromium may need --enable-unsafe-webgpu.";
    status("No WebGPU.");
    setState("no-webgpu");
    $("train").disabled = true;
    return;
  }
  await init();
  $("train").addEventListener("click", train);
  $("verify").addEventListener("click", checkKernels);
  $("checkpoint").addEventListener("change", (e) => loadCheckpoint(e.target.files[0]));
  // Each network's epochs: fast's own 2; seed9 runs 150 with early stopping in the CLI, which
  // the page does not do, so it offers 3 (about 1.3% test error in the CLI).
  const epochsFor = { fast: 2, seed9: 3 };
  $("model").addEventListener("change", () => { $("epochs").value = epochsFor[$("model").value]; });
  if (params.has("model")) $("model").value = params.get("model");
  $("epochs").value = params.get("epochs") || epochsFor[$("model").value] || 2;
  if (params.has("seed")) $("seed").value = params.get("seed");
  status("Ready: press Train.");
  setState("ready");
  if (params.get("autostart") === "1") train();
}

main().catch(fail);
