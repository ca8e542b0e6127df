package imageprep

import (
	"image"
	"math"
	"slices"
)

// Constants of the background fit.
const (
	// fitRounds is the number of least-trimmed-squares rounds. Each fits the half of
	// the border closest to the last plane; from the median, two or three rounds
	// settle.
	fitRounds = 5

	// outlierSigmas: a border pixel farther than this many σ (plus one grey level, for
	// 8-bit rounding) from the plane is ink or a mark, not paper. 3σ keeps 99.7% of
	// Gaussian paper noise.
	outlierSigmas = 3
)

// background is the paper's grey level under uneven light: the plane
// a + bx·(x - x0) + by·(y - y0), with (x0, y0) the centre of the image, so a is the
// level at the centre.
type background struct {
	a, bx, by float64
	x0, y0    float64
}

func (bg *background) at(x, y float64) float64 {
	return bg.a + bg.bx*(x-bg.x0) + bg.by*(y-bg.y0)
}

// fillRow sets dst[x] to the background level at (x, y), rounded and clamped to
// [0, 255].
func (bg *background) fillRow(y int, dst []int) {
	for x := range dst {
		dst[x] = int(math.Round(min(255, max(0, bg.at(float64(x), float64(y))))))
	}
}

// fitBackground fits a plane to the border pixels of g, and returns it with the
// noise σ about it: madToSigma times the median absolute residual of the border.
//
// A plane, not a constant, because light falls off across a photo: a level that is
// right on one side would be too dark or too light on the other, by more than the
// ink's contrast in a dim photo. The fit is robust: it starts from the median level,
// then fits by least squares the half of the border pixels closest to the last plane
// (least trimmed squares), so ink on less than half of the border does not tilt it.
// A last fit takes every border pixel within outlierSigmas of the plane. On a uniform
// background the plane is that level exactly.
func fitBackground(g *image.Gray) (background, float64) {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	var xs, ys, vs []float64
	add := func(x, y int) {
		xs = append(xs, float64(x))
		ys = append(ys, float64(y))
		vs = append(vs, float64(g.Pix[y*g.Stride+x]))
	}
	for x := range w { // top and bottom rows
		add(x, 0)
		if h > 1 {
			add(x, h-1)
		}
	}
	for y := 1; y < h-1; y++ { // left and right columns, without the corners
		add(0, y)
		if w > 1 {
			add(w-1, y)
		}
	}
	bg := background{a: median(vs), x0: float64(w-1) / 2, y0: float64(h-1) / 2}
	res := make([]float64, len(vs))
	residuals := func() float64 { // returns the median absolute residual
		for i := range vs {
			res[i] = math.Abs(vs[i] - bg.at(xs[i], ys[i]))
		}
		return median(res)
	}
	// refit fits the plane to the border pixels whose residual is at most limit, and
	// reports whether it could.
	refit := func(limit float64) bool {
		var s sums
		for i := range vs {
			if res[i] <= limit {
				s.add(xs[i]-bg.x0, ys[i]-bg.y0, vs[i])
			}
		}
		a, bx, by, ok := s.plane()
		if ok {
			bg.a, bg.bx, bg.by = a, bx, by
		}
		return ok
	}
	// Least trimmed squares: fit the better-fitting half, again and again. Each
	// round lowers the sum of that half's squared residuals.
	for range fitRounds {
		if !refit(residuals()) {
			break
		}
	}
	// Then one fit to every border pixel that is not an outlier, for precision.
	refit(outlierSigmas*madToSigma*residuals() + 1)
	return bg, madToSigma * residuals()
}

// sums accumulates the sums of the least-squares normal equations of a plane
// v = a + bx·x + by·y.
type sums struct {
	n                           int
	x, y, xx, xy, yy, v, xv, yv float64
}

func (s *sums) add(x, y, v float64) {
	s.n++
	s.x += x
	s.y += y
	s.xx += x * x
	s.xy += x * y
	s.yy += y * y
	s.v += v
	s.xv += x * v
	s.yv += y * v
}

// plane solves the normal equations by Cramer's rule. It reports false if they are
// singular (fewer than three points, or all on one line, as in an image one pixel
// wide), and the caller keeps its previous plane.
func (s *sums) plane() (a, bx, by float64, ok bool) {
	n := float64(s.n)
	det := det3(n, s.x, s.y, s.x, s.xx, s.xy, s.y, s.xy, s.yy)
	// Relative to the scale of the matrix: the product of its diagonal.
	if s.n < 3 || math.Abs(det) <= 1e-9*n*s.xx*s.yy {
		return 0, 0, 0, false
	}
	a = det3(s.v, s.x, s.y, s.xv, s.xx, s.xy, s.yv, s.xy, s.yy) / det
	bx = det3(n, s.v, s.y, s.x, s.xv, s.xy, s.y, s.yv, s.yy) / det
	by = det3(n, s.x, s.v, s.x, s.xx, s.xv, s.y, s.xy, s.yv) / det
	return a, bx, by, true
}

// det3 is the determinant of the 3×3 matrix with rows (a, b, c), (d, e, f), (g, h, i).
func det3(a, b, c, d, e, f, g, h, i float64) float64 {
	return a*(e*i-f*h) - b*(d*i-f*g) + c*(d*h-e*g)
}

// median returns the lower median of vs (0 for none), leaving vs unchanged.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
