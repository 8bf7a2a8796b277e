// faceedit web page: plain JS, no build step. Talks only to the REST API of the same server.
"use strict";

const $ = (id) => document.getElementById(id);
const VIEW_CYCLE = ["after", "side", "split"];   // the V shortcut (B toggles original / edited)
const state = {
  info: null,
  session: null,          // {id, source, seed, has_photo, ...}
  attributes: [],         // [{attribute, label, group, reliability, ...}]
  groups: [],             // [{id, title}]
  amounts: {},            // attribute -> units
  keep: new Set(),
  layers: "all",
  mode: "after",          // after | before | side | split
  photoView: false,       // paste into the uploaded photo
  style: "",              // a shipped painting style for the preview ("" none)
  seq: 0,                 // newest preview request; older answers are dropped
  controller: null,       // AbortController of the preview in flight
  beforeController: null, // ... and of the unedited image (side by side, split)
  blob: null,             // the edited image shown (for Download PNG)
  beforeBlob: null,       // the unedited image
  url: null,
  beforeUrl: null,
  morphBlob: null,
  exampleSeeds: null,     // seeds of the example faces (the mixing gallery)
  exampleButtons: new Map(), // seed -> its thumbnail button
  examplesByPose: null,   // the example seeds ordered by yaw (GET /api/examples?order=pose), once loaded
  poseTimer: null,        // the head-pose measurement waiting for the rendering to settle
  poseController: null,   // ... and the one in flight
};
const POSE_DELAY_MS = 350;  // measure the head pose once no new rendering was asked for this long

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

const viewName = () => (state.photoView ? "photo" : "aligned");

// ---------------------------------------------------------------------------------------------- preview
// #face shows the edit; #face-before the unedited face (instead of it, beside it or under the split).
// Each slider move aborts the request before it: the newest answer wins.
async function refresh() {
  if (!state.session) return;
  const seq = ++state.seq;
  cancelPose();
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const body = { amounts: editedAmounts(), keep: [...state.keep], layers: state.layers, view: viewName(), seq,
    style: state.style || null };
  const t0 = performance.now();
  try {
    const response = await fetch(`/api/sessions/${state.session.id}/edit`, { ...json(body), signal: controller.signal });
    if (seq !== state.seq) return;                       // a newer request was made meanwhile
    if (response.status === 409) return;                 // the server dropped it as stale
    if (!response.ok) {
      const text = await errorText(response);
      if (response.status === 404) state.session = null;
      $("pose").hidden = true;
      showMessage(text);
      return;
    }
    const blob = await response.blob();
    if (seq !== state.seq) return;
    setImage(blob, seq);
    schedulePose(seq);
    $("timing").textContent = `rendered in ${Math.round(performance.now() - t0)} ms`;
    showMessage("");
  } catch (err) {
    if (err.name === "AbortError") return;
    showMessage(`cannot reach the server: ${err.message}`);
  }
}

function setImage(blob, seq) {
  const img = $("face");
  if (state.url) URL.revokeObjectURL(state.url);
  state.blob = blob;
  state.url = URL.createObjectURL(blob);
  img.src = state.url;
  img.dataset.seq = String(seq);
}

// ---------------------------------------------------------------------------------------------- head pose
// Measured on the server from the rendering (dlib landmarks -> canonical 3D face), after the rendering settles:
// a slider drag cancels it, so it never competes with the frames.
const signed = (v) => (v > 0 ? "+" : v < 0 ? "\u2212" : "") + Math.abs(v);
const plain = (v) => (v < 0 ? "\u2212" : "") + Math.abs(v);

function poseText(p) {
  return `yaw ${signed(Math.round(p.yaw))}°, pitch ${signed(Math.round(p.pitch))}°, roll ${plain(Math.round(p.roll))}°`;
}

function cancelPose() {
  clearTimeout(state.poseTimer);
  if (state.poseController) state.poseController.abort();
  state.poseController = null;
}

function schedulePose(seq) {
  cancelPose();
  state.poseTimer = setTimeout(() => measurePose(seq), POSE_DELAY_MS);
}

