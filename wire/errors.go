package wire

import (
	"errors"
	"fmt"
)

// Kind classifies an error. Kinds are wire-stable (they travel from worker
// to frontend and from frontend to SDK as one byte) and map to one HTTP
// status each, in package server.
type Kind uint8

// Error kinds.
const (
	KindUnknown     Kind = iota // unclassified; treated as internal
	KindInvalid                 // the request is malformed or does not fit the model (HTTP 400)
	KindNotFound                // no such model or version (404)
	KindUnavailable             // no replica, queue full, shutting down, worker lost (503)
	KindDeadline                // the request's deadline passed before it could run (503)
	KindInternal                // a bug or a model failure (500)
	KindUnsupported             // valid but not supported here (501)
	KindTooLarge                // the request body exceeds the limit (413)
	numKinds
)

var kindNames = [numKinds]string{"unknown", "invalid", "not_found", "unavailable",
	"deadline", "internal", "unsupported", "too_large"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error is an error with a Kind. Msg is shown to clients as is.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error of kind k with a formatted message. Wrapped errors
// (%w) are flattened into the message: the kind is what travels.
func Errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// KindOf returns the Kind of the first *Error in err's chain, or KindUnknown.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}
