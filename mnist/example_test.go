package mnist_test

import (
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"tinyq/mnist"
)

// LoadFiles reads any pair of IDX files. Here two 2×2 images and their labels are
// written to a temporary directory first; with the real data, use Locate and Load.
func ExampleLoadFiles() {
	dir, err := os.MkdirTemp("", "mnist-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// IDX: big-endian magic 0x00000803 (unsigned bytes, 3 dimensions), n, rows, cols, pixels.
	images := binary.BigEndian.AppendUint32(nil, 0x00000803)
	for _, d := range []uint32{2, 2, 2} {
		images = binary.BigEndian.AppendUint32(images, d)
	}
	images = append(images, 0, 51, 102, 255, 255, 204, 153, 0)
	// Labels: magic 0x00000801 (unsigned bytes, 1 dimension), n, labels.
	labels := binary.BigEndian.AppendUint32(nil, 0x00000801)
	labels = binary.BigEndian.AppendUint32(labels, 2)
	labels = append(labels, 7, 3)

	imagesPath := filepath.Join(dir, "images-idx3-ubyte")
	labelsPath := filepath.Join(dir, "labels-idx1-ubyte")
	if err := os.WriteFile(imagesPath, images, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(labelsPath, labels, 0o644); err != nil {
		log.Fatal(err)
	}

	set, err := mnist.LoadFiles(imagesPath, labelsPath)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(set.N, set.Rows, set.Cols)
	for i := range set.N {
		fmt.Println(set.Labels[i], set.Image(i))
	}
	// Output:
	// 2 2 2
	// 7 [0 0.2 0.4 1]
	// 3 [1 0.8 0.6 0]
}