async function measurePose(seq) {
  if (!state.session || seq !== state.seq) return;
  const line = $("pose");
  const params = new URLSearchParams({
    edit: Object.entries(editedAmounts()).map(([k, v]) => `${k}:${v}`).join(","),
    keep: [...state.keep].join(","), layers: state.layers });
  const controller = new AbortController();
  state.poseController = controller;
  try {
    const response = await fetch(`/api/sessions/${state.session.id}/pose?${params}`, { signal: controller.signal });
    if (seq !== state.seq) return;
    if (!response.ok) {                       // 422: no face found in the rendering (or a busy server): no line
      line.hidden = true;
      line.dataset.seq = String(seq);
      return;
    }
    const pose = await response.json();
    if (seq !== state.seq) return;
    line.textContent = `head pose: ${poseText(pose)}`;
    line.dataset.seq = String(seq);
    line.hidden = false;
  } catch (err) {
    if (err.name !== "AbortError") line.hidden = true;
  }
}

// The unedited face for side by side and split (the server caches it: one render per face and view).
async function refreshBefore() {
  if (!state.session || state.mode === "after") return;
  if (state.beforeController) state.beforeController.abort();
  const controller = new AbortController();
  state.beforeController = controller;
  const sid = state.session.id, view = viewName();
  try {
    const response = await fetch(`/api/sessions/${sid}/edit`, { ...json({ amounts: {}, view }), signal: controller.signal });
    if (!response.ok) { showMessage(await errorText(response)); return; }
    const blob = await response.blob();
    if (!state.session || state.session.id !== sid || viewName() !== view) return;
    const img = $("face-before");
    state.beforeBlob = blob;
    if (state.beforeUrl) URL.revokeObjectURL(state.beforeUrl);
    state.beforeUrl = URL.createObjectURL(blob);
    img.src = state.beforeUrl;
    img.dataset.session = sid;
    img.dataset.view = view;
  } catch (err) {
    if (err.name !== "AbortError") showMessage(`cannot reach the server: ${err.message}`);
  }
}

function beforeIsCurrent() {
  const img = $("face-before");
  return state.session && img.dataset.session === state.session.id && img.dataset.view === viewName();
}

function setMode(mode) {
  state.mode = mode;
  $("frame").dataset.mode = mode;
  for (const b of document.querySelectorAll(".modes button")) b.setAttribute("aria-checked", String(b.dataset.mode === mode));
  $("split").hidden = mode !== "split";
  $("divider").hidden = mode !== "split";
  if (mode !== "after" && !beforeIsCurrent()) refreshBefore();
}

function setSplit(percent) {
  const p = Math.max(0, Math.min(100, percent));
  $("frame").style.setProperty("--split", `${p}%`);
  $("split").value = String(Math.round(p));
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
  $("pose").hidden = true;                             // measured again once the new face is shown
  if (!$("keep-edits").checked) clearSliders();        // a new face starts unedited unless asked otherwise
  refresh();
  refreshBefore();
  updateGallery();
}

