package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"tinyq/imageprep"
	"tinyq/infer"
	"tinyq/internal/pyreader"
	"tinyq/mnist"
)

// The browser tests (issue 21, part 4) drive Debian's headless Chromium with chromedp. Without
// chromium they skip with a message that says so; under CI=true (the CI sets it and installs
// chromium) they fail instead, so that a missing browser never passes unnoticed (the rule of
// internal/pyreader for python3).

// chromium returns the browser to drive: $CHROME if set, else chromium on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("chromium is not on PATH and CI=true: the demo page is NOT tested in a browser; install it (apt-get install -y chromium)")
	}
	t.Skipf("SKIPPED: chromium is not on PATH, so the demo page is NOT tested in a browser (apt-get install -y chromium; under CI=true this fails)")
	return ""
}

// browser is one headless Chromium tab on the demo page, with every console message the
// page wrote.
type browser struct {
	ctx     context.Context
	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// serve serves the site of dir as the command does and returns its URL.
func serve(t *testing.T, dir string) string {
	t.Helper()
	s, err := newSite(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// openPage starts chromium (a viewport of 1200x900) and loads the page at url until
// window.tinyq is ready; everything ends with the test.
func openPage(t *testing.T, url string) *browser {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1200, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	b := &browser{ctx: ctx}
	messages := chromedp.Console(ctx) // starts the browser and subscribes before the page loads
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	b.do(t, chromedp.EmulateViewport(1200, 900))
	b.do(t, chromedp.Navigate(url))
	// The page sets data-ready once tinyq.ready has settled: "true" or "error".
	state := act(t, b, chromedp.Poll[string](`document.body.dataset.ready`, chromedp.WithPollingTimeout(30*time.Second)))
	if state != "true" {
		t.Fatalf("the page did not start (data-ready=%q): %s; console: %v", state, act(t, b, chromedp.Evaluate[string](`document.getElementById("status").textContent`)), b.messages())
	}
	return b
}

// timeout bounds each browser action: a hung page fails the test instead of hanging it.
const timeout = 30 * time.Second

func act[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (b *browser) do(t *testing.T, a chromedp.Action[chromedp.Void]) { t.Helper(); act(t, b, a) }

func (b *browser) messages() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), b.console...)
}

// checkConsole fails t for every error or exception the page wrote to the console (a
// failed fetch, a Content-Security-Policy violation and an uncaught exception among them).
func (b *browser) checkConsole(t *testing.T) {
	t.Helper()
	for _, m := range b.messages() {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			t.Errorf("console %s (%s:%d)", m, m.URL, m.Line)
		}
	}
}

// settle waits until the page has finished the update that its last input scheduled.
func (b *browser) settle(t *testing.T) {
	t.Helper()
	act(t, b, chromedp.Poll[bool](`document.body.dataset.pending === "false"`, chromedp.WithPollingTimeout(10*time.Second)))
}

// draw draws strokes (paths in the 280x280 canvas's own pixels) on the canvas with the
// browser's own mouse input (CDP Input.dispatchMouseEvent: pointerdown, pointermove with the
// left button held, pointerup), then waits for the models' answers.
func (b *browser) draw(t *testing.T, strokes [][][2]float64) {
	t.Helper()
	rect := act(t, b, chromedp.Evaluate[struct{ X, Y, W, H float64 }](`(() => { const r = document.getElementById("pad").getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`))
	for _, s := range strokes {
		for i, p := range s {
			ev := input.DispatchMouseEventParams{Type: chromedp.MouseMoved, X: rect.X + p[0]*rect.W/280, Y: rect.Y + p[1]*rect.H/280, Button: input.MouseButtonLeft, Buttons: 1}
			if i == 0 {
				ev.Type, ev.ClickCount = chromedp.MousePressed, 1
			}
			if _, err := chromedp.Call(b.ctx, input.DispatchMouseEvent, ev); err != nil {
				t.Fatal(err)
			}
		}
		last := s[len(s)-1]
		up := input.DispatchMouseEventParams{Type: chromedp.MouseReleased, X: rect.X + last[0]*rect.W/280, Y: rect.Y + last[1]*rect.H/280, Button: input.MouseButtonLeft, ClickCount: 1}
		if _, err := chromedp.Call(b.ctx, input.DispatchMouseEvent, up); err != nil {
			t.Fatal(err)
		}
	}
	b.settle(t)
}

