package arch_test

import (
	"fmt"

	"tinyq/arch"
)

func ExampleParse() {
	a, err := arch.Parse("conv(16,5,pad=2),relu,maxpool(2),flatten,dense(10)", arch.Shape{H: 28, W: 28, C: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	shapes, _ := a.Shapes()
	macs, _ := a.MACs()
	fmt.Println(shapes, macs)
	// Output: [28x28x16 14x14x16 3136 10] 344960
}