// ---------------------------------------------------------------------------------------------- faces
async function generate(seed) {
  const truncation = parseFloat($("truncation").value);
  $("seed").value = String(seed);
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

async function upload(file, aligned = $("aligned").checked) {
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
    const url = aligned ? "/api/upload?aligned=true" : "/api/upload";
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

async function uploadExample(url, name) {
  try {
    const blob = await (await api(url)).blob();
    await upload(new File([blob], name, { type: blob.type || "image/jpeg" }), false);
  } catch (err) { showMessage(err.message); }
}

function thumbButton(src, alt, title, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.title = title;
  const img = document.createElement("img");
  Object.assign(img, { src, alt, loading: "lazy" });
  b.appendChild(img);
  b.addEventListener("click", onClick);
  return b;
}

async function buildExamples() {
  let ex;
  try { ex = await (await api("/api/examples")).json(); } catch (_) { return; }
  state.exampleSeeds = ex.seeds.map((s) => s.seed);
  for (const { seed, thumbnail } of ex.seeds) {
    const button = thumbButton(thumbnail, `seed ${seed}`, `example face: seed ${seed}`, () => generate(seed));
    button.dataset.seed = String(seed);
    state.exampleButtons.set(seed, button);
    $("example-seeds").appendChild(button);
  }
  updateGallery();
  loadExamplePoses();
  for (const { name, url } of ex.photos) {
    $("example-photos").appendChild(thumbButton(url, `example photo ${name}`,
      "example photo (a generated face in a synthetic scene): found, aligned and inverted like an upload",
      () => { if (!$("upload-box").disabled) uploadExample(url, `${name}.jpg`); }));
  }
}

// Each example's head pose (in its title) and the order by yaw, measured once per model by the server.
async function loadExamplePoses() {
  if (state.examplesByPose) return state.examplesByPose;
  let ex;
  try { ex = await (await api("/api/examples?order=pose")).json(); } catch (_) { return null; }
  for (const { seed, pose } of ex.seeds) {
    const button = state.exampleButtons.get(seed);
    if (button) button.title = `example face: seed ${seed} — ${pose ? `head pose: ${poseText(pose)}` : "no face found for a head pose"}`;
  }
  state.examplesByPose = ex.seeds.map((s) => s.seed);
  return state.examplesByPose;
}

async function orderExamples(order) {
  for (const b of document.querySelectorAll("#example-order button")) b.setAttribute("aria-checked", String(b.dataset.order === order));
  const seeds = order === "pose" ? await loadExamplePoses() : state.exampleSeeds;
  const current = document.querySelector("#example-order button[aria-checked=true]");
  if (!seeds || !current || current.dataset.order !== order) return;   // failed, or another choice meanwhile
  for (const seed of seeds) if (state.exampleButtons.has(seed)) $("example-seeds").appendChild(state.exampleButtons.get(seed));
  $("example-seeds").dataset.order = order;
}

// ---------------------------------------------------------------------------------------------- sliders
function slider(row) {
  const name = row.attribute;
  const div = document.createElement("div");
  div.className = "attr";
  div.dataset.attr = name;
  const label = document.createElement("label");
  label.className = "name";
  label.htmlFor = `slider-${name}`;
  label.textContent = row.label || name;
  if (row.reliability) {
    const fit = document.createElement("span");
    fit.className = `fit ${row.reliability}`;
    fit.textContent = row.reliability;
    fit.title = row.reliability_note || "";
    label.appendChild(fit);
  }
  const out = document.createElement("output");
  out.textContent = "0";
  const range = document.createElement("input");
  Object.assign(range, { type: "range", min: "-5", max: "5", step: "0.1", value: "0", id: `slider-${name}` });
  range.dataset.attr = name;
  range.setAttribute("aria-valuetext", "0");
  const set = (v) => {
    state.amounts[name] = v;
    range.value = String(v);
    showAmount(range, v);
    if (state.mode === "before") setMode("after");
    refresh();
  };
  range.addEventListener("input", () => set(parseFloat(range.value)));
  range.addEventListener("dblclick", () => set(0));
  const keep = document.createElement("label");
  keep.className = "keep";
  keep.title = "hold this attribute fixed while the others move";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.addEventListener("change", () => {
    if (box.checked) state.keep.add(name); else state.keep.delete(name);
    if (hasEdit()) refresh();
  });
  keep.append(box, " hold");
  div.append(label, out, keep, range);
  return div;
}

function showAmount(range, v) {
  const out = range.parentElement.querySelector("output");
  out.textContent = v === 0 ? "0" : (v > 0 ? "+" : "") + v.toFixed(1);
  out.classList.toggle("moved", v !== 0);
  range.setAttribute("aria-valuetext", out.textContent);
}

function buildSliders() {
  const box = $("sliders");
  box.textContent = "";
  const seen = new Set();
  const byGroup = new Map(state.groups.map((g) => [g.id, []]));
  for (const row of state.attributes) {
    if (seen.has(row.attribute)) continue;              // one slider per attribute (several spaces)
    seen.add(row.attribute);
    if (!byGroup.has(row.group)) byGroup.set(row.group, []);
    byGroup.get(row.group).push(row);
  }
  let first = true;
  for (const [id, rows] of byGroup) {
    if (!rows.length) continue;
    const group = state.groups.find((g) => g.id === id);
    const details = document.createElement("details");
    details.className = "group";
    details.dataset.group = id;
    details.open = first || id === "age_gender";         // the rest open with a click (the page stays short)
    first = false;
    const summary = document.createElement("summary");
    summary.textContent = group ? group.title : id;
    const count = document.createElement("span");
    count.className = "count";
    summary.append(" ", count);
    const body = document.createElement("div");
    body.className = "group-body";
    for (const row of rows) body.appendChild(slider(row));
    details.append(summary, body);
    box.appendChild(details);
  }
  updateCounts();
}

function updateCounts() {
  for (const details of document.querySelectorAll("details.group")) {
    const moved = [...details.querySelectorAll("input[type=range]")].filter((r) => parseFloat(r.value) !== 0).length;
    details.querySelector(".count").textContent = moved ? `(${moved} changed)` : "";
  }
}

function clearSliders() {
  state.amounts = {};
  for (const s of document.querySelectorAll("#sliders input[type=range]")) {
    s.value = "0";
    showAmount(s, 0);
  }
  updateCounts();
}

function resetSliders() {
  clearSliders();
  refresh();
}

// ---------------------------------------------------------------------------------------------- tabs, styles
function selectTab(id) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const on = tab.id === id;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !on;
  }
  updateGallery();
}

