package onnx

import (
	"errors"
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
)

// Options configures Compile.
type Options struct {
	// Buckets are the batch sizes compiled, ascending (e.g. 1,2,4,8,16,32).
	// Required, each >= 1.
	Buckets []int
}

// MaxBucket bounds a bucket size, so that a configuration mistake cannot
// make Compile allocate without limit.
const MaxBucket = 1 << 16

// Opset versions of the default domain that Compile accepts.
const (
	MinOpset = 1
	MaxOpset = 21
)

// Program is a compiled model: one gorgonia graph and accel executor per
// bucket (or one graph of fixed shapes, from CompileStatic). It is not safe
// for concurrent use.
type Program struct {
	inputs  []TensorInfo
	outputs []TensorInfo
	inDT    []int32 // ONNX type of each input
	outDT   []int32
	inRow   []int   // elements per row of each input
	inTail  [][]int // shape of one row of each input
	outRow  []int
	outTail [][]int64
	buckets []int
	progs   []*bucketProg
	// static: compiled by CompileStatic, for these input shapes only; progs
	// holds one graph and buckets is nil.
	static   bool
	inShape  [][]int
	outShape [][]int
	fixed    []*constT // static: inputs folded as constants (CompileSpecialized)
}

// compiler holds what the buckets share: decoded initializers and weights
// prepared once (transposed, scaled, ...).
type compiler struct {
	m        *Model
	opset    int64
	inits    map[string]*constT
	static   map[string]*constT   // node outputs folded to bucket-independent constants
	prepared map[string]*prepared // weights in the layout an op wants
	uses     map[string]int       // readers of each value (countUses)
}

type prepared struct {
	shape []int
	data  []float32
}

// builder builds the graph of one bucket.
type builder struct {
	c      *compiler
	bucket int
	g      *G.ExprGraph
	env    map[string]*value
	wnodes map[string]*G.Node // weight nodes of this graph, by key
	nameN  int
	fuse   map[*G.Node]*fusable // how accel nodes were built (fast.go)
	cur    *nodeProto           // the node being built
}

// value is an ONNX value during building: a constant or a gorgonia node.
type value struct {
	name string // the ONNX value name (key of shared weights)
	c    *constT
	n    *G.Node
	// For a node: its ONNX type (0 means FP32) and logical shape (nil means
	// the node's shape; a scalar is held by a node of shape (1)).
	dt  int32
	shp []int
}

func (v *value) shape() []int {
	if v.c != nil {
		return v.c.shape
	}
	if v.shp != nil {
		return v.shp
	}
	return v.n.Shape()
}

// dtype is the value's ONNX datatype.
func (v *value) dtype() int32 {
	if v.c != nil {
		return v.c.dt
	}
	if v.dt == 0 {
		return dtFloat
	}
	return v.dt
}

func (v *value) isConst() bool { return v.c != nil }

// opSpec describes an op: its builder, accepted attributes and arity.
type opSpec struct {
	fn           func(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error)
	attrs        []string
	minIn, maxIn int
	maxOut       int
}

// Compile validates every node (op, attributes, datatypes, shapes) and builds
// one gorgonia ExprGraph and accel executor per bucket, sharing one copy of
// the weights, then dry-runs every bucket once. What cannot run is refused with
// an error naming the node, the op and the reason.
func Compile(m *Model, opt Options) (p *Program, err error) {
	defer func() {
		if err != nil {
			p = nil
		}
	}()
	defer recoverAs(&err, "Compile")
	if m == nil || m.graph == nil {
		return nil, invalid("onnx: Compile of a nil model")
	}
	buckets, err := checkBuckets(opt.Buckets)
	if err != nil {
		return nil, err
	}
	c, err := newCompiler(m)
	if err != nil {
		return nil, err
	}
	p = &Program{inputs: m.Inputs(), outputs: m.Outputs(), buckets: buckets}
	if err := p.checkInputs(m, buckets); err != nil {
		return nil, err
	}
	if err := p.buildAll(c, buckets); err != nil {
		return nil, err
	}
	return p, nil
}

