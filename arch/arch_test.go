package arch

import (
	"encoding/json"
	"strings"
	"testing"
)

var mnist = Shape{H: 28, W: 28, C: 1}

func TestCNNShapes(t *testing.T) {
	for _, bn := range []bool{false, true} {
		a := CNN(bn, 10)
		shapes, err := a.Shapes()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range shapes {
			got = append(got, s.String())
		}
		want := "28x28x16,14x14x16,14x14x32,7x7x32,1568,128,10"
		if bn {
			want = "28x28x16,28x28x16,14x14x16,14x14x32,14x14x32,7x7x32,1568,128,10"
		}
		if strings.Join(got, ",") != want {
			t.Errorf("bn=%v: shapes %s, want %s", bn, strings.Join(got, ","), want)
		}
		// 28·28·25·16 + 14·14·400·32 + 1568·128 + 128·10 = 313600 + 2508800 + 200704 + 1280.
		macs, err := a.MACs()
		if err != nil || macs != 3024384 {
			t.Errorf("bn=%v: MACs %d, %v; want 3024384", bn, macs, err)
		}
		us, err := a.Units()
		if err != nil {
			t.Fatal(err)
		}
		if len(us) != 4 {
			t.Fatalf("%d units, want 4", len(us))
		}
		u := us[1]
		if in, out := u.Fan(); in != 400 || out != 32 || u.Rows() != 196 || !u.Pooled() || !u.ReLU || u.Out != (Shape{7, 7, 32}) || u.In != (Shape{14, 14, 16}) {
			t.Errorf("unit 1: %+v fan %d,%d rows %d", u, in, out, u.Rows())
		}
		if bn != (u.BatchNorm >= 0) || us[2].In.Size() != 1568 || us[3].ReLU || !us[2].ReLU {
			t.Errorf("units %+v", us)
		}
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, bn := range []bool{false, true} {
		a := CNN(bn, 10)
		b, err := Parse(a.String(), mnist)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Equal(b) || b.String() != a.String() {
			t.Errorf("Parse(%q) = %q", a.String(), b.String())
		}
		js, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var c Arch
		if err := json.Unmarshal(js, &c); err != nil || !c.Equal(a) {
			t.Errorf("JSON %s: %v %v", js, c, err)
		}
	}
	a, err := Parse(" conv(8, 3, stride=2, pad=1), relu, maxpool(3,stride=2), dense(10)", mnist)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.String(); got != "conv(8,3,stride=2,pad=1),relu,maxpool(3,stride=2),dense(10)" {
		t.Errorf("String %q", got)
	}
	if s, _ := a.Shapes(); s[0] != (Shape{14, 14, 8}) || s[1] != (Shape{6, 6, 8}) {
		t.Errorf("shapes %v", s)
	}
	m := MLP([]int{784, 256, 10}, mnist)
	if m.String() != "dense(256),relu,dense(10)" || !m.IsMLP() || len(m.Sizes()) != 3 || m.Sizes()[0] != 784 || m.Validate() != nil {
		t.Errorf("MLP %v %v %v", m, m.Sizes(), m.Validate())
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "empty architecture"},
		{"dense(10),,dense(3)", "item 2 is empty"},
		{"conv(16),dense(10)", "want conv(OUT,KERNEL"},
		{"conv(16,5,pading=2),dense(10)", `unknown argument "pading"`},
		{"conv(16,5,pad=x),dense(10)", "want a non-negative integer"},
		{"conv(16,5,pad=5),dense(10)", "layer 0 (conv2d): pad 5"},
		{"conv(16,40),dense(10)", "does not fit"},
		{"relu,dense(10)", "item 1 \"relu\""},
		{"conv(4,3),relu,relu,dense(10)", "item 3"},
		{"maxpool(2),dense(10)", "first layer"},
		{"conv(4,3),maxpool(2),maxpool(2),dense(2)", "layer 2 (maxpool): maxpool must follow"},
		{"conv(4,3),relu,bn,dense(2)", "batchnorm must follow"},
		{"conv(4,3),relu", "last layer must be dense"},
		{"conv(4,3),pool(2),dense(2)", `unknown layer "pool"`},
		{"dense(10)x", "text after"},
		{"dense(10", "unclosed"},
		{"dense(2000000)", "out 2000000"},
		{"dense(4096),dense(100000)", "weights: at most"},
		{"bn(3),dense(2)", "takes no arguments"},
		{"conv(4,3,stride=0),dense(2)", "stride 0"},
	} {
		_, err := Parse(c.in, mnist)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
	if _, err := Parse("dense(10)", Shape{}); err == nil || !strings.Contains(err.Error(), "input shape") {
		t.Errorf("zero input: %v", err)
	}
	var k Kind
	if err := json.Unmarshal([]byte(`"conv3d"`), &k); err == nil {
		t.Error("conv3d accepted")
	}
}

func TestWindow(t *testing.T) {
	w := Window{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2}
	if w.Check() != nil || w.OutH() != 28 || w.OutW() != 28 || w.PatchLen() != 25 {
		t.Errorf("%+v: %v %d %d", w, w.Check(), w.OutH(), w.PatchLen())
	}
	w = Window{H: 7, W: 5, C: 3, Kernel: 2, Stride: 2}
	if w.OutH() != 3 || w.OutW() != 2 || w.OutPixels() != 6 || w.InLen() != 105 {
		t.Errorf("%+v: %d %d", w, w.OutH(), w.OutW())
	}
	for _, bad := range []Window{{H: 0, W: 1, C: 1, Kernel: 1, Stride: 1}, {H: 2, W: 2, C: 1, Kernel: 3, Stride: 1}, {H: 2, W: 2, C: 1, Kernel: 1, Stride: 0}, {H: 4, W: 4, C: 1, Kernel: 2, Stride: 1, Pad: 2}} {
		if bad.Check() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestWithBatchNorm(t *testing.T) {
	a, err := WithBatchNorm(CNN(false, 10))
	if err != nil || !a.Equal(CNN(true, 10)) {
		t.Errorf("WithBatchNorm(CNN) = %v, %v; want %v", a, err, CNN(true, 10))
	}
	if b, err := WithBatchNorm(a); err != nil || !b.Equal(a) {
		t.Errorf("WithBatchNorm twice: %v, %v", b, err)
	}
	if _, err := WithBatchNorm(MLP([]int{784, 10}, Shape{})); err == nil || !strings.Contains(err.Error(), "has none") {
		t.Errorf("MLP: %v", err)
	}
}

func TestNamed(t *testing.T) {
	img := Shape{H: 28, W: 28, C: 1}
	for _, c := range []struct {
		spec   string
		hidden []int
		bn     bool
		want   string
	}{
		{"mlp", []int{256, 128}, false, "dense(256),relu,dense(128),relu,dense(10)"},
		{"mlp", nil, false, "dense(10)"},
		{"cnn", nil, false, CNN(false, 10).String()},
		{"cnn", nil, true, CNN(true, 10).String()},
		{"conv(4,3),relu,flatten,dense(10)", nil, true, "conv(4,3),bn,relu,flatten,dense(10)"},
	} {
		a, err := Named(c.spec, c.hidden, img, 10, c.bn)
		if err != nil || a.String() != c.want {
			t.Errorf("Named(%q, %v, bn %v) = %q, %v; want %q", c.spec, c.hidden, c.bn, a, err, c.want)
		}
	}
	for spec, want := range map[string]string{"dense(5)": "gives 5 classes, want 10", "conv(2,3),dense(10)": "", "mlp": "has none"} {
		_, err := Named(spec, nil, img, 10, spec == "mlp")
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Named(%q): %v, want %q", spec, err, want)
		}
	}
}

// TestHasBatchNorm: the CNN with BatchNorm has one, without it and the MLP have none.
func TestHasBatchNorm(t *testing.T) {
	if !CNN(true, 10).HasBatchNorm() || CNN(false, 10).HasBatchNorm() || MLP([]int{784, 10}, Shape{}).HasBatchNorm() {
		t.Errorf("HasBatchNorm: CNN with %t, without %t, MLP %t; want true, false, false",
			CNN(true, 10).HasBatchNorm(), CNN(false, 10).HasBatchNorm(), MLP([]int{784, 10}, Shape{}).HasBatchNorm())
	}
}
