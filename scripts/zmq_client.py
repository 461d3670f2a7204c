#!/usr/bin/python3
"""Send one inference REQUEST to a Gannet server's ZeroMQ client endpoint
and print the answer. An example of the client protocol in
docs/protocol.md (section 6), written from that document alone.

Usage:
    scripts/zmq_client.py [--endpoint tcp://127.0.0.1:5555]
                          [--model fashion-mnist-mlp] [--input input]
                          [--image N | --zeros]
                          [--data-dir /usr/share/datasets/fashion-mnist]
                          [--timeout-ms 5000] [--id 1] [--hexdump]

    --image N   send test image N of Fashion-MNIST (gzip'd IDX files in
                --data-dir), as float32 pixels/255, shape [1,1,28,28]
    --zeros     send an all-zero image of that shape (the default)
    --hexdump   also print the REQUEST header frame and the answer's header
                frame in hex

It prints each output tensor of a RESPONSE (name, datatype, shape, values;
for a [1,10] "logits" output also the arg max), or the kind and message of
a FAILURE, in which case it exits with status 2. It exits with status 3 if
no answer comes within the timeout (plus one second).

Needs pyzmq and numpy (Debian: python3-zmq, python3-numpy).
"""

import argparse
import gzip
import os
import struct
import sys

import numpy as np
import zmq

# Header prefix: 'G', protocol letter 'C', version 1, command (section 2.2).
MAGIC, PROTO_CLIENT, VERSION = 0x47, 0x43, 1
CMD_REQUEST, CMD_RESPONSE, CMD_FAILURE = 0x01, 0x02, 0x03

# Datatype codes (section 3): name, numpy dtype (little-endian).
DATATYPES = {
    1: ("BOOL", "u1"), 2: ("UINT8", "<u1"), 3: ("UINT16", "<u2"),
    4: ("UINT32", "<u4"), 5: ("UINT64", "<u8"), 6: ("INT8", "<i1"),
    7: ("INT16", "<i2"), 8: ("INT32", "<i4"), 9: ("INT64", "<i8"),
    10: ("FP16", "<f2"), 11: ("FP32", "<f4"), 12: ("FP64", "<f8"),
    13: ("BF16", "<u2"),  # raw bits: numpy has no bfloat16
}
CODES = {name: code for code, (name, _) in DATATYPES.items()}

# Error kinds (section 4).
KINDS = ["unknown", "invalid", "not_found", "unavailable", "deadline",
         "internal", "unsupported", "too_large"]

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class Malformed(Exception):
    pass


def put_str(s):
    """str: u16 byte length, then the bytes (section 2.3)."""
    b = s.encode("utf-8")
    if len(b) > 0xFFFF:
        raise ValueError("string longer than 65535 bytes")
    return struct.pack("<H", len(b)) + b


def encode_request(req_id, model, inputs, version="", timeout_us=0,
                   priority=0, outputs=()):
    """Frames of a REQUEST (section 6.1): [header, data frame per input].
    inputs is a list of (name, numpy array)."""
    h = bytearray(struct.pack("<BBBB", MAGIC, PROTO_CLIENT, VERSION, CMD_REQUEST))
    h += struct.pack("<Q", req_id)
    h += put_str(model)
    h += put_str(version)
    h += struct.pack("<q", timeout_us)
    h += struct.pack("<i", priority)
    h += struct.pack("<H", len(outputs))
    for name in outputs:
        h += put_str(name)
    # Tensor list (section 2.4): count, then descriptors.
    h += struct.pack("<H", len(inputs))
    data = []
    for name, arr in inputs:
        dtname = {"float32": "FP32", "float64": "FP64", "uint8": "UINT8",
                  "int32": "INT32", "int64": "INT64", "bool": "BOOL"}[arr.dtype.name]
        h += struct.pack("<B", CODES[dtname])
        h += put_str(name)
        h += struct.pack("<B", arr.ndim)
        h += struct.pack("<%dq" % arr.ndim, *arr.shape)
        # Row-major, little-endian, no padding.
        data.append(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes())
    return [bytes(h)] + data


class Reader:
    """Reads header fields in order; every shortfall is malformed."""

    def __init__(self, b, pos=0):
        self.b, self.pos = b, pos

    def take(self, n, what):
        if self.pos + n > len(self.b):
            raise Malformed("truncated header reading " + what)
        v = self.b[self.pos:self.pos + n]
        self.pos += n
        return v

    def u8(self, what):
        return self.take(1, what)[0]

    def u16(self, what):
        return struct.unpack("<H", self.take(2, what))[0]

    def u64(self, what):
        return struct.unpack("<Q", self.take(8, what))[0]

    def i64(self, what):
        return struct.unpack("<q", self.take(8, what))[0]

    def str(self, what):
        n = self.u16(what)
        return self.take(n, what).decode("utf-8", "replace")

    def tensors(self, data_frames):
        n = self.u16("tensor count")
        if n != len(data_frames):
            raise Malformed("header lists %d tensors but %d data frames follow" % (n, len(data_frames)))
        out = []
        for frame in data_frames:
            code = self.u8("tensor datatype")
            name = self.str("tensor name")
            rank = self.u8("tensor rank")
            if code not in DATATYPES:
                raise Malformed("tensor %r has unknown datatype code %d" % (name, code))
            if rank > 16:
                raise Malformed("tensor %r has rank %d" % (name, rank))
            shape = [self.i64("tensor dimension") for _ in range(rank)]
            dtname, npdt = DATATYPES[code]
            size = np.dtype(npdt).itemsize * int(np.prod(shape, dtype=np.int64))
            if any(d < 0 for d in shape) or len(frame) != size:
                raise Malformed("tensor %r: %d data bytes for shape %s of %s" % (name, len(frame), shape, dtname))
            out.append((name, dtname, shape, np.frombuffer(frame, dtype=npdt).reshape(shape)))
        return out

    def done(self):
        if self.pos != len(self.b):
            raise Malformed("%d unexpected trailing bytes in header" % (len(self.b) - self.pos))