// line returns n+1 points from a to b.
func line(a, b [2]float64, n int) [][2]float64 {
	var pts [][2]float64
	for i := 0; i <= n; i++ {
		f := float64(i) / float64(n)
		pts = append(pts, [2]float64{a[0] + f*(b[0]-a[0]), a[1] + f*(b[1]-a[1])})
	}
	return pts
}

// TestBrowser runs the demo page in headless Chromium on a directory of models of every
// kind (testModels): (a) it loads without console errors and lists every model as the native
// runtime reads it, also on a phone-sized screen; (b) window.tinyq.classify gives the
// native runtime's classes and probabilities on the first 200 MNIST test images, bit for bit
// for integer models; (c) a 1, a 7 and a 0 drawn on the canvas with mouse input are
// classified correctly by the int8 model; (d) a screenshot after drawing is saved as a test
// artifact (demo.png) and checked.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium(t)
	dir, test := testModels(t)
	b := openPage(t, serve(t, dir))
	t.Run("a-loads", func(t *testing.T) { testLoads(t, b, dir) })
	t.Run("b-native", func(t *testing.T) { testNative(t, b, dir, test) })
	t.Run("c-draw", func(t *testing.T) { testDraw(t, b) })
	t.Run("keys", func(t *testing.T) { testKeys(t, b) })
	t.Run("d-screenshot", func(t *testing.T) { testScreenshot(t, b) })
	t.Run("file", func(t *testing.T) { testFile(t, b, dir, test) })
	t.Run("phone", func(t *testing.T) { testPhone(t, b) })
	b.checkConsole(t)
}

type listed struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	WeightBytes int    `json:"weightBytes"`
}

