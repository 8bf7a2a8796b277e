// faceedit web page: plain JS, no build step. Talks only to the REST API of the same server.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  info: null,
  session: null,          // {id, source, seed, has_photo, ...}
  attributes: [],         // [{attribute, val_accuracy, ...}]
  amounts: {},            // attribute -> units
  keep: new Set(),
  layers: "all",
  before: false,          // show the unedited face
  photoView: false,       // paste into the uploaded photo
  style: "",              // a shipped painting style for the preview ("" none)
  seq: 0,                 // newest preview request; older answers are dropped
  controller: null,       // AbortController of the preview in flight
  blob: null,             // the image shown (for Download PNG)
  url: null,
};

// ---------------------------------------------------------------------------------------------- helpers
function showMessage(text, kind = "error") {
  const box = $("message");
  if (!text) { box.hidden = true; box.textContent = ""; return; }
  box.textContent = text;
  box.className = kind === "info" ? "info" : "";
  box.hidden = false;
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) { /* not JSON */ }
  return `request failed (HTTP ${response.status})`;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    const err = new Error(await errorText(response));
    err.status = response.status;
    throw err;
  }
  return response.status === 204 ? null : response;
}

const json = (body) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

function editedAmounts() {
  const out = {};
  for (const [k, v] of Object.entries(state.amounts)) if (v !== 0) out[k] = v;
  return out;
}

function hasEdit() { return Object.keys(editedAmounts()).length > 0; }

