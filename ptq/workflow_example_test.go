package ptq_test

import (
	"fmt"
	"os"
	"path/filepath"

	"tinyq/infer"
	"tinyq/ptq"
)

// readTiny returns the tiny data set's file (testdata/tiny in the repository: 8x8 images of
// bars in four orientations, 64 bytes an image, and one label byte an image), or nil if it
// is missing, which the example's next call reports.
func readTiny(name string) []byte {
	b, err := os.ReadFile(filepath.Join("../testdata/tiny", name))
	if err != nil {
		fmt.Println(err)
	}
	return b
}

// The offline workflow on the tiny float model shipped in testdata/tiny: load the float file,
// calibrate the activation ranges on training images, convert to W4A8 (4-bit weights per
// output channel, 8-bit activations) with the same Config, save, load the integer file as a
// user would, and classify the test images.
func Example_workflow() {
	m, err := infer.Load("../testdata/tiny/fp32.safetensors") // an fp32 or fp16 file
	if err != nil {
		fmt.Println(err)
		return
	}
	fm, ok := m.(*infer.FloatModel)
	if !ok {
		fmt.Println("not a float model")
		return
	}
	calib, err := infer.Pixels(fm, readTiny("train-images.u8")) // training images, never test images
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := ptq.Spec(ptq.Static, 4, 8)
	ranges, err := ptq.Calibrate(fm, cfg, calib)
	if err != nil {
		fmt.Println(err)
		return
	}
	im, err := ptq.Convert(fm, cfg, ptq.Plan{Inputs: ranges})
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "tinyq")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, cfg.Spec.Name()+".safetensors")
	if err := infer.SaveInt(path, im, ""); err != nil {
		fmt.Println(err)
		return
	}

	// The user's side: load the integer file and classify raw pixels.
	q, err := infer.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	labels := readTiny("test-labels.u8")
	preds, err := infer.PredictPixels(q, readTiny("test-images.u8"))
	if err != nil {
		fmt.Println(err)
		return
	}
	correct := 0
	for i, p := range preds {
		if p.Class == int(labels[i]) {
			correct++
		}
	}
	fmt.Printf("%s: %d of %d test images correct\n", filepath.Base(path), correct, len(labels))
	// Output:
	// w4a8.safetensors: 121 of 128 test images correct
}

// Choose calibrates and converts in one call; below 8 bits it tries each observer and keeps
// the one whose integer logits are closest to the float model's on validation images kept
// apart from calibration.
func ExampleChoose() {
	m, err := infer.Load("../testdata/tiny/fp32.safetensors")
	if err != nil {
		fmt.Println(err)
		return
	}
	fm, ok := m.(*infer.FloatModel)
	if !ok {
		fmt.Println("not a float model")
		return
	}
	images, err := infer.Pixels(fm, readTiny("train-images.u8"))
	if err != nil {
		fmt.Println(err)
		return
	}
	in, _ := fm.Shape()
	calib, val := images[:192*in], images[192*in:] // 192 images calibrate, 64 validate
	c, err := ptq.Choose(fm, ptq.Spec(ptq.Static, 4, 4), calib, val)
	if err != nil {
		fmt.Println(err)
		return
	}
	x, err := infer.Pixels(c.Model, readTiny("test-images.u8"))
	if err != nil {
		fmt.Println(err)
		return
	}
	acc, err := infer.Evaluate(c.Model, x, readTiny("test-labels.u8"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: calibrated on %d, validated on %d, %d candidates tried, %.2f%% of the test images\n",
		c.Model.Config.Spec.Name(), c.Calibrated, c.Validated, len(c.Scores), acc)
	// Output:
	// w4a4: calibrated on 192, validated on 64, 6 candidates tried, 94.53% of the test images
}
