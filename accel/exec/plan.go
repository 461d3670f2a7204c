package exec

import (
	"fmt"
	"sort"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// planner sorts the graph and places values in buffers.
type planner struct {
	g     *G.ExprGraph
	order []*G.Node // children before parents
	index map[*G.Node]int
	args  [][]int // plan indices of each node's children
}

func newPlanner(g *G.ExprGraph) *planner {
	return &planner{g: g, index: map[*G.Node]int{}}
}

// visit adds n and what it depends on, children first (depth-first
// post-order: a topological order).
func (p *planner) visit(n *G.Node) {
	if _, ok := p.index[n]; ok {
		return
	}
	p.index[n] = -1 // on the stack
	var kids []*G.Node
	for it := p.g.From(n.ID()); it.Next(); {
		kids = append(kids, it.Node().(*G.Node))
	}
	for _, c := range kids {
		p.visit(c)
	}
	args := make([]int, len(kids))
	for i, c := range kids {
		args[i] = p.index[c]
	}
	p.index[n] = len(p.order)
	p.order = append(p.order, n)
	p.args = append(p.args, args)
}

// alignment of planned buffers in the arena, in float32 values (64 bytes).
const align = 16

type buffer struct {
	size int // values; grows while planning
	off  int
	free bool
}

// plan builds e's steps and buffers.
func (p *planner) plan(e *Executor, inSet map[*G.Node]int, outputs []*G.Node) error {
	n := len(p.order)
	e.vals = make([]G.Value, n)
	last := make([]int, n) // last step index reading each value; n for outputs
	for i := range last {
		last[i] = -1
	}
	for i, args := range p.args {
		for _, a := range args {
			last[a] = max(last[a], i)
		}
	}
	kind := make([]valKind, n)
	for i, node := range p.order {
		switch k, isIn := inSet[node]; {
		case isIn:
			kind[i] = kInput
			d := tensor.New(tensor.Of(node.Dtype()), tensor.WithShape(node.Shape()...))
			e.inputs[k] = d
			e.vals[i] = d
		case isInputOp(node):
			v := node.Value()
			if v == nil {
				return fmt.Errorf("accel/exec: leaf %q has no value and is not an input", node.Name())
			}
			kind[i] = kConst
			e.vals[i] = v
		default:
			if node.Op() == nil {
				return fmt.Errorf("accel/exec: node %q has no op", node.Name())
			}
			kind[i] = kOp
		}
	}
	// Outputs live to the end.
	for _, node := range outputs {
		last[p.index[node]] = n
	}
	return p.place(e, kind, last)
}

type valKind uint8

const (
	kOp valKind = iota
	kInput
	kConst
)

// place walks the ops in order, giving each result a buffer: input k's
// when the op may overwrite it and nothing reads it later, input 0's for a
// view, else a free buffer (best fit) or a new one.
func (p *planner) place(e *Executor, kind []valKind, last []int) error {
	n := len(p.order)
	root := make([]int, n) // value whose buffer a value lives in; -1: none
	bufOf := make([]int, n)
	rootLast := make([]int, n)
	for i := range root {
		root[i], bufOf[i] = -1, -1
	}
	var bufs []*buffer
	size := func(i int) int { return p.order[i].Shape().TotalSize() }
	float := func(i int) bool {
		node := p.order[i]
		return node.Dtype() == tensor.Float32 && len(node.Shape()) > 0
	}
	planned := func(i int) bool { return kind[i] == kOp && root[i] >= 0 }
	view := make([]bool, n)
	for i, node := range p.order {
		if kind[i] != kOp {
			continue
		}
		op := node.Op()
		args := p.args[i]
		switch {
		case isView(op) && len(args) == 1 && float(i) && (kind[args[0]] != kOp || planned(args[0])):
			view[i] = true
			if kind[args[0]] == kOp {
				r := root[args[0]]
				root[i] = r
				rootLast[r] = max(rootLast[r], last[i])
			}
		case float(i):
			k := op.OverwritesInput()
			if k >= 0 && k < len(args) && planned(args[k]) && rootLast[root[args[k]]] <= i &&
				bufs[bufOf[root[args[k]]]].size >= size(i) && float(args[k]) {
				r := root[args[k]]
				root[i] = r
				rootLast[r] = last[i]
				break
			}
			b := pick(bufs, size(i))
			if b < 0 {
				bufs = append(bufs, &buffer{})
				b = len(bufs) - 1
			}
			bufs[b].free = false
			bufs[b].size = max(bufs[b].size, size(i))
			root[i], bufOf[i], rootLast[i] = i, b, last[i]
			e.arenaSum += size(i)
		}
		// Free the buffers whose last reader is this op.
		for _, a := range args {
			if r := root[a]; kind[a] == kOp && r >= 0 && rootLast[r] <= i && bufOf[r] >= 0 {
				bufs[bufOf[r]].free = true
			}
		}
		if r := root[i]; r >= 0 && rootLast[r] <= i { // result read by nobody
			bufs[bufOf[r]].free = true
		}
	}
	// Lay the buffers out in one arena.
	total := 0
	for _, b := range bufs {
		b.off = total
		total += (b.size + align - 1) / align * align
	}
	e.arena = make([]float32, total)
	// Headers, steps and scratch.
	scratchLen := 0
	var scratchers []Scratcher
	for i, node := range p.order {
		if kind[i] != kOp {
			continue
		}
		var d *tensor.Dense
		switch {
		case root[i] >= 0:
			b := bufs[bufOf[root[i]]]
			d = tensor.New(tensor.WithShape(node.Shape()...), tensor.WithBacking(e.arena[b.off:b.off+size(i)]))
			e.planned++
		case view[i]: // a view of an input or constant
			src, ok := e.vals[p.args[i][0]].(*tensor.Dense)
			if !ok || src.Dtype() != tensor.Float32 || src.RequiresIterator() {
				return fmt.Errorf("accel/exec: %v: view of a %T", node.Op(), e.vals[p.args[i][0]])
			}
			d = tensor.New(tensor.WithShape(node.Shape()...), tensor.WithBacking(src.Float32s()[:size(i)]))
		case len(node.Shape()) > 0: // another dtype: its own buffer
			d = tensor.New(tensor.Of(node.Dtype()), tensor.WithShape(node.Shape()...))
		}
		if d != nil {
			e.vals[i] = d
		}
		if view[i] {
			continue
		}
		op := node.Op()
		s := step{node: node, op: op, out: i, buf: d, args: p.args[i], argv: make([]G.Value, len(p.args[i]))}
		if pre, ok := op.(G.UsePreallocDoer); ok && d != nil {
			s.pre = pre
		} else {
			e.fallback = append(e.fallback, op.String())
		}
		if sc, ok := op.(Scratcher); ok {
			scratchLen = max(scratchLen, sc.ScratchLen())
			scratchers = append(scratchers, sc)
		}
		e.steps = append(e.steps, s)
	}
	e.scratch = make([]float32, scratchLen)
	for _, sc := range scratchers {
		sc.SetScratch(e.scratch)
	}
	return nil
}

// pick returns the free buffer that fits size best: the smallest that
// holds it, else the largest (which will grow), else -1.
func pick(bufs []*buffer, size int) int {
	var fit, grow []int
	for i, b := range bufs {
		if !b.free {
			continue
		}
		if b.size >= size {
			fit = append(fit, i)
		} else {
			grow = append(grow, i)
		}
	}
	if len(fit) > 0 {
		sort.Slice(fit, func(a, b int) bool { return bufs[fit[a]].size < bufs[fit[b]].size })
		return fit[0]
	}
	if len(grow) > 0 {
		sort.Slice(grow, func(a, b int) bool { return bufs[grow[a]].size > bufs[grow[b]].size })
		return grow[0]
	}
	return -1
}

// isView reports whether op's output is its input with another shape.
func isView(op G.Op) bool {
	if v, ok := op.(Viewer); ok {
		return v.IsView()
	}
	// gorgonia's reshapeOp is unexported; its Do shallow-clones the input.
	return fmt.Sprintf("%T", op) == "gorgonia.reshapeOp"
}
