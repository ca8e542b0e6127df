// The page: drawing, image files, and every model's answer (window.tinyq is tinyq.js).
"use strict";
(() => {
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d", { willReadFrequently: true });
  const seen = document.getElementById("seen");
  const seenCtx = seen.getContext("2d");
  const statusEl = document.getElementById("status");
  const agreeEl = document.getElementById("agree");
  const tbody = document.querySelector("#models tbody");
  const undoBtn = document.getElementById("undo");
  const clearBtn = document.getElementById("clear");
  const fileInput = document.getElementById("file");

  // MNIST's pen: the strokes of MNIST's test-set ones are 3.0 pixels wide (median, from
  // their ink mass over their length) in the 20-pixel box that imageprep scales a digit's
  // bounding box to. A stroke of width w on a path whose bounding box's longer side is B
  // makes an ink box of about B + w, scaled to 20: w·20/(B+w) = 3 gives w = 3·B/17.
  const penRatio = 3 / 17;
  const minPen = 6; // a dot or a short dash is still visible (pixels of the 280 canvas)
  // Updates wait until drawing pauses this long (ms), so that fast strokes stay smooth.
  const debounceMs = 120;
  // The time per inference: the fastest of timingRounds rounds, each the mean of runs
  // repeated for at least timingMs (performance.now() is coarsened, to 0.1 ms in Chromium,
  // and one run is shorter); the fastest round leaves out garbage collections and other
  // work of the machine, as benchmark tools do (Python's timeit).
  const timingMs = 2;
  const timingRounds = 3;

  let strokes = [];    // each stroke: [[x, y], ...] in canvas pixels
  let current = null;  // the stroke being drawn
  let picture = null;  // an ImageBitmap shown when an image file was opened
  let filePixels = null; // the prepared 784 values of that file
  let models = [];
  let rows = new Map();
  let timer = 0;
  let updates = 0;     // finished updates, for tests: document.body.dataset.updates

  function penWidth() {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const s of strokes) {
      for (const [x, y] of s) {
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      }
    }
    return Math.max(minPen, penRatio * Math.max(x1 - x0, y1 - y0, 0));
  }

  function render() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    if (picture !== null) {
      const k = Math.min(pad.width / picture.width, pad.height / picture.height);
      const w = picture.width * k, h = picture.height * k;
      ctx.drawImage(picture, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
      return;
    }
    ctx.strokeStyle = ctx.fillStyle = "#111";
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.lineWidth = penWidth();
    for (const s of strokes) {
      if (s.length === 1) {
        ctx.beginPath();
        ctx.arc(s[0][0], s[0][1], ctx.lineWidth / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(s[0][0], s[0][1]);
      for (const [x, y] of s.slice(1)) ctx.lineTo(x, y);
      ctx.stroke();
    }
  }

  function point(e) {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
  }

  // schedule (re)starts the wait before the next update; document.body.dataset.pending
  // says that one is due (tests wait for it to clear).
  function schedule(ms = debounceMs) {
    clearTimeout(timer);
    document.body.dataset.pending = "true";
    timer = setTimeout(update, ms);
  }

  function changed() {
    undoBtn.disabled = strokes.length === 0 && picture === null;
    clearBtn.disabled = undoBtn.disabled;
    requestAnimationFrame(render);
    schedule();
  }

  pad.addEventListener("pointerdown", (e) => {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    if (picture !== null) {
      picture = null;
      filePixels = null;
    }
    current = [point(e)];
    strokes.push(current);
    changed();
  });
  pad.addEventListener("pointermove", (e) => {
    if (current === null) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) current.push(point(ev));
    changed();
  });
  for (const type of ["pointerup", "pointercancel"]) {
    pad.addEventListener(type, () => {
      if (current === null) return;
      current = null;
      changed();
    });
  }

  function undo() {
    if (picture !== null) {
      picture = null;
      filePixels = null;
    } else {
      strokes.pop();
    }
    current = null;
    changed();
  }
  function clear() {
    strokes = [];
    current = null;
    picture = null;
    filePixels = null;
    changed();
  }
  undoBtn.addEventListener("click", undo);
  clearBtn.addEventListener("click", clear);
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "z") {
      e.preventDefault();
      undo();
    } else if (e.key === "Escape") {
      clear();
    }
  });

  // An image file: prepared by Go from its bytes (as cmd/classify reads a file, EXIF
  // orientation applied); a format Go does not decode (WebP, say) is decoded by the
  // browser, which applies the orientation too, and prepared from its pixels.
  async function openFile(file) {
    if (!file) return;
    try {
      await tinyq.ready;
      const bytes = new Uint8Array(await file.arrayBuffer());
      let px = null;
      try {
        px = tinyq.prepareFile(bytes);
      } catch (err) {
        if (!err.unknownFormat) throw err;
      }
      let bitmap;
      try {
        bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
      } catch {
        throw new Error("not an image that tinyq (PNG, JPEG, GIF) or this browser can read");
      }
      if (px === null) {
        const c = new OffscreenCanvas(bitmap.width, bitmap.height);
        const cc = c.getContext("2d");
        cc.drawImage(bitmap, 0, 0);
        px = tinyq.prepare(cc.getImageData(0, 0, bitmap.width, bitmap.height));
      }
      strokes = [];
      current = null;
      picture = bitmap;
      filePixels = px;
      changed();
      schedule(0);
    } catch (err) {
      showStatus(`${file.name}: ${err.message}`);
    }
  }
  fileInput.addEventListener("change", () => {
    openFile(fileInput.files[0]);
    fileInput.value = "";
  });
  pad.addEventListener("dragover", (e) => { e.preventDefault(); pad.classList.add("dragover"); });
  pad.addEventListener("dragleave", () => pad.classList.remove("dragover"));
  pad.addEventListener("drop", (e) => {
    e.preventDefault();
    pad.classList.remove("dragover");
    openFile(e.dataTransfer.files[0]);
  });

  // showStatus sets the status line (a live region: it is read out only when it changes).
  function showStatus(text) {
    if (statusEl.textContent !== text) statusEl.textContent = text;
  }
  const loadedText = () => `${models.length} models loaded, smallest first.`;

  function showSeen(px) {
    const img = seenCtx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const v = px === null ? 0 : px[i];
      img.data.set([v, v, v, 255], 4 * i);
    }
    seenCtx.putImageData(img, 0, 0);
  }

  function kib(n) {
    return n >= 1024 * 1024 ? `${(n / 1048576).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
  }

  function buildTable() {
    tbody.replaceChildren();
    rows = new Map();
    for (const m of models) {
      const tr = document.createElement("tr");
      tr.dataset.model = m.name;
      tr.innerHTML = `<td class="name"></td><td class="num weights"></td><td class="answer">–</td><td><div class="bars" role="img"></div></td><td class="num time">–</td>`;
      tr.querySelector(".name").append(m.name, Object.assign(document.createElement("small"), { textContent: m.kind }));
      tr.querySelector(".weights").textContent = kib(m.weightBytes);
      const bars = tr.querySelector(".bars");
      const fills = [];
      for (let d = 0; d < 10; d++) {
        const bar = document.createElement("div");
        bar.className = "bar";
        bar.innerHTML = `<div class="track"><div class="fill"></div></div><span class="digit">${d}</span>`;
        bars.append(bar);
        fills.push(bar);
      }
      bars.setAttribute("aria-label", "no answer yet");
      tbody.append(tr);
      rows.set(m.name, { tr, bars, fills, answer: tr.querySelector(".answer"), time: tr.querySelector(".time") });
    }
  }

  function showAnswer(row, r, micros) {
    row.tr.dataset.class = r === null ? "" : String(r.class);
    if (r === null) {
      row.answer.textContent = "–";
      row.time.textContent = "–";
      row.bars.setAttribute("aria-label", "no answer");
    } else {
      row.answer.replaceChildren(String(r.class), Object.assign(document.createElement("small"), { textContent: `${(100 * r.confidence).toFixed(1)}%` }));
      row.time.textContent = micros < 1000 ? `${micros.toFixed(0)} µs` : `${(micros / 1000).toFixed(2)} ms`;
      const top = [...r.probabilities.keys()].sort((a, b) => r.probabilities[b] - r.probabilities[a]).slice(0, 3);
      row.bars.setAttribute("aria-label", top.map((d) => `${d}: ${(100 * r.probabilities[d]).toFixed(1)}%`).join(", "));
    }
    row.fills.forEach((bar, d) => {
      const p = r === null ? 0 : r.probabilities[d];
      bar.querySelector(".fill").style.height = `${(100 * p).toFixed(1)}%`;
      bar.classList.toggle("top", r !== null && d === r.class);
    });
  }

  // classifyTimed runs the model and measures its time per inference in µs.
  function classifyTimed(name, px) {
    const r = tinyq.classify(name, px);
    let best = Infinity;
    for (let round = 0; round < timingRounds; round++) {
      const t0 = performance.now();
      let n = 0, t = t0;
      while (t - t0 < timingMs) {
        tinyq.classify(name, px);
        n++;
        t = performance.now();
      }
      best = Math.min(best, 1000 * (t - t0) / n);
    }
    return [r, best];
  }

  function update() {
    if (models.length === 0) return; // tinyq.ready's handler updates once the models are in
    showStatus(loadedText()); // an earlier error (a file that could not be read) is over
    let px = filePixels;
    try {
      if (px === null && strokes.length > 0) {
        px = tinyq.prepare(ctx.getImageData(0, 0, pad.width, pad.height));
      }
    } catch (err) {
      if (!err.noDigit) showStatus(err.message);
      px = null;
    }
    showSeen(px);
    if (px === null) {
      for (const row of rows.values()) showAnswer(row, null, 0);
      agreeEl.textContent = "Draw a digit to see every model's answer.";
      agreeEl.classList.remove("disagree");
    } else {
      const answers = new Map();
      for (const m of models) {
        try {
          const [r, micros] = classifyTimed(m.name, px);
          showAnswer(rows.get(m.name), r, micros);
          answers.set(m.name, r.class);
        } catch (err) {
          showAnswer(rows.get(m.name), null, 0);
          showStatus(err.message);
        }
      }
      agreement(answers);
    }
    updates++;
    document.body.dataset.updates = String(updates);
    document.body.dataset.pending = "false";
  }

  // agreement says whether the models agree, and if not which ones answer differently
  // from the most common answer.
  function agreement(answers) {
    const count = new Map();
    for (const c of answers.values()) count.set(c, (count.get(c) || 0) + 1);
    let major = -1;
    for (const [c, n] of count) if (major < 0 || n > count.get(major)) major = c;
    const odd = [...answers].filter(([, c]) => c !== major);
    for (const [name, row] of rows) row.tr.classList.toggle("odd", answers.has(name) && answers.get(name) !== major);
    if (odd.length === 0) {
      agreeEl.textContent = `All ${answers.size} models answer ${major}.`;
      agreeEl.classList.remove("disagree");
    } else {
      agreeEl.textContent = `The models disagree: most answer ${major}; ` + odd.map(([n, c]) => `${n} answers ${c}`).join(", ") + ".";
      agreeEl.classList.add("disagree");
    }
  }

  changed();
  showSeen(null);
  tinyq.ready.then(() => {
    models = tinyq.models();
    buildTable();
    showStatus(loadedText());
    document.body.dataset.ready = "true";
    update();
  }, (err) => {
    showStatus(`The runtime could not start: ${err.message}`);
    document.body.dataset.ready = "error";
  });
})();
