package onnx

import "slices"

func opIdentity(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	v := *in[0]
	return []*value{&v}, nil
}

func opDropout(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	if t, _ := a.int("is_test", 1); t == 0 {
		return nil, unsupported("is_test=0 (training) is not supported")
	}
	if len(in) > 2 && in[2] != nil {
		mode, err := constInput(in, 2, "training_mode")
		if err != nil {
			return nil, err
		}
		for _, v := range mode.ints() {
			if v != 0 {
				return nil, unsupported("training_mode=true is not supported")
			}
		}
	}
	x := *in[0]
	outs := []*value{&x}
	if len(n.outputs) > 1 && n.outputs[1] != "" {
		// In inference the mask keeps every element.
		mask := newConst(dtBool, slices.Clone(x.shape()))
		for k := range mask.i {
			mask.i[k] = 1
		}
		mask.static = true
		outs = append(outs, &value{c: mask})
	}
	return outs, nil
}

// constBinary folds Add, Sub, Mul or Div of two constants with numpy
// broadcasting.
