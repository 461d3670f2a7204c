// Package oip is the codec of the KServe Open Inference Protocol v2 (OIP,
// "V2") over HTTP/REST, with Triton's binary tensor data extension. It owns
// the byte formats and nothing else: decoding an infer request body into
// tensors (DecodeRequest), encoding infer responses, errors and metadata
// (AppendResponse, AppendError, AppendServerMetadata, AppendModelMetadata),
// and the request and response Content-Encoding (Decompress, Compress,
// NegotiateEncoding). It does no I/O and knows no HTTP library: the server
// passes body bytes in and writes the appended bytes out.
//
// Decoded requests own all their memory: nothing aliases the body, which a
// fasthttp handler may only use until it returns. Every decoding error is a
// *wire.Error of kind wire.KindInvalid (HTTP 400) whose message names the
// input, the field and what was expected, except Decompress, which reports an
// oversized body as wire.KindTooLarge (HTTP 413).
//
// Choices where the protocol is silent:
//
//   - Tensor "data" may be flat or nested in any mix; only the row-major order
//     and the element count matter ([[1,2],[3,4]], [1,2,3,4] and [[1],2,[3,4]]
//     decode alike). The count must equal the product of the shape.
//   - BOOL elements are JSON true/false only (not 0/1); integer types take
//     JSON integers only (no fraction, no exponent), range-checked; FP32/FP64
//     take any JSON number, plus the bare tokens NaN, Infinity and -Infinity
//     that AppendResponse writes for non-finite values (as Triton, whose
//     rapidjson reads and writes them). A finite literal outside the FP32 or
//     FP64 range is an error. FP16 and BF16 data must use the binary
//     extension, as in Triton.
//   - Binary BOOL bytes must be 0 or 1.
//   - JSON nesting depth counts every open object and array, the request
//     object itself being 1: with the default limit of 100 a document whose
//     deepest point has 100 open containers is accepted, 101 is refused.
//   - null for an optional member ("id", "parameters", "outputs", an input's or
//     output's "parameters") means absent; an empty "outputs" array means all
//     outputs. Unknown members and parameters are ignored, but their values must
//     still be valid JSON (and parameters must be string, number or bool).
//   - A known member ("id", "parameters", "inputs", "outputs", "name",
//     "shape", "datatype", "data") given twice in one object is an error; of
//     a parameter given twice, the last counts.
//   - Strings are decoded fully (escapes, surrogate pairs); a lone surrogate
//     or invalid UTF-8 becomes U+FFFD, as in encoding/json.
//   - Oversized inputs (limits.MaxTensorBytes) are refused before anything is
//     allocated for them, and as a 400 like Triton's, not a 413: the body
//     itself was within the server's limit.
//   - Responses write FP32 with the shortest representation that round-trips
//     float32, FP64 likewise for float64, non-finite values as the bare tokens
//     NaN, Infinity and -Infinity (not standard JSON, but what Triton writes
//     and what Python's json module reads), and FP16/BF16 outputs requested as
//     JSON as their exact float32 value.
//
// All functions are safe for concurrent use.
package oip