func testLoads(t *testing.T, b *browser, dir string) {
	b.checkConsole(t)
	got := act(t, b, chromedp.Evaluate[[]listed](`tinyq.models()`))
	rows := act(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#models tbody tr")].map(tr => tr.dataset.model)`))
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(got) != len(files) || len(rows) != len(files) {
		t.Fatalf("tinyq.models() lists %d models and the table %d rows, want the %d files of %s", len(got), len(rows), len(files), dir)
	}
	for i, m := range got {
		if i > 0 && m.WeightBytes < got[i-1].WeightBytes {
			t.Errorf("model %d (%s, %d bytes) listed after %s (%d bytes): want smallest first", i, m.Name, m.WeightBytes, got[i-1].Name, got[i-1].WeightBytes)
		}
		if rows[i] != m.Name {
			t.Errorf("table row %d is %q, want %q", i, rows[i], m.Name)
		}
		nm, err := infer.Load(filepath.Join(dir, m.Name+".safetensors"))
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if m.Kind != nm.Name() || m.WeightBytes != nm.WeightBytes() {
			t.Errorf("%s: listed as %q with %d weight bytes, the native runtime reads %q with %d", m.Name, m.Kind, m.WeightBytes, nm.Name(), nm.WeightBytes())
		}
	}
}

// agreeImages is how many MNIST test images part (b) compares.
const agreeImages = 200

// floatTol bounds the difference of a float model's probabilities between the browser and
// the native runtime: the native float kernels (AVX2/AVX-512) fuse multiply-adds and sum in
// another order than the pure-Go path of js/wasm, so logits differ by a few float32 ulps
// (about 1e-6 relative for these 784-128-10 sums), and a probability, whose derivative in a
// logit is at most 1/4, by less. 1e-5 leaves a margin of ten.
const floatTol = 1e-5

func testNative(t *testing.T, b *browser, dir string, test *mnist.Set) {
	px := make([]byte, agreeImages*784)
	for i := range px {
		px[i] = uint8(test.Images[i]*255 + 0.5) // exact: the images are p/255
	}
	type answers struct {
		Classes []int       `json:"classes"`
		Probs   [][]float64 `json:"probs"`
	}
	js := fmt.Sprintf(`(() => {
  const all = Uint8Array.from(atob(%q), c => c.charCodeAt(0));
  const out = {};
  for (const m of tinyq.models()) {
    const a = {classes: [], probs: []};
    for (let i = 0; i < %d; i++) {
      const r = tinyq.classify(m.name, all.subarray(784 * i, 784 * (i + 1)));
      a.classes.push(r.class);
      a.probs.push(r.probabilities);
    }
    out[m.name] = a;
  }
  return out;
})()`, base64.StdEncoding.EncodeToString(px), agreeImages)
	got := act(t, b, chromedp.Evaluate[map[string]answers](js))
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(got) != len(files) {
		t.Fatalf("answers of %d models, want %d", len(got), len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".safetensors")
		m, err := infer.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		// Integer models are exact; a dynamic one dequantizes in float, exact unless this
		// build fuses multiply-adds (the js/wasm build never does).
		_, isInt := m.(*infer.IntModel)
		exact := isInt && !(strings.Contains(m.Name(), "dynamic") && pyreader.FusesFMA())
		a := got[name]
		if len(a.Classes) != agreeImages || len(a.Probs) != agreeImages {
			t.Fatalf("%s: %d answers, want %d", name, len(a.Classes), agreeImages)
		}
		worst := 0.0
		for i := range agreeImages {
			p, err := infer.PredictPixels(m, px[784*i:784*(i+1)])
			if err != nil {
				t.Fatal(err)
			}
			if a.Classes[i] != p[0].Class {
				t.Errorf("%s, image %d: class %d in the browser, %d native", name, i, a.Classes[i], p[0].Class)
			}
			if len(a.Probs[i]) != len(p[0].Probabilities) {
				t.Fatalf("%s, image %d: %d probabilities, want %d", name, i, len(a.Probs[i]), len(p[0].Probabilities))
			}
			for k, v := range p[0].Probabilities {
				w := a.Probs[i][k]
				if exact && math.Float32bits(float32(w)) != math.Float32bits(v) || float64(float32(w)) != w {
					t.Fatalf("%s, image %d, class %d: probability %v in the browser, %v native: want bit for bit", name, i, k, w, v)
				}
				worst = max(worst, math.Abs(w-float64(v)))
			}
		}
		if worst > floatTol {
			t.Errorf("%s: largest probability difference %.3g, want at most %g", name, worst, floatTol)
		}
		t.Logf("%-16s %-26s %d images: same classes, largest probability difference %.3g (exact: %v)", name, m.Name(), agreeImages, worst, exact)
	}
	// The time per inference of the int8 model in this browser: the 200 images, repeated
	// for at least half a second.
	us := act(t, b, chromedp.Evaluate[float64](fmt.Sprintf(`(() => {
  const all = Uint8Array.from(atob(%q), c => c.charCodeAt(0));
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < 500) {
    for (let i = 0; i < %d; i++, n++) tinyq.classify(%q, all.subarray(784 * i, 784 * (i + 1)));
    t = performance.now();
  }
  return 1000 * (t - t0) / n;
})()`, base64.StdEncoding.EncodeToString(px), agreeImages, int8Model)))
	t.Logf("%s in headless Chromium: %.1f µs per inference (one image at a time, window.tinyq.classify)", int8Model, us)
}

// digits are the strokes of part (c), in the canvas's 280x280 pixels, with their classes.
var digits = []struct {
	class   int
	strokes [][][2]float64
}{
	{1, [][][2]float64{line([2]float64{150, 45}, [2]float64{132, 235}, 20)}},
	{7, [][][2]float64{append(line([2]float64{80, 60}, [2]float64{200, 58}, 12), line([2]float64{200, 58}, [2]float64{115, 235}, 18)[1:]...)}},
	{0, [][][2]float64{ellipse(140, 140, 62, 92, 40)}},
}

// ellipse returns a closed path of n segments around (cx, cy), starting at its top.
func ellipse(cx, cy, rx, ry float64, n int) [][2]float64 {
	var pts [][2]float64
	for i := 0; i <= n; i++ {
		a := 2 * math.Pi * float64(i) / float64(n)
		pts = append(pts, [2]float64{cx + rx*math.Sin(a), cy - ry*math.Cos(a)})
	}
	return pts
}

func testDraw(t *testing.T, b *browser) {
	for _, d := range digits {
		b.do(t, chromedp.Evaluate[chromedp.Void](`document.getElementById("clear").click()`))
		b.settle(t)
		b.draw(t, d.strokes)
		// The page prepares the canvas in Go (tinyq.prepare): the native imageprep gives the
		// same 784 values from the same RGBA pixels.
		canvas := act(t, b, chromedp.Evaluate[struct{ RGBA, Prepared string }](`(() => {
  const pad = document.getElementById("pad");
  const data = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height);
  const b64 = (u8) => { let s = ""; for (const v of u8) s += String.fromCharCode(v); return btoa(s); };
  return {RGBA: b64(data.data), Prepared: b64(tinyq.prepare(data))};
})()`))
		rgba, _ := base64.StdEncoding.DecodeString(canvas.RGBA)
		prepared, _ := base64.StdEncoding.DecodeString(canvas.Prepared)
		want, err := imageprep.MNIST(&image.NRGBA{Pix: rgba, Stride: 4 * 280, Rect: image.Rect(0, 0, 280, 280)})
		if err != nil || !bytes.Equal(prepared, want) {
			t.Errorf("a %d: the page's prepared pixels differ from the native imageprep's on the canvas's RGBA (%d bytes), error %v", d.class, len(rgba), err)
		}
		got := act(t, b, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('tr[data-model=%q]').dataset.class`, int8Model)))
		if got != fmt.Sprint(d.class) {
			all := act(t, b, chromedp.Evaluate[string](`document.getElementById("agree").textContent`))
			t.Errorf("a %d drawn on the canvas: %s answers %q, want %d (%s)", d.class, int8Model, got, d.class, all)
		}
	}
}

// testKeys: the keyboard: Ctrl+Z undoes the last stroke (a stray dot, after which the 7
// alone is read), the Undo button focused and pressed with Enter undoes the next (the 7:
// nothing is left, and Undo is disabled), Escape clears.
func testKeys(t *testing.T, b *browser) {
	b.do(t, chromedp.Evaluate[chromedp.Void](`document.getElementById("clear").click()`))
	b.settle(t)
	b.draw(t, digits[1].strokes) // a 7, then a stray dot beside it
	b.draw(t, [][][2]float64{{{250, 250}}})
	undoEnabled := func() bool {
		return act(t, b, chromedp.Evaluate[bool](`!document.getElementById("undo").disabled`))
	}
	class := func() string {
		return act(t, b, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('tr[data-model=%q]').dataset.class`, int8Model)))
	}
	b.do(t, chromedp.KeyEvent("z", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	b.settle(t)
	if got := class(); got != "7" {
		t.Errorf("after Ctrl+Z the dot is still there or the 7 is gone: %s answers %q, want 7", int8Model, got)
	}
	b.do(t, chromedp.Focus(chromedp.ID("undo")))
	b.do(t, chromedp.KeyEvent("\r"))
	b.settle(t)
	if got, u := class(), undoEnabled(); got != "" || u {
		t.Errorf("Enter on the focused Undo button did not undo the 7: class %q, undo still enabled %v", got, u)
	}
	b.draw(t, digits[1].strokes)
	b.do(t, chromedp.KeyEvent(kb.Escape))
	b.settle(t)
	if got := class(); got != "" {
		t.Errorf("Escape did not clear the drawing: %s answers %q", int8Model, got)
	}
	b.draw(t, digits[1].strokes) // for the screenshot
}

func testScreenshot(t *testing.T, b *browser) {
	shot := act(t, b, chromedp.CaptureScreenshot())
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// The viewport is 1200x900 CSS pixels at a device scale of 1 (openPage).
	if r := img.Bounds(); r.Dx() != 1200 || r.Dy() != 900 {
		t.Errorf("screenshot is %dx%d, want 1200x900", r.Dx(), r.Dy())
	}
	// A page with a drawing, a table of bars and text compresses to tens of kilobytes; a
	// blank or unstyled page to a few (measured: about 4 KB for a white page).
	if len(shot) < 20_000 || len(shot) > 2_000_000 {
		t.Errorf("screenshot is %d bytes, want 20 kB to 2 MB", len(shot))
	}
	p := filepath.Join(t.ArtifactDir(), "demo.png")
	if err := os.WriteFile(p, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(shot))
}

// testFile: an image file picked with the file input (a PNG of MNIST test image 3, four
// times larger, dark ink on white paper) is prepared as cmd/classify prepares the file (the
// 28x28 view shows imageprep's pixels), and the int8 model answers as the native runtime
// does on them.
func testFile(t *testing.T, b *browser, dir string, test *mnist.Set) {
	const k = 4
	img := image.NewGray(image.Rect(0, 0, 28*k, 28*k))
	for y := range 28 * k {
		for x := range 28 * k {
			img.Pix[y*28*k+x] = 255 - uint8(test.Images[3*784+(y/k)*28+x/k]*255+0.5)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "digit.png")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	decoded, err := imageprep.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want, err := imageprep.MNIST(decoded)
	if err != nil {
		t.Fatal(err)
	}
	before := act(t, b, chromedp.Evaluate[string](`document.body.dataset.updates`))
	b.do(t, chromedp.SetUploadFiles(chromedp.ID("file"), []string{p}))
	act(t, b, chromedp.Poll[bool](fmt.Sprintf(`document.body.dataset.updates !== %q && document.body.dataset.pending === "false"`, before), chromedp.WithPollingTimeout(10*time.Second)))
	seen := act(t, b, chromedp.Evaluate[[]int](`Array.from(document.getElementById("seen").getContext("2d").getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0))`))
	got := make([]byte, len(seen))
	for i, v := range seen {
		got[i] = byte(v)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the 28x28 view of the picked file differs from imageprep's preparation of the file")
	}
	m, err := infer.Load(filepath.Join(dir, int8Model+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	pred, err := infer.PredictPixels(m, want)
	if err != nil {
		t.Fatal(err)
	}
	class := act(t, b, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('tr[data-model=%q]').dataset.class`, int8Model)))
	if class != fmt.Sprint(pred[0].Class) {
		t.Errorf("the picked file: %s answers %q in the page, %d native", int8Model, class, pred[0].Class)
	}
	// A file that is no image: one line in the status, naming it; the page goes on.
	bad := filepath.Join(t.TempDir(), "notes.png")
	if err := os.WriteFile(bad, []byte("not an image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do(t, chromedp.SetUploadFiles(chromedp.ID("file"), []string{bad}))
	status := act(t, b, chromedp.Poll[string](`(t => t.startsWith("notes.png") && t)(document.getElementById("status").textContent)`, chromedp.WithPollingTimeout(10*time.Second)))
	if want := "notes.png: not an image that tinyq (PNG, JPEG, GIF) or this browser can read"; status != want {
		t.Errorf("status %q, want %q", status, want)
	}
}

// testPhone: on a phone-sized screen (375x740 CSS pixels, touch) nothing is wider than the
// screen (the table of models needs no sideways scrolling), and the drawing area fits in it
// whole.
func testPhone(t *testing.T, b *browser) {
	b.do(t, chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	defer b.do(t, chromedp.EmulateViewport(1200, 900))
	got := act(t, b, chromedp.Evaluate[struct{ Scroll, Table, PadRight, PadWidth float64 }](`(() => {
  const r = document.getElementById("pad").getBoundingClientRect();
  return {Scroll: document.documentElement.scrollWidth, Table: document.getElementById("models").getBoundingClientRect().right, PadRight: r.right, PadWidth: r.width};
})()`))
	if got.Scroll > 375 || got.Table > 375 || got.PadRight > 375 || got.PadWidth < 200 {
		t.Errorf("on a 375-pixel-wide screen: page %v pixels wide, the table ends at %v, the drawing area %v wide ending at %v; want everything within 375 and the drawing area at least 200 wide", got.Scroll, got.Table, got.PadWidth, got.PadRight)
	}
}

// TestBrowserExport: the site that -export writes works from a plain static file server
// (net/http's FileServer, which may not know .wasm: the page then instantiates the runtime
// from its bytes): it loads without console errors, lists every model, and the int8 model
// answers the first MNIST test image as the native runtime does.
func TestBrowserExport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium(t)
	dir, test := testModels(t)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if st := run([]string{"-models", dir, "-export", out}, &stdout, &stderr); st != 0 {
		t.Fatalf("exit %d: %s", st, stderr.String())
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(out)))
	defer srv.Close()
	b := openPage(t, srv.URL+"/")
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if n := act(t, b, chromedp.Evaluate[int](`tinyq.models().length`)); n != len(files) {
		t.Errorf("%d models listed, want %d", n, len(files))
	}
	px := make([]byte, 784)
	for i := range px {
		px[i] = uint8(test.Images[i]*255 + 0.5)
	}
	got := act(t, b, chromedp.Evaluate[int](fmt.Sprintf(`tinyq.classify(%q, Uint8Array.from(atob(%q), c => c.charCodeAt(0))).class`, int8Model, base64.StdEncoding.EncodeToString(px))))
	m, err := infer.Load(filepath.Join(dir, int8Model+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := infer.PredictPixels(m, px)
	if err != nil {
		t.Fatal(err)
	}
	if got != want[0].Class {
		t.Errorf("the exported page's %s answers %d on test image 0, the native runtime %d", int8Model, got, want[0].Class)
	}
	b.checkConsole(t)
}

var update = flag.Bool("update", false, "TestREADMEFigures: write docs/demo.png from the default run's models and print the README's figures")

// TestREADMEFigures, with -update only, opens the page on the default run's models (the
// directory that go run ./cmd/demo uses, trained first if missing), draws a 7, writes the
// screenshot to docs/demo.png, and prints the README's figures: the wasm's size raw and
// gzipped (level 9), and the int8 model's time per inference in headless Chromium.
//
//	go test ./cmd/demo -run TestREADMEFigures -update -v
func TestREADMEFigures(t *testing.T) {
	if !*update {
		t.Skip("writes docs/demo.png: run with -update")
	}
	chromium(t)
	dir, err := defaultModels(os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSite(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(s.files["tinyq.wasm"])
	zw.Close()
	t.Logf("tinyq.wasm: %d bytes, %d gzipped (gzip -9)", len(s.files["tinyq.wasm"]), gz.Len())
	srv := httptest.NewServer(s)
	defer srv.Close()
	b := openPage(t, srv.URL+"/")
	dirSet, err := mnist.Locate("")
	if err != nil {
		t.Fatal(err)
	}
	_, test, err := mnist.Load(dirSet)
	if err != nil {
		t.Fatal(err)
	}
	px := make([]byte, agreeImages*784)
	for i := range px {
		px[i] = uint8(test.Images[i]*255 + 0.5)
	}
	// Each model: five rounds of the 200 images, each repeated for at least 200 ms; the
	// fastest round's mean and the median round's (the machine is shared).
	for _, name := range act(t, b, chromedp.Evaluate[[]string](`tinyq.models().map(m => m.name)`)) {
		us := act(t, b, chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => {
  const all = Uint8Array.from(atob(%q), c => c.charCodeAt(0));
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < 200) {
      for (let i = 0; i < %d; i++, n++) tinyq.classify(%q, all.subarray(784 * i, 784 * (i + 1)));
      t = performance.now();
    }
    rounds.push(1000 * (t - t0) / n);
  }
  return rounds.sort((a, b) => a - b);
})()`, base64.StdEncoding.EncodeToString(px), agreeImages, name)))
		t.Logf("%-28s %6.1f µs per inference in headless Chromium (fastest of 5 rounds; median %.1f)", name, us[0], us[2])
	}
	b.draw(t, digits[1].strokes)
	h := act(t, b, chromedp.Evaluate[int64](`Math.ceil(document.documentElement.scrollHeight)`))
	b.do(t, chromedp.EmulateViewport(1200, h))
	shot := act(t, b, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "demo.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("docs/demo.png: 1200x%d, %d bytes", h, len(shot))
	b.checkConsole(t)
}
