// Package wire holds the types and message formats shared by the frontend
// (package server and dispatch), the worker processes and the Go SDK: the
// tensor type, the error kinds that travel from worker to frontend to client,
// and the binary frame encodings of the two ZeroMQ protocols (frontend <->
// worker, client <-> frontend). docs/protocol.md describes every frame.
//
// The package depends on the standard library only. Its values are plain
// data: nothing here is safe for concurrent mutation, but immutable values
// may be shared freely.
package wire