function saveBlob(blob, name) {
  const a = document.createElement("a");
  const url = URL.createObjectURL(blob);
  a.href = url; a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function baseName() {
  const s = state.session;
  if (!s) return "face";
  return s.source === "seed" ? `seed${s.seed}` : s.source;
}

// ---------------------------------------------------------------------------------------------- preview
async function refresh() {
  if (!state.session) return;
  const seq = ++state.seq;
  if (state.controller) state.controller.abort();       // the newest frame wins
  const controller = new AbortController();
  state.controller = controller;
  const body = state.before ? { amounts: {}, view: state.photoView ? "photo" : "aligned", seq }
    : { amounts: editedAmounts(), keep: [...state.keep], layers: state.layers,
        view: state.photoView ? "photo" : "aligned", seq, style: state.style || null };
  const t0 = performance.now();
  try {
    const response = await fetch(`/api/sessions/${state.session.id}/edit`, { ...json(body), signal: controller.signal });
    if (seq !== state.seq) return;                       // a newer request was made meanwhile
    if (response.status === 409) return;                 // the server dropped it as stale
    if (!response.ok) {
      const text = await errorText(response);
      if (response.status === 404) state.session = null;
      showMessage(text);
      return;
    }
    const blob = await response.blob();
    if (seq !== state.seq) return;
    setImage(blob);
    $("timing").textContent = `rendered in ${Math.round(performance.now() - t0)} ms`;
    showMessage("");
  } catch (err) {
    if (err.name === "AbortError") return;
    showMessage(`cannot reach the server: ${err.message}`);
  }
}

function setImage(blob) {
  const img = $("face");
  if (state.url) URL.revokeObjectURL(state.url);
  state.blob = blob;
  state.url = URL.createObjectURL(blob);
  img.src = state.url;
  img.dataset.seq = String(state.seq);
}

function setSession(session) {
  state.session = session;
  state.photoView = false;
  const photoBtn = $("photo-view");
  photoBtn.hidden = !session.has_photo;
  photoBtn.setAttribute("aria-pressed", "false");
  photoBtn.textContent = "Show in photo";
  let caption = session.source === "seed" ? `seed ${session.seed}, ψ ${session.truncation}`
    : session.source === "photo" ? "your photo (inverted)" : `mix: ${session.note || ""}`;
  if (session.note && session.source === "photo") caption += ` — ${session.note}`;
  $("caption").textContent = caption;
  refresh();
}

// ---------------------------------------------------------------------------------------------- faces
async function generate(seed) {
  const truncation = parseFloat($("truncation").value);
  try {
    const response = await api("/api/generate", json({ seed, truncation }));
    setSession(await response.json());
  } catch (err) { showMessage(err.message); }
}

function checkFile(file) {
  const limits = state.info.limits;
  if (!["image/jpeg", "image/png", "image/webp"].includes(file.type))
    return `unsupported file type${file.type ? ` (${file.type})` : ""}: choose a JPEG, PNG or WebP image`;
  if (file.size > limits.upload_bytes)
    return `file too large (${(file.size / 2 ** 20).toFixed(1)} MB): the limit is ${limits.upload_bytes / 2 ** 20} MB`;
  return null;
}

async function upload(file) {
  const problem = checkFile(file);
  if (problem) { showMessage(problem); return; }
  showMessage("");
  const progress = $("progress"), text = $("progress-text");
  progress.hidden = false; text.hidden = false;
  progress.value = 0; text.textContent = "uploading…";
  const form = new FormData();
  form.append("file", file);
  $("upload-box").disabled = true;
  try {
    const url = $("aligned").checked ? "/api/upload?aligned=true" : "/api/upload";
    let job = await (await api(url, { method: "POST", body: form })).json();
    while (job.state === "queued" || job.state === "running") {
      progress.value = job.progress;
      text.textContent = `${job.message} (${job.seconds.toFixed(0)} s)`;
      await new Promise((r) => setTimeout(r, 400));
      job = await (await api(`/api/jobs/${job.id}`)).json();
    }
    if (job.state === "error") throw new Error(job.error);
    progress.value = 1; text.textContent = `inverted in ${job.seconds.toFixed(1)} s`;
    const session = await (await api(`/api/sessions/${job.session}`)).json();
    setSession(session);
  } catch (err) {
    progress.hidden = true;
    text.textContent = "";
    showMessage(err.message);
  } finally {
    $("upload-box").disabled = !state.info.features.upload.available;
    $("file").value = "";
  }
}

// ---------------------------------------------------------------------------------------------- sliders
function buildSliders() {
  const box = $("sliders");
  box.textContent = "";
  for (const row of state.attributes) {
    const name = row.attribute;
    if (box.querySelector(`[data-attr="${name}"]`)) continue;   // one slider per attribute (several spaces)
    const div = document.createElement("div");
    div.className = "attr";
    div.dataset.attr = name;
    const label = document.createElement("label");
    label.className = "name";
    label.htmlFor = `slider-${name}`;
    label.textContent = name.replace(/_/g, " ");
    if (row.val_accuracy != null) {
      const acc = document.createElement("span");
      acc.className = "acc";
      acc.textContent = ` acc ${(100 * row.val_accuracy).toFixed(0)}%`;
      acc.title = `validation accuracy of the ${row.space} boundary`;
      label.appendChild(acc);
    }
    const out = document.createElement("output");
    out.textContent = "0.0";
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", min: "-5", max: "5", step: "0.1", value: "0", id: `slider-${name}` });
    slider.dataset.attr = name;
    slider.addEventListener("input", () => {
      state.amounts[name] = parseFloat(slider.value);
      out.textContent = state.amounts[name].toFixed(1);
      if (state.before) setBefore(false);
      refresh();
    });
    const keep = document.createElement("label");
    keep.className = "keep";
    const box2 = document.createElement("input");
    box2.type = "checkbox";
    box2.addEventListener("change", () => {
      if (box2.checked) state.keep.add(name); else state.keep.delete(name);
      if (hasEdit()) refresh();
    });
    keep.append(box2, " keep fixed");
    div.append(label, out, slider, keep);
    box.appendChild(div);
  }
}

function resetSliders() {
  state.amounts = {};
  for (const s of document.querySelectorAll("#sliders input[type=range]")) {
    s.value = "0";
    s.parentElement.querySelector("output").textContent = "0.0";
  }
  refresh();
}

function setBefore(on) {
  state.before = on;
  const b = $("before-after");
  b.setAttribute("aria-pressed", String(on));
  b.textContent = on ? "Showing: before" : "Showing: after";
}

// ---------------------------------------------------------------------------------------------- animations
async function downloadAnimation(format) {
  if (!state.session) return;
  if (!hasEdit()) { showMessage("move a slider first: the animation goes from the face to your edit", "info"); return; }
  showMessage(`rendering the ${format.toUpperCase()}…`, "info");
  try {
    const body = { amounts: editedAmounts(), keep: [...state.keep], layers: state.layers, frames: 24,
      format, view: state.photoView ? "photo" : "aligned" };
    const response = await api(`/api/sessions/${state.session.id}/animate`, json(body));
    saveBlob(await response.blob(), `${baseName()}-edit.${format}`);
    showMessage("");
  } catch (err) { showMessage(err.message); }
}

async function otherFace() {
  const seed = parseInt($("other-seed").value, 10);
  const truncation = parseFloat($("truncation").value);
  return (await api("/api/generate", json({ seed, truncation }))).json();
}

async function mixFaces() {
  if (!state.session) return;
  try {
    const other = await otherFace();
    const mixed = await (await api("/api/mix", json({ a: state.session.id, b: other.id,
      layers: $("mix-layers").value }))).json();
    resetSlidersQuiet();
    setSession(mixed);
  } catch (err) { showMessage(err.message); }
}

async function morphFaces() {
  if (!state.session) return;
  showMessage("rendering the morph…", "info");
  try {
    const other = await otherFace();
    const response = await api("/api/morph", json({ a: state.session.id, b: other.id, frames: 30, pingpong: true }));
    saveBlob(await response.blob(), `${baseName()}-morph.gif`);
    showMessage("");
  } catch (err) { showMessage(err.message); }
}

function resetSlidersQuiet() {
  state.amounts = {};
  for (const s of document.querySelectorAll("#sliders input[type=range]")) {
    s.value = "0";
    s.parentElement.querySelector("output").textContent = "0.0";
  }
}

// ---------------------------------------------------------------------------------------------- start
function disable(boxId, noteId, reason) {
  $(boxId).disabled = true;
  const note = $(noteId);
  note.textContent = reason;
  note.hidden = false;
}

async function init() {
  try {
    state.info = await (await api("/api/info")).json();
  } catch (err) { showMessage(`cannot load the model: ${err.message}`); return; }
  const { model, features, limits } = state.info;
  $("model-info").textContent = `${model.name}: ${model.resolution} px, ${model.num_ws} w+ layers`;
  $("upload-limit").textContent = String(limits.upload_bytes / 2 ** 20);
  if (!features.upload.available) disable("upload-box", "upload-note", features.upload.reason);
  if (!features.mp4.available) { $("download-mp4").disabled = true; $("download-mp4").title = features.mp4.reason; }
  if (!features.edit.available) {
    disable("edit-box", "edit-note", features.edit.reason);
    $("download-gif").disabled = true; $("download-mp4").disabled = true;
    $("download-gif").title = features.edit.reason;
  } else {
    state.attributes = (await (await api("/api/attributes")).json()).attributes;
    buildSliders();
  }

  $("truncation").addEventListener("input", () => {
    $("truncation-value").textContent = parseFloat($("truncation").value).toFixed(2);
  });
  $("seed-form").addEventListener("submit", (e) => { e.preventDefault(); generate(parseInt($("seed").value, 10)); });
  $("random").addEventListener("click", () => {
    const seed = Math.floor(Math.random() * 100000);
    $("seed").value = String(seed);
    generate(seed);
  });
  $("file").addEventListener("change", () => { if ($("file").files.length) upload($("file").files[0]); });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    if (!$("upload-box").disabled && e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
  });
  $("before-after").addEventListener("click", () => { setBefore(!state.before); refresh(); });
  $("photo-view").addEventListener("click", () => {
    state.photoView = !state.photoView;
    $("photo-view").setAttribute("aria-pressed", String(state.photoView));
    $("photo-view").textContent = state.photoView ? "Show aligned face" : "Show in photo";
    refresh();
  });
  $("smooth").addEventListener("click", () => {
    const on = $("face").classList.toggle("pixels");
    $("smooth").setAttribute("aria-pressed", String(on));
  });
  for (const s of state.info.styles || []) {
    const option = document.createElement("option");
    option.value = s.name;
    option.textContent = s.title ? `${s.title}, ${s.artist}` : s.name;
    $("style").appendChild(option);
  }
  $("style-box").hidden = !(state.info.styles || []).length;
  $("style").addEventListener("change", () => { state.style = $("style").value; if (!state.before) refresh(); });
  $("layers").addEventListener("change", () => { state.layers = $("layers").value; if (hasEdit()) refresh(); });
  $("reset").addEventListener("click", resetSliders);
  $("download-png").addEventListener("click", () => {
    if (state.blob) saveBlob(state.blob, `${baseName()}${hasEdit() && !state.before ? "-edited" : ""}.png`);
  });
  $("download-gif").addEventListener("click", () => downloadAnimation("gif"));
  $("download-mp4").addEventListener("click", () => downloadAnimation("mp4"));
  $("mix").addEventListener("click", mixFaces);
  $("morph").addEventListener("click", morphFaces);

  await generate(parseInt($("seed").value, 10));
  document.body.dataset.ready = "1";
}

init();
