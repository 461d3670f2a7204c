package onnx

// attrs gives typed access to a node's attributes. Each accessor checks the
// attribute's declared type; a missing attribute yields the default.
type attrs struct {
	byName map[string]*attribute
}

func newAttrs(n *nodeProto, allowed []string) (*attrs, error) {
	a := &attrs{byName: make(map[string]*attribute, len(n.attrs))}
	for _, at := range n.attrs {
		if _, dup := a.byName[at.name]; dup {
			return nil, invalid("attribute %q appears twice", at.name)
		}
		if at.refName != "" {
			return nil, invalid("attribute %q refers to a function attribute outside a function", at.name)
		}
		ok := at.name == "consumed_inputs" // a memory hint of opsets before 6
		for _, name := range allowed {
			if name == at.name {
				ok = true
				break
			}
		}
		if !ok {
			return nil, unsupported("attribute %q is not supported", at.name)
		}
		if at.name != "consumed_inputs" {
			a.byName[at.name] = at
		}
	}
	return a, nil
}

func (a *attrs) has(name string) bool { _, ok := a.byName[name]; return ok }

// get returns the attribute if present, checking its type.
func (a *attrs) get(name string, typ int32) (*attribute, error) {
	at, ok := a.byName[name]
	if !ok {
		return nil, nil
	}
	if at.hasType && at.typ != typ {
		return nil, invalid("attribute %q has type %s, want %s", name, attrTypeName(at.typ), attrTypeName(typ))
	}
	if at.nested > 0 {
		return nil, unsupported("attribute %q holds graphs or tensor lists", name)
	}
	return at, nil
}

func (a *attrs) int(name string, def int64) (int64, error) {
	at, err := a.get(name, attrInt)
	if at == nil || err != nil {
		return def, err
	}
	return at.i, nil
}

func (a *attrs) float(name string, def float32) (float32, error) {
	at, err := a.get(name, attrFloat)
	if at == nil || err != nil {
		return def, err
	}
	return at.f, nil
}

func (a *attrs) str(name string, def string) (string, error) {
	at, err := a.get(name, attrString)
	if at == nil || err != nil {
		return def, err
	}
	return string(at.s), nil
}

func (a *attrs) ints(name string, def []int64) ([]int64, error) {
	at, err := a.get(name, attrInts)
	if at == nil || err != nil {
		return def, err
	}
	return at.ints, nil
}

func (a *attrs) floats(name string) ([]float32, error) {
	at, err := a.get(name, attrFloats)
	if at == nil || err != nil {
		return nil, err
	}
	return at.floats, nil
}

func (a *attrs) tensor(name string) (*tensorProto, error) {
	at, err := a.get(name, attrTensor)
	if at == nil || err != nil {
		return nil, err
	}
	if at.t == nil {
		return nil, invalid("attribute %q has no tensor", name)
	}
	return at.t, nil
}

// intsN reads an INTS attribute that must have n values (or be absent, in
// which case def is returned), each at least lo.
func (a *attrs) intsN(name string, n int, lo int64, def []int64) ([]int64, error) {
	v, err := a.ints(name, def)
	if err != nil {
		return nil, err
	}
	if len(v) != n {
		return nil, invalid("attribute %s=%v must have %d values", name, v, n)
	}
	for _, x := range v {
		if x < lo {
			return nil, invalid("attribute %s=%v: values must be >= %d", name, v, lo)
		}
	}
	return v, nil
}