def decode_answer(frames):
    """Decode a RESPONSE or FAILURE (section 6.1) into a dict."""
    h = frames[0]
    if len(h) < 4 or h[0] != MAGIC or h[1] != PROTO_CLIENT:
        raise Malformed("frame 0 does not start with 'GC'")
    if h[2] != VERSION:
        raise Malformed("protocol version %d" % h[2])
    r = Reader(h, 4)
    if h[3] == CMD_RESPONSE:
        msg = {"cmd": "RESPONSE", "id": r.u64("request id"), "model": r.str("model"),
               "version": r.str("version")}
        msg["outputs"] = r.tensors(frames[1:])
    elif h[3] == CMD_FAILURE:
        msg = {"cmd": "FAILURE", "id": r.u64("request id"), "kind": r.u8("kind"),
               "message": r.str("message")}
        if len(frames) != 1:
            raise Malformed("FAILURE takes no data frames")
    else:
        raise Malformed("unknown client command 0x%02x" % h[3])
    r.done()
    return msg


def fashion_image(data_dir, index):
    """Test image `index` as float32 pixels/255, shape [1,1,28,28]."""
    path = os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 0x00000803 or (rows, cols) != (28, 28):
        raise SystemExit("%s: not an IDX file of 28x28 images" % path)
    if not 0 <= index < count:
        raise SystemExit("image index %d out of range 0..%d" % (index, count - 1))
    off = 16 + index * 784
    pixels = np.frombuffer(raw[off:off + 784], dtype=np.uint8)
    return (pixels.astype(np.float32) / 255.0).reshape(1, 1, 28, 28)


def hexdump(b):
    for off in range(0, len(b), 16):
        chunk = b[off:off + 16]
        hx = " ".join("%02x" % c for c in chunk)
        asc = "".join(chr(c) if 32 <= c < 127 else "." for c in chunk)
        print("  %08x  %-47s  |%s|" % (off, hx, asc))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:5555")
    ap.add_argument("--model", default="fashion-mnist-mlp")
    ap.add_argument("--input", default="input", help="the model's input name")
    ap.add_argument("--version", default="")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--image", type=int, help="Fashion-MNIST test image index")
    g.add_argument("--zeros", action="store_true", help="send an all-zero image (default)")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--timeout-ms", type=int, default=5000)
    ap.add_argument("--id", type=int, default=1, help="request id (>= 1)")
    ap.add_argument("--hexdump", action="store_true")
    args = ap.parse_args()

    if args.image is not None:
        x = fashion_image(args.data_dir, args.image)
    else:
        x = np.zeros((1, 1, 28, 28), dtype=np.float32)
    frames = encode_request(args.id, args.model, [(args.input, x)], version=args.version,
                            timeout_us=args.timeout_ms * 1000)
    if args.hexdump:
        print("REQUEST frame 0 (%d bytes):" % len(frames[0]))
        hexdump(frames[0])
        print("REQUEST data frames: %s bytes" % [len(f) for f in frames[1:]])

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)  # DEALER: no empty delimiter frame
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(args.endpoint)
    try:
        sock.send_multipart(frames)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        wait_ms = args.timeout_ms + 1000
        while True:
            if not poller.poll(wait_ms):
                print("no answer within %d ms" % wait_ms, file=sys.stderr)
                return 3
            reply = sock.recv_multipart()
            if args.hexdump:
                print("answer frame 0 (%d bytes):" % len(reply[0]))
                hexdump(reply[0])
            msg = decode_answer(reply)
            if msg["id"] in (args.id, 0):  # id 0: the request could not be decoded
                break
            print("ignoring an answer to request %d" % msg["id"], file=sys.stderr)
    finally:
        sock.close()
        ctx.term()

    if msg["cmd"] == "FAILURE":
        k = msg["kind"]
        kind = KINDS[k] if k < len(KINDS) else "kind(%d)" % k
        print("FAILURE id=%d kind=%s (%d): %s" % (msg["id"], kind, k, msg["message"]))
        return 2
    print("RESPONSE id=%d model=%s version=%s" % (msg["id"], msg["model"], msg["version"]))
    for name, dtname, shape, arr in msg["outputs"]:
        print("  %s %s %s" % (name, dtname, shape))
        with np.printoptions(precision=6, suppress=True, linewidth=120):
            print("  " + np.array2string(arr, separator=", ").replace("\n", "\n  "))
        if name == "logits" and shape == [1, 10]:
            c = int(np.argmax(arr[0]))
            print("  argmax: %d (%s)" % (c, FASHION_CLASSES[c]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
