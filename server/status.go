package server

import (
	"net/http"

	"github.com/gannet-ml/gannet/wire"
)

// statusOf maps an error's kind to its HTTP status. This is the one place
// that does so. It follows Triton: invalid 400, not found 404, unavailable
// and deadline 503, unsupported 501, internal and unclassified 500; and
// too large 413.
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
