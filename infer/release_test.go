package infer_test

import (
	"math/rand"
	"runtime"
	"testing"
	"time"

	"tinyq/infer"
	"tinyq/quant"
)

// TestIntModelReleased: an integer model that has run a forward pass is garbage once
// dropped, at the next collection: its working memory does not keep it alive (a sync.Pool
// inside the model did, through the runtime's list of pools, for one more collection, so a
// study that converts a model per point held every model of a GC cycle, GBs for the CNN).
func TestIntModelReleased(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	x := images(rng, 64)
	cfg := infer.IntConfig{Mode: infer.Static, Spec: quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 8, Activation: 8}, quant.PerChannel))}
	released := make(chan struct{})
	func() {
		m := randomConvInt(t, cfg, rng)
		m.Workers = 2
		if err := m.Forward(x, 64, make([]float32, 64*10)); err != nil {
			t.Fatal(err)
		}
		runtime.SetFinalizer(m, func(*infer.IntModel) { close(released) })
	}()
	runtime.GC()
	select {
	case <-released:
	case <-time.After(2 * time.Second):
		t.Error("an integer model that ran Forward is still alive after a collection")
	}
}
