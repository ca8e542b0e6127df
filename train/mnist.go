package train

import "tinyq/mnist"

// MNIST loads the MNIST training and test sets from dir (mnist.Load) as Data, keeping the
// first limit training images when 0 < limit < their number, and returns the image size
// (rows × cols: the network's inputs).
func MNIST(dir string, limit int) (trainSet, testSet Data, inputs int, err error) {
	tr, te, err := mnist.Load(dir)
	if err != nil {
		return Data{}, Data{}, 0, err
	}
	if limit > 0 && limit < tr.N {
		tr = tr.Slice(0, limit)
	}
	return Data{Images: tr.Images, Labels: tr.Labels}, Data{Images: te.Images, Labels: te.Labels}, tr.Rows * tr.Cols, nil
}
