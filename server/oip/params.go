package oip

import (
	"strconv"
)

// null consumes a null value.
func (s *scanner) null(what string) error {
	if !s.literal("null") {
		return s.errAt("invalid literal for " + what)
	}
	return nil
}

// params iterates over a "parameters" object (null allowed), calling fn for
// each member with the scanner at the value. fn must consume the value; it
// returns handled=false to have a scalar value validated and skipped.
func (s *scanner) params(where func() string, fn func(key []byte) (handled bool, err error)) error {
	switch c := s.ws(); c {
	case 'n':
		return s.null(where() + "\"parameters\"")
	case '{':
	default:
		return invalid("%s\"parameters\" must be an object, not %s", where(), kindName(c))
	}
	if err := s.open('{', "'{'"); err != nil {
		return err
	}
	first := true
	for {
		key, ok, err := s.member(&first)
		if err != nil || !ok {
			return err
		}
		switch c := s.ws(); c {
		case '{', '[', 'n', 0:
			return invalid("%sparameter %q must be a string, number or boolean, not %s", where(), key, kindName(c))
		}
		handled, err := fn(key)
		if err != nil {
			return err
		}
		if !handled {
			if err := s.skipValue(); err != nil {
				return err
			}
		}
	}
}

// boolParam reads a boolean parameter value.
func (s *scanner) boolParam(where func() string, key []byte) (bool, error) {
	switch {
	case s.literal("true"):
		return true, nil
	case s.literal("false"):
		return false, nil
	}
	return false, invalid("%sparameter %q must be a boolean, not %s", where(), key, kindName(s.ws()))
}

// uintParam reads a non-negative integer parameter value.
func (s *scanner) uintParam(where func() string, key []byte) (int64, error) {
	c := s.ws()
	if c == '-' || c >= '0' && c <= '9' {
		var num number
		if err := s.num(&num); err != nil {
			return 0, err
		}
		tok := num.tok
		if v, ok := nonNegInt(tok); ok && num.isInt {
			return v, nil
		}
		return 0, invalid("%sparameter %q must be a non-negative integer, not %s", where(), key, tok)
	}
	return 0, invalid("%sparameter %q must be a non-negative integer, not %s", where(), key, kindName(c))
}

func (d *decoder) requestParams(req *Request) error {
	s := &d.s
	where := func() string { return "request " }
	return s.params(where, func(key []byte) (bool, error) {
		var err error
		switch string(key) {
		case "binary_data_output":
			req.BinaryOutput, err = s.boolParam(where, key)
		case "priority":
			req.Priority, err = s.uintParam(where, key)
		case "timeout":
			req.TimeoutMicros, err = s.uintParam(where, key)
		default:
			return false, nil
		}
		return true, err
	})
}

func (d *decoder) inputParams(in *input, idx int) error {
	s := &d.s
	where := func() string { return "input " + in.label(idx) + ": " }
	return s.params(where, func(key []byte) (bool, error) {
		if string(key) != "binary_data_size" {
			return false, nil
		}
		v, err := s.uintParam(where, key)
		in.binarySize = v
		return true, err
	})
}

// outputs parses the "outputs" array; it returns each output's binary_data
// parameter (-1 when absent), resolved by the caller.
func (d *decoder) outputs(req *Request) ([]int8, error) {
	s := &d.s
	switch c := s.ws(); c {
	case 'n':
		return nil, s.null("\"outputs\"")
	case '[':
	default:
		return nil, invalid("\"outputs\" must be an array, not %s", kindName(c))
	}
	if err := s.open('[', "'['"); err != nil {
		return nil, err
	}
	var bin []int8
	first := true
	for i := 0; ; i++ {
		ok, err := s.element(&first)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		o, b, err := d.output(i)
		if err != nil {
			return nil, err
		}
		req.Outputs = append(req.Outputs, o)
		bin = append(bin, b)
	}
	if err := checkDuplicates(len(req.Outputs), func(i int) string { return req.Outputs[i].Name }, "output"); err != nil {
		return nil, err
	}
	return bin, nil
}

func (d *decoder) output(idx int) (Output, int8, error) {
	s := &d.s
	var o Output
	bin := int8(-1)
	if c := s.ws(); c != '{' {
		return o, 0, invalid("output %d must be an object, not %s", idx, kindName(c))
	}
	if err := s.open('{', "'{'"); err != nil {
		return o, 0, err
	}
	hasName, hasParams := false, false
	first := true
	for {
		key, ok, err := s.member(&first)
		if err != nil {
			return o, 0, err
		}
		if !ok {
			break
		}
		switch string(key) {
		case "name":
			if hasName {
				return o, 0, invalid("output %d has \"name\" twice", idx)
			}
			hasName = true
			if c := s.ws(); c != '"' {
				return o, 0, invalid("output %d: \"name\" must be a string, not %s", idx, kindName(c))
			}
			o.Name, err = s.strValue()
		case "parameters":
			if hasParams {
				return o, 0, invalid("output %d has \"parameters\" twice", idx)
			}
			hasParams = true
			where := func() string { return "output " + strconv.Itoa(idx) + ": " }
			err = s.params(where, func(key []byte) (bool, error) {
				if string(key) != "binary_data" {
					return false, nil
				}
				v, err := s.boolParam(where, key)
				bin = 0
				if v {
					bin = 1
				}
				return true, err
			})
		default:
			err = s.skipValue()
		}
		if err != nil {
			return o, 0, err
		}
	}
	if !hasName {
		return o, 0, invalid("output %d has no \"name\"", idx)
	}
	return o, bin, nil
}