// newCompiler checks the model's opset and nodes.
func newCompiler(m *Model) (*compiler, error) {
	c := &compiler{m: m, opset: m.Opset(), inits: map[string]*constT{},
		static: map[string]*constT{}, prepared: map[string]*prepared{}}
	if c.opset < MinOpset || c.opset > MaxOpset {
		return nil, unsupported("onnx: default-domain opset %d is not supported (want %d..%d)", c.opset, MinOpset, MaxOpset)
	}
	if n := m.graph.sparseInits; n > 0 {
		return nil, unsupported("onnx: the graph has %d sparse initializers; they are not supported", n)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	c.countUses()
	return c, nil
}

// buildAll builds one graph per size, then dry-runs each on its executor,
// which runs the ops on this goroutine and turns a panic into an error.
func (p *Program) buildAll(c *compiler, sizes []int) error {
	for _, bs := range sizes {
		bp, err := c.build(bs, p)
		if err != nil {
			if len(p.progs) > 0 {
				// The first bucket built, so this failure is about this
				// bucket's shapes.
				return fmt.Errorf("bucket %d: %w", bs, err)
			}
			return err
		}
		p.progs = append(p.progs, bp)
	}
	for _, bp := range p.progs {
		if _, _, err := p.runBucket(bp, bp.size, nil); err != nil {
			return fmt.Errorf("bucket %d: dry run: %w", bp.size, err)
		}
	}
	return nil
}

// Buckets returns the compiled batch sizes, ascending.
func (p *Program) Buckets() []int { return slices.Clone(p.buckets) }

// Inputs describes the program's inputs (the model's, with dimension 0 -1).
func (p *Program) Inputs() []TensorInfo { return cloneInfos(p.inputs) }

// Outputs describes the program's outputs, with the shapes compiled.
func (p *Program) Outputs() []TensorInfo { return cloneInfos(p.outputs) }

func checkBuckets(in []int) ([]int, error) {
	if len(in) == 0 {
		return nil, badInput("onnx: Options.Buckets is empty")
	}
	for i, b := range in {
		if b < 1 || b > MaxBucket {
			return nil, badInput("onnx: bucket %d is out of range 1..%d", b, MaxBucket)
		}
		if i > 0 && b <= in[i-1] {
			return nil, badInput("onnx: buckets %v are not strictly ascending", in)
		}
	}
	return slices.Clone(in), nil
}

// nodeLabel names a node for messages.
func nodeLabel(n *nodeProto) string {
	if n.name != "" {
		return n.name
	}
	return fmt.Sprintf("#%d", n.index)
}

func nodeErr(n *nodeProto, err error) error {
	var ne *NodeError
	if errors.As(err, &ne) {
		return err
	}
	return &NodeError{Node: nodeLabel(n), Op: n.opType, Err: err}
}

// check is the bucket-independent pass: every node's domain, op, attribute
// names and arity.
func (c *compiler) check() error {
	produced := map[string]bool{}
	for _, n := range c.m.graph.nodes {
		if n.domain != "" && n.domain != "ai.onnx" {
			return nodeErr(n, unsupported("domain %q is not supported", n.domain))
		}
		spec, ok := opTable[n.opType]
		if !ok {
			return nodeErr(n, unsupported("op %s is not supported", n.opType))
		}
		if _, err := newAttrs(n, spec.attrs); err != nil {
			return nodeErr(n, err)
		}
		last := len(n.inputs)
		for last > 0 && n.inputs[last-1] == "" {
			last-- // trailing optional inputs left out
		}
		if last < spec.minIn || (spec.maxIn >= 0 && last > spec.maxIn) {
			return nodeErr(n, invalid("has %d inputs, want %s", last, arity(spec.minIn, spec.maxIn)))
		}
		if len(n.outputs) == 0 || len(n.outputs) > spec.maxOut {
			return nodeErr(n, unsupported("has %d outputs, at most %d are supported", len(n.outputs), spec.maxOut))
		}
		for _, o := range n.outputs {
			if o == "" {
				continue
			}
			if produced[o] {
				return nodeErr(n, invalid("output %q is produced twice", o))
			}
			produced[o] = true
		}
	}
	return nil
}

func arity(lo, hi int) string {
	switch {
	case hi < 0:
		return fmt.Sprintf("at least %d", lo)
	case lo == hi:
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

// checkTypes records the ONNX types of the graph inputs and outputs and
// refuses those that cannot be computed with.
func (p *Program) checkTypes(m *Model) error {
	for _, v := range m.inVals {
		if !runnable(v.elemType) {
			return unsupported("onnx: input %q is %s; supported: FP32, FP64, integer types and BOOL", v.name, dtypeName(v.elemType))
		}
		p.inDT = append(p.inDT, v.elemType)
	}
	for _, v := range m.outVals {
		if !runnable(v.elemType) {
			return unsupported("onnx: output %q is %s; supported: FP32, FP64, integer types and BOOL", v.name, dtypeName(v.elemType))
		}
		p.outDT = append(p.outDT, v.elemType)
	}
	return nil
}

// checkInputs checks the graph inputs and outputs and records row shapes.
func (p *Program) checkInputs(m *Model, buckets []int) error {
	if len(m.inputs) == 0 {
		return unsupported("onnx: the graph has no inputs")
	}
	if err := p.checkTypes(m); err != nil {
		return err
	}
	for i, v := range m.inVals {
		info := m.inputs[i]
		if !v.hasShape || len(v.dims) == 0 {
			return unsupported("onnx: input %q has no shape; a batch dimension and static row shape are required", v.name)
		}
		if d := v.dims[0]; d.known && (len(buckets) > 1 || int64(buckets[0]) != d.value) {
			return unsupported("onnx: input %q has a fixed batch dimension %d; buckets %v need a dynamic one", v.name, d.value, buckets)
		}
		tail := make([]int, len(v.dims)-1)
		for k, d := range v.dims[1:] {
			if !d.known || d.value < 1 {
				return unsupported("onnx: input %q: dimension %d must be static and positive (shape %v)", v.name, k+1, info.Shape)
			}
			tail[k] = int(d.value)
		}
		row, err := checkedSize(int64s(tail), maxConstElems)
		if err != nil {
			return fmt.Errorf("onnx: input %q: %w", v.name, err)
		}
		p.inTail = append(p.inTail, tail)
		p.inRow = append(p.inRow, row)
		p.inputs[i].Shape[0] = -1
	}
	return nil
}

func int64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// build makes the graph and executor of one bucket (of the fixed shapes of
// a static program).
func (c *compiler) build(bucket int, p *Program) (*bucketProg, error) {
	b := &builder{c: c, bucket: bucket, g: G.NewGraph(), env: map[string]*value{}, wnodes: map[string]*G.Node{},
		fuse: map[*G.Node]*fusable{}}
	bp := &bucketProg{size: bucket, g: b.g}
	for i, info := range p.inputs {
		var shape []int
		if p.static {
			shape = p.inShape[i]
		} else {
			shape = append([]int{bucket}, p.inTail[i]...)
		}
		if p.static && p.fixed[i] != nil {
			b.env[info.Name] = &value{name: info.Name, c: p.fixed[i]}
			bp.in = append(bp.in, nil)
			continue
		}
		if shapeSize(shape) == 0 {
			return nil, unsupported("onnx: input %q has shape %v; empty inputs are not supported", info.Name, shape)
		}
		t := newConst(p.inDT[i], shape)
		dense := toDense(t)
		gs := gShape(shape)
		n := G.NewTensor(b.g, gDtype(t.dt), len(gs), G.WithShape(gs...),
			G.WithName(b.uniq("input:"+info.Name)), G.WithValue(dense))
		b.env[info.Name] = &value{name: info.Name, n: n, dt: t.dt, shp: nonNil(shape)}
		bp.in = append(bp.in, n)
	}
	for _, n := range c.m.graph.nodes {
		if err := b.node(n); err != nil {
			return nil, nodeErr(n, err)
		}
	}
	first := p.outTail == nil && p.outShape == nil
	for i, info := range p.outputs {
		v, err := b.lookup(info.Name)
		if err != nil {
			return nil, fmt.Errorf("onnx: graph output: %w", err)
		}
		if dt := v.dtype(); dt != p.outDT[i] {
			return nil, unsupported("onnx: output %q is computed as %s but declared %s", info.Name, dtypeName(dt), dtypeName(p.outDT[i]))
		}
		shape := v.shape()
		if p.static {
			p.outShape = append(p.outShape, slices.Clone(shape))
			p.outputs[i].Shape = int64s(shape)
			bp.out = append(bp.out, v)
			continue
		}
		if v.isConst() {
			return nil, unsupported("onnx: output %q is a constant; constant outputs are not supported", info.Name)
		}
		if len(shape) == 0 || shape[0] != bucket {
			return nil, unsupported("onnx: output %q has shape %v; dimension 0 must be the batch (%d)", info.Name, shape, bucket)
		}
		tail := int64s(shape[1:])
		if first {
			p.outTail = append(p.outTail, tail)
			p.outRow = append(p.outRow, shapeSize(shape[1:]))
			p.outputs[i].Shape = append([]int64{-1}, tail...)
		} else if !slices.Equal(p.outTail[i], tail) {
			return nil, unsupported("onnx: output %q has rows of shape %v in this bucket but %v in another", info.Name, tail, p.outTail[i])
		}
		bp.out = append(bp.out, v)
	}
	if err := bp.plan(); err != nil {
		return nil, err
	}
	return bp, nil
}

func (b *builder) lookup(name string) (*value, error) {
	if v, ok := b.env[name]; ok {
		return v, nil
	}
	if c, ok := b.c.inits[name]; ok {
		v := &value{name: name, c: c}
		b.env[name] = v
		return v, nil
	}
	if t, ok := b.c.m.inits[name]; ok {
		c, err := tensorConst(t)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", name, err)
		}
		b.c.inits[name] = c
		v := &value{name: name, c: c}
		b.env[name] = v
		return v, nil
	}
	return nil, invalid("value %q is used before it is produced", name)
}

// node builds one ONNX node.
func (b *builder) node(n *nodeProto) error {
	// Outputs folded to static constants in an earlier bucket are reused, so
	// that the buckets share them.
	if vs, ok := b.staticOutputs(n); ok {
		for i, name := range n.outputs {
			if name != "" {
				b.env[name] = vs[i]
			}
		}
		return nil
	}
	spec := opTable[n.opType]
	a, err := newAttrs(n, spec.attrs)
	if err != nil {
		return err
	}
	in := make([]*value, len(n.inputs))
	for i, name := range n.inputs {
		if name == "" {
			continue
		}
		if in[i], err = b.lookup(name); err != nil {
			return err
		}
	}
	b.cur = n
	outs, err := spec.fn(b, n, a, in)
	b.cur = nil
	if err != nil {
		return err
	}
	allStatic := true
	for i, name := range n.outputs {
		if name == "" {
			continue
		}
		if i >= len(outs) || outs[i] == nil {
			return unsupported("output %d (%q) is not supported", i, name)
		}
		v := *outs[i]
		v.name = name
		b.env[name] = &v
		if f := b.fuse[v.n]; v.n != nil && f != nil && f.name == "" {
			f.name = name
		}
		if v.c == nil || !v.c.static {
			allStatic = false
		}
	}
	if allStatic {
		for _, name := range n.outputs {
			if name != "" {
				b.c.static[name] = b.env[name].c
			}
		}
	}
	return nil
}

func (b *builder) staticOutputs(n *nodeProto) ([]*value, bool) {
	vs := make([]*value, len(n.outputs))
	for i, name := range n.outputs {
		if name == "" {
			continue
		}
		c, ok := b.c.static[name]
		if !ok {
			return nil, false
		}
		vs[i] = &value{name: name, c: c}
	}
	return vs, true
}

func (b *builder) uniq(prefix string) string {
	b.nameN++
	return fmt.Sprintf("%s#%d", prefix, b.nameN)
}
