// Package dispatch owns the frontend's worker-facing ZeroMQ ROUTER socket:
// the registry of connected workers, their heartbeats, the placement of
// models on workers (LOAD, content-addressed), the replica slots the
// batchers acquire, and the matching of RESULT and ERROR replies to the
// batches in flight.
//
// Warm-pool workers announced with Park are parked at HELLO (registered,
// heartbeated, on no model, no replica) until Assign gives them a model;
// see park.go.
//
// One goroutine (a zsock.Loop) owns the socket and all registry state.
// Other goroutines reach it through the loop's mailbox (Slot.Run) and read
// only the per-model slot lists (guarded by a mutex) and atomic counters, so
// a Dispatcher is safe for concurrent use.
//
// When a worker dies (silent for Liveness heartbeat intervals, sends
// DISCONNECT, or cannot be routed to), its batches in flight run again on
// another replica of the model (once per batch, within its deadline); a late
// reply from the dead worker matches nothing and is dropped.
package dispatch