function buildStyles() {
  const styles = state.info.styles || [];
  $("style-note").hidden = styles.length > 0;
  const choices = [{ name: "", text: "No style (the face as drawn)" },
    ...styles.map((s) => ({ name: s.name, text: s.title ? `${s.title} — ${s.artist}` : s.name }))];
  for (const c of choices) {
    const b = document.createElement("button");
    b.type = "button";
    b.setAttribute("role", "radio");
    b.dataset.style = c.name;
    b.textContent = c.text;
    b.setAttribute("aria-checked", String(c.name === state.style));
    b.addEventListener("click", () => {
      state.style = c.name;
      for (const o of $("styles").children) o.setAttribute("aria-checked", String(o.dataset.style === c.name));
      refresh();
    });
    $("styles").appendChild(b);
  }
}

// ---------------------------------------------------------------------------------------------- animations
async function downloadAnimation(format) {
  if (!state.session) return;
  if (!hasEdit()) { showMessage("move a slider first: the animation goes from the face to your edit", "info"); return; }
  showMessage(`rendering the ${format.toUpperCase()}…`, "info");
  try {
    const body = { amounts: editedAmounts(), keep: [...state.keep], layers: state.layers, frames: 24,
      format, view: viewName() };
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
    setSession(mixed);
  } catch (err) { showMessage(err.message); }
}

async function morphFaces() {
  if (!state.session) return;
  showMessage("rendering the morph…", "info");
  try {
    const other = await otherFace();
    const response = await api("/api/morph", json({ a: state.session.id, b: other.id, frames: 30, pingpong: true }));
    state.morphBlob = await response.blob();
    const img = $("morph-image");
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(state.morphBlob);
    $("morph-figure").hidden = false;
    showMessage("");
  } catch (err) { showMessage(err.message); }
}

