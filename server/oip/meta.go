package oip

import (
	"github.com/gannet-ml/gannet/wire"
)

// AppendServerMetadata appends the server metadata response
// {"name":..,"version":..,"extensions":[..]} to dst.
func AppendServerMetadata(dst []byte, name, version string, extensions []string) []byte {
	dst = append(dst, `{"name":`...)
	dst = AppendJSONString(dst, name)
	dst = append(dst, `,"version":`...)
	dst = AppendJSONString(dst, version)
	dst = append(dst, `,"extensions":`...)
	dst = appendStrings(dst, extensions)
	return append(dst, '}')
}

// AppendModelMetadata appends the model metadata response
// {"name":..,"versions":[..],"platform":..,"inputs":[..],"outputs":[..]} to
// dst, each tensor as {"name","datatype","shape"} with -1 for variable
// dimensions. "versions" is m.Versions, or [m.Version] when that is empty,
// and is omitted when both are.
func AppendModelMetadata(dst []byte, m *wire.ModelMetadata) []byte {
	dst = append(dst, `{"name":`...)
	dst = AppendJSONString(dst, m.Name)
	switch {
	case len(m.Versions) > 0:
		dst = append(dst, `,"versions":`...)
		dst = appendStrings(dst, m.Versions)
	case m.Version != "":
		dst = append(dst, `,"versions":[`...)
		dst = AppendJSONString(dst, m.Version)
		dst = append(dst, ']')
	}
	dst = append(dst, `,"platform":`...)
	dst = AppendJSONString(dst, m.Platform)
	dst = append(dst, `,"inputs":`...)
	dst = appendSpecs(dst, m.Inputs)
	dst = append(dst, `,"outputs":`...)
	dst = appendSpecs(dst, m.Outputs)
	return append(dst, '}')
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, s)
	}
	return append(dst, ']')
}

func appendSpecs(dst []byte, specs []wire.TensorSpec) []byte {
	dst = append(dst, '[')
	for i := range specs {
		t := &specs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = AppendJSONString(dst, t.Name)
		dst = append(dst, `,"datatype":`...)
		dst = AppendJSONString(dst, t.DataType.String())
		dst = append(dst, `,"shape":`...)
		dst = appendShape(dst, t.Shape)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}
