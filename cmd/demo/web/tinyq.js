// window.tinyq: tinyq's runtime (infer and imageprep compiled to WebAssembly) for this page.
//
//   tinyq.ready                  a Promise, resolved once the runtime and every model of
//                                models.json are loaded (rejected with the reason otherwise)
//   tinyq.models()               [{name, kind, weightBytes}], smallest first
//   tinyq.classify(name, pixels) pixels: Uint8Array of 784 MNIST-prepared values (0
//                                background, 255 ink) -> {class, confidence, probabilities}
//   tinyq.prepare(imageData)     a canvas's ImageData -> Uint8Array(784), the preparation of
//                                cmd/classify (package imageprep, in Go)
//   tinyq.prepareFile(bytes)     an image file's bytes (PNG, JPEG with EXIF orientation,
//                                GIF) -> Uint8Array(784), as cmd/classify reads a file
//
// A failure throws an Error whose message starts with "demo: " or "imageprep: "; when the
// image has no ink its noDigit property is true, when prepareFile does not know the file's
// format its unknownFormat property is.
"use strict";
window.tinyq = (() => {
  let api = null;

  // call runs a function of the Go side and throws its {error} as an Error.
  function call(name, ...args) {
    if (api === null) {
      throw new Error("demo: the runtime is not ready yet (await tinyq.ready)");
    }
    const r = api[name](...args);
    if (r !== null && typeof r === "object" && typeof r.error === "string") {
      const err = new Error(r.error);
      err.noDigit = r.noDigit === true;
      err.unknownFormat = r.unknownFormat === true;
      throw err;
    }
    return r;
  }

  async function fetchOK(url) {
    const resp = await fetch(url);
    if (!resp.ok) {
      throw new Error(`demo: ${url}: ${resp.status} ${resp.statusText}`);
    }
    return resp;
  }

  async function start() {
    const go = new Go();
    const resp = await fetchOK("tinyq.wasm");
    let result;
    if (WebAssembly.instantiateStreaming && (resp.headers.get("Content-Type") || "").startsWith("application/wasm")) {
      result = await WebAssembly.instantiateStreaming(resp, go.importObject);
    } else {
      // A static server that does not know .wasm: instantiate from the bytes.
      result = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
    }
    go.run(result.instance); // runs main until it waits: tinyqGo is then set
    api = globalThis.tinyqGo;
    const manifest = await (await fetchOK("models.json")).json();
    for (const m of manifest.models) {
      const bytes = new Uint8Array(await (await fetchOK(m.file)).arrayBuffer());
      call("load", m.name, bytes);
    }
  }

  return {
    ready: start(),
    models: () => call("models"),
    classify: (name, pixels) => call("classify", name, pixels),
    prepare: (imageData) => call("prepare", imageData.data, imageData.width, imageData.height),
    prepareFile: (bytes) => call("prepareFile", bytes),
  };
})();
