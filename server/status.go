package server

import (
	"net/http"

	"github.com/gannet-ml/gannet/wire"
)

// statusOf maps an error's kind to its HTTP status. This is the one place
// that does so (Triton's mapping: unavailable 503, not found 404,
// unsupported 501, internal 500, the rest 400).
func statusOf(err error) int {
	switch wire.KindOf(err) {
	case wire.KindInvalid:
		return http.StatusBadRequest
	case wire.KindNotFound:
		return http.StatusNotFound
	case wire.KindUnavailable, wire.KindDeadline:
		return http.StatusServiceUnavailable
	case wire.KindUnsupported:
		return http.StatusNotImplemented
	case wire.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	default:
		return http.StatusInternalServerError
	}
}
