package mnist

import "fmt"

// Classes is the number of MNIST's classes, the digits 0 to 9.
const Classes = 10

// CheckModel refuses a model that cannot read MNIST: one mapping inputs values to classes
// logits must map 28×28 = 784 to Classes, and one whose input record reads width × height
// pixel images must read 28×28 ones (a 784x1 record has the right count in the wrong shape).
func CheckModel(inputs, classes, width, height int) error {
	if inputs != side*side || classes != Classes {
		return fmt.Errorf("mnist: the model maps %d inputs to %d classes, MNIST needs %d to %d", inputs, classes, side*side, Classes)
	}
	if width != side || height != side {
		return fmt.Errorf("mnist: the model reads %dx%d-pixel images, MNIST's are %dx%d", width, height, side, side)
	}
	return nil
}
