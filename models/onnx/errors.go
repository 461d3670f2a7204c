package onnx

import "fmt"

// kindErr is an error whose message is only its reason but which unwraps to
// one of the sentinels, so that a NodeError reads
// `node "Conv_3" (Conv): group=2 is not supported` and still matches
// errors.Is(err, ErrUnsupported).
type kindErr struct {
	kind error
	msg  string
}

func (e *kindErr) Error() string { return e.msg }
func (e *kindErr) Unwrap() error { return e.kind }

func unsupported(format string, args ...any) error {
	return &kindErr{ErrUnsupported, fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error {
	return &kindErr{ErrInvalid, fmt.Sprintf(format, args...)}
}

func badInput(format string, args ...any) error {
	return &kindErr{ErrBadInput, fmt.Sprintf(format, args...)}
}

func internal(format string, args ...any) error {
	return &kindErr{ErrInternal, fmt.Sprintf(format, args...)}
}