// The Mix & morph tab's gallery: the face mixed with each example seed (rendered only while the tab is shown).
function updateGallery() {
  const box = $("mix-gallery");
  if (!state.session || $("panel-mix").hidden || !state.exampleSeeds) return;
  const layers = $("mix-layers").value, psi = parseFloat($("truncation").value);
  const key = `${state.session.id}/${layers}/${psi}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.textContent = "";
  for (const seed of state.exampleSeeds) {
    const url = `/api/sessions/${state.session.id}/mix/${seed}.png?layers=${encodeURIComponent(layers)}&truncation=${psi}`;
    box.appendChild(thumbButton(url, `mixed with seed ${seed}`, `keep this mix (${layers} layers of seed ${seed})`, () => {
      $("other-seed").value = String(seed);
      mixFaces();
    }));
  }
}

// ---------------------------------------------------------------------------------------------- keyboard
function typing(target) {
  if (!target || !target.tagName) return false;
  const tag = target.tagName;
  return tag === "SELECT" || tag === "TEXTAREA" || (tag === "INPUT" && !["range", "checkbox", "radio", "button"].includes(target.type));
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target) || $("help").open) return;
  const key = e.key;
  const seed = parseInt($("seed").value, 10) || 0;
  const actions = {
    b: () => setMode(state.mode === "before" ? "after" : "before"),
    v: () => setMode(VIEW_CYCLE[(VIEW_CYCLE.indexOf(state.mode) + 1) % VIEW_CYCLE.length]),
    r: () => resetSliders(),
    n: () => $("random").click(),
    "[": () => generate(Math.max(0, seed - 1)),
    "]": () => generate(seed + 1),
    d: () => $("download-png").click(),
    1: () => selectTab("tab-edit"),
    2: () => selectTab("tab-mix"),
    3: () => selectTab("tab-style"),
    "?": () => $("help").showModal(),
  };
  const action = actions[key.length === 1 ? key.toLowerCase() : key];
  if (action) { e.preventDefault(); action(); }
}

// ---------------------------------------------------------------------------------------------- start
function disable(boxId, noteId, reason) {
  $(boxId).disabled = true;
  const note = $(noteId);
  note.textContent = reason;
  note.hidden = false;
}

function wireSplit() {
  const frame = $("frame");
  const fromPointer = (e) => {
    const r = frame.getBoundingClientRect();
    setSplit((100 * (e.clientX - r.left)) / r.width);
  };
  let dragging = false;
  frame.addEventListener("pointerdown", (e) => {
    if (state.mode !== "split") return;
    dragging = true; frame.setPointerCapture(e.pointerId); fromPointer(e);
  });
  frame.addEventListener("pointermove", (e) => { if (dragging) fromPointer(e); });
  frame.addEventListener("pointerup", () => { dragging = false; });
  frame.addEventListener("pointercancel", () => { dragging = false; });
  $("split").addEventListener("input", () => setSplit(parseFloat($("split").value)));
  setSplit(50);
}

async function init() {
  try {
    state.info = await (await api("/api/info")).json();
  } catch (err) { showMessage(`cannot load the model: ${err.message}`); return; }
  const { model, features, limits } = state.info;
  $("model-info").textContent = `${model.name} model, ${model.resolution} px`;
  $("model-info").title = `${model.num_ws} w+ layers of ${model.w_dim}`;
  $("upload-limit").textContent = String(limits.upload_bytes / 2 ** 20);
  if (!features.upload.available) disable("upload-box", "upload-note", features.upload.reason);
  if (!features.mp4.available) { $("download-mp4").disabled = true; $("download-mp4").title = features.mp4.reason; }
  if (!features.edit.available) {
    disable("edit-box", "edit-note", features.edit.reason);
    $("download-gif").disabled = true; $("download-mp4").disabled = true;
    $("download-gif").title = features.edit.reason;
  } else {
    const attrs = await (await api("/api/attributes")).json();
    state.attributes = attrs.attributes;
    state.groups = attrs.groups || [];
    buildSliders();
  }
  buildStyles();
  buildExamples();
  wireSplit();

  $("truncation").addEventListener("input", () => {
    $("truncation-value").textContent = parseFloat($("truncation").value).toFixed(2);
  });
  $("seed-form").addEventListener("submit", (e) => { e.preventDefault(); generate(parseInt($("seed").value, 10)); });
  $("random").addEventListener("click", () => generate(Math.floor(Math.random() * 100000)));
  $("file").addEventListener("change", () => { if ($("file").files.length) upload($("file").files[0]); });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    if (!$("upload-box").disabled && e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
  });
  for (const b of document.querySelectorAll(".modes button")) b.addEventListener("click", () => setMode(b.dataset.mode));
  $("photo-view").addEventListener("click", () => {
    state.photoView = !state.photoView;
    $("photo-view").setAttribute("aria-pressed", String(state.photoView));
    $("photo-view").textContent = state.photoView ? "Show aligned face" : "Show in photo";
    refresh();
    refreshBefore();
  });
  $("smooth").addEventListener("click", () => {
    const on = $("frame").classList.toggle("pixels");
    $("smooth").setAttribute("aria-pressed", String(on));
  });
  for (const tab of document.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => selectTab(tab.id));
  for (const b of document.querySelectorAll("#example-order button")) b.addEventListener("click", () => orderExamples(b.dataset.order));
  $("layers").addEventListener("change", () => { state.layers = $("layers").value; if (hasEdit()) refresh(); });
  $("reset").addEventListener("click", resetSliders);
  $("sliders").addEventListener("input", updateCounts);
  $("download-png").addEventListener("click", () => {
    if (state.mode === "before" && state.beforeBlob) saveBlob(state.beforeBlob, `${baseName()}.png`);
    else if (state.blob) saveBlob(state.blob, `${baseName()}${hasEdit() ? "-edited" : ""}.png`);
  });
  $("download-gif").addEventListener("click", () => downloadAnimation("gif"));
  $("download-mp4").addEventListener("click", () => downloadAnimation("mp4"));
  $("mix").addEventListener("click", mixFaces);
  $("mix-layers").addEventListener("change", updateGallery);
  $("morph").addEventListener("click", morphFaces);
  $("download-morph").addEventListener("click", () => { if (state.morphBlob) saveBlob(state.morphBlob, `${baseName()}-morph.gif`); });
  $("help-button").addEventListener("click", () => $("help").showModal());
  document.addEventListener("keydown", onKey);

  await generate(parseInt($("seed").value, 10));
  document.body.dataset.ready = "1";
}

init();
