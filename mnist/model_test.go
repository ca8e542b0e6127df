package mnist

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCheckModel: a 784-to-10 model reading 28x28 images fits; another count, class number
// or image shape is refused with the mnist prefix and what was expected.
func TestCheckModel(t *testing.T) {
	for _, c := range []struct {
		inputs, classes, w, h int
		want                  string
	}{
		{784, 10, 28, 28, ""},
		{785, 10, 28, 28, "maps 785 inputs to 10 classes, MNIST needs 784 to 10"},
		{784, 9, 28, 28, "maps 784 inputs to 9 classes"},
		{784, 10, 784, 1, "reads 784x1-pixel images, MNIST's are 28x28"},
	} {
		err := CheckModel(c.inputs, c.classes, c.w, c.h)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), "mnist: ") || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c, err, c.want)
		}
	}
}

// TestFiles: NAME.gz where it exists, else NAME, in Load's order.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, TrainLabels+".gz"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, TrainImages), filepath.Join(dir, TrainLabels+".gz"), filepath.Join(dir, TestImages), filepath.Join(dir, TestLabels)}
	if got := Files(dir); !slices.Equal(got, want) {
		t.Errorf("Files = %v, want %v", got, want)
	}
}
