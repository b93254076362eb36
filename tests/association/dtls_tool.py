#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Attack helpers for tests/association/attacks.sh (standard library only).

relay LISTEN_PORT_FILE TARGET_PORT SECONDS
    A UDP relay on 127.0.0.1 between one device and the gateway. After the
    handshake (from the first application_data record on), every
    application_data record the device sends is forwarded three times: first
    with one bit of its ciphertext flipped (corrupted), then as it is, then
    again unchanged (replayed). Prints "corrupted N", "replayed N" at the end.

flood TARGET_PORT COUNT
    COUNT DTLS 1.2 ClientHellos without a cookie, each from a new source port
    (as from spoofed addresses), at the gateway. Prints
    "sent N answered M verify_requests V": a stateless server answers each
    with a HelloVerifyRequest (handshake type 3) and keeps nothing.
"""
import os
import select
import socket
import struct
import sys
import time


def relay(port_file, target, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.connect(("127.0.0.1", target))
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.rename(tmp, port_file)
    device = None
    corrupted = replayed = 0
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([s, up], [], [], 0.2)
        if s in r:
            data, device = s.recvfrom(65536)
            if len(data) > 13 and data[0] == 23:
                bad = bytearray(data)
                bad[-1] ^= 0x01
                up.send(bytes(bad))
                corrupted += 1
                up.send(data)
                up.send(data)
                replayed += 1
            else:
                up.send(data)
        if up in r:
            try:
                data = up.recv(65536)
            except ConnectionRefusedError:
                continue
            if device is not None:
                s.sendto(data, device)
    print("corrupted %d replayed %d" % (corrupted, replayed), flush=True)


def client_hello():
    sni = b"gw.example"
    ext_sni = struct.pack("!HHHBH", 0, len(sni) + 5, len(sni) + 3, 0, len(sni)) + sni
    exts = ext_sni
    body = (b"\xfe\xfd" + os.urandom(32) + b"\x00" + b"\x00" +
            struct.pack("!H", 2) + b"\xc0\xa8" + b"\x01\x00" +
            struct.pack("!H", len(exts)) + exts)
    hs = struct.pack("!B", 1) + len(body).to_bytes(3, "big") + b"\x00\x00" + \
        b"\x00\x00\x00" + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 22, 0xfefd, 0) + b"\x00" * 6 + struct.pack("!H", len(hs)) + hs


def flood(target, count):
    answered = hvr = 0
    socks = []
    for _ in range(count):
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.bind(("127.0.0.1", 0))
        c.sendto(client_hello(), ("127.0.0.1", target))
        socks.append(c)
        if len(socks) >= 50:
            answered, hvr = collect(socks, answered, hvr)
            socks = []
    answered, hvr = collect(socks, answered, hvr)
    print("sent %d answered %d verify_requests %d" % (count, answered, hvr), flush=True)


def collect(socks, answered, hvr):
    deadline = time.time() + 2
    pending = list(socks)
    while pending and time.time() < deadline:
        r, _, _ = select.select(pending, [], [], 0.2)
        for c in r:
            data = c.recv(65536)
            answered += 1
            if len(data) > 13 and data[0] == 22 and data[13] == 3:
                hvr += 1
            pending.remove(c)
    for c in socks:
        c.close()
    return answered, hvr


if __name__ == "__main__":
    if sys.argv[1] == "relay":
        relay(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1] == "flood":
        flood(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("usage: dtls_tool.py relay|flood ...")
