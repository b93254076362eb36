#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The ESPrim worked examples of docs/PROTOCOL.md section 9.7, computed
without any m2msec code: Python's hmac/hashlib for sessionESPrimKey and
the `cryptography` package's AESGCM for the JWE.

    esprim_examples.py generate        print the example blocks (for the doc)
    esprim_examples.py check DOC       recompute every esprim-example block of
                                       DOC from its inputs and compare

`check` prints one "ok - ..." / "not ok - ..." line per value and exits 1 if
any differs; without the cryptography package it checks the HMAC part only,
says so, and exits 77 if nothing could be checked at all.
"""
import base64
import datetime
import hashlib
import hmac
import json
import sys

LABEL = b"oneM2M HMAC-SHA256 sessionESPrimKey derivation algorithm"
ENC = {"A128GCM": (10, 16), "A192GCM": (11, 24), "A256GCM": (12, 32)}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def ts(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")


def rand_json(rid, value, expiry, keygen, aeads):
    """The RandObject JSON exactly as m2msec writes it (PROTOCOL.md 9.2)."""
    return json.dumps({"esprimRandID": rid, "esprimRandValue": b64u(value),
                       "esprimRandExpiry": ts(expiry), "esprimKeyGenAlgIDs": keygen,
                       "esprimProtocolAndAlgIDs": aeads}, separators=(",", ":"))


def header_json(enc, kid, ori, rri, cty=None, oro=None):
    h = '{"alg":"dir","enc":"%s","kid":"%s"' % (enc, kid)
    if cty is not None:
        h += ',"cty":"%s"' % cty
    h += ',"ori":"%s","rri":"%s"' % (ori, rri)
    if oro is not None:
        h += ',"oro":' + oro
    return h + "}"


def session_key(key, rrand, orand):
    return hmac.new(key, rrand + orand + LABEL, hashlib.sha256).digest()


def wrap(name, value, width=64):
    lines = ["%s = %s" % (name, value[:width])]
    for i in range(width, len(value), width):
        lines.append("    " + value[i:i + width])
    return "\n".join(lines)


def generate():
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    key = bytes(range(0x40, 0x60))
    kid = "m2msec-example-kid"
    now = 4102441200                      # 20991231T230000
    rexp = 4102444800                     # 21000101T000000
    oexp = now + 1800                     # originator lifetime 1800 s
    rrand = bytes(range(0xa0, 0xb0))
    rjson = rand_json("rRecv01", rrand, rexp, [1], [10, 11, 12])
    cases = [
        # title, direction, ori, orig value, orig AEADs, enc, cty, with oro, iv, plaintext
        ("1: the Originator's first request (A128GCM, with oro)", "request", "oOrig01",
         bytes(range(0xb0, 0xc0)), [10, 11, 12], "A128GCM", None, True,
         bytes(range(0x10, 0x1c)),
         '{"m2m:rqp":{"op":1,"to":"/cse-in/sensor01","fr":"CAEdevice01","rqi":"rq-0001",'
         '"ty":4,"pc":{"m2m:cin":{"con":"21.5"}},"rvi":"4"}}'),
        ("2: the Receiver's response to it (A128GCM)", "response", "oOrig01",
         bytes(range(0xb0, 0xc0)), [10, 11, 12], "A128GCM", None, False,
         bytes(range(0x20, 0x2c)), '{"m2m:rsp":{"rsc":2001,"rqi":"rq-0001","rvi":"4"}}'),
        ("3: a new Originator RandObject, A192GCM, with cty", "request", "oOrig02",
         bytes(range(0xc0, 0xd0)), [11, 12], "A192GCM", "application/json", True,
         bytes(range(0x30, 0x3c)),
         '{"m2m:rqp":{"op":2,"to":"/cse-in/sensor01/la","fr":"CAEdevice01","rqi":"rq-0002",'
         '"rvi":"4"}}'),
        ("4: a new Originator RandObject, A256GCM", "request", "oOrig03",
         bytes(range(0xd0, 0xe0)), [12], "A256GCM", None, True,
         bytes(range(0x40, 0x4c)),
         '{"m2m:rqp":{"op":4,"to":"/cse-in/sensor01","fr":"CAEdevice01","rqi":"rq-0003",'
         '"rvi":"4"}}'),
    ]
    for title, direction, ori, ovalue, oaeads, enc, cty, with_oro, iv, pt in cases:
        ojson = rand_json(ori, ovalue, oexp, 1, oaeads)
        sk = session_key(key, rrand, ovalue)
        cek = sk[:ENC[enc][1]]
        hdr = header_json(enc, kid, ori, "rRecv01", cty, ojson if with_oro else None)
        aad = b64u(hdr.encode())
        out = AESGCM(cek).encrypt(iv, pt.encode(), aad.encode("ascii"))
        ct, tag = out[:-16], out[-16:]
        jwe = ".".join([aad, "", b64u(iv), b64u(ct), b64u(tag)])
        print("**Example %s**" % title)
        print()
        print("```esprim-example")
        print("direction = %s" % direction)
        print(wrap("key", key.hex()))
        print("kid = %s" % kid)
        print("now = %s" % ts(now))
        print("originator-lifetime = 1800")
        print("receiver-rand = %s" % rjson)
        print("originator-rand = %s" % ojson)
        print(wrap("mac-data", (rrand + ovalue + LABEL).hex()))
        print(wrap("session-key", sk.hex()))
        print("enc = %s" % enc)
        print(wrap("cek", cek.hex()))
        print("protected-header = %s" % hdr)
        print(wrap("aad", aad))
        print("iv = %s" % iv.hex())
        print("plaintext = %s" % pt)
        print(wrap("ciphertext", ct.hex()))
        print("tag = %s" % tag.hex())
        print(wrap("jwe", jwe))
        print("```")
        print()


def blocks(doc):
    """Every esprim-example block of doc as an ordered dict of name -> value."""
    out, cur, last = [], None, None
    for line in open(doc, encoding="utf-8"):
        line = line.rstrip("\n")
        if cur is None:
            if line.strip() == "```esprim-example":
                cur, last = {}, None
            continue
        if line.strip() == "```":
            out.append(cur)
            cur = None
            continue
        if line[:1] in (" ", "\t") and last is not None:
            cur[last] += line.strip()
            continue
        name, _, value = line.partition(" = ")
        cur[name] = value
        last = name
    return out


def check(doc):
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        AESGCM = None
        print("# python3 cryptography not installed: only the HMAC part is recomputed here")
    bad = n = 0

    def cmp(label, got, want):
        nonlocal bad, n
        n += 1
        if got == want:
            print("ok - %s" % label)
        else:
            bad += 1
            print("not ok - %s\n#   documented: %s\n#   recomputed: %s" % (label, want, got))

    found = blocks(doc)
    for i, b in enumerate(found, 1):
        key = bytes.fromhex(b["key"])
        r = json.loads(b["receiver-rand"])
        o = json.loads(b["originator-rand"])
        rrand, orand = unb64u(r["esprimRandValue"]), unb64u(o["esprimRandValue"])
        cmp("example %d: receiver RandObject JSON is m2msec's form" % i, rand_json(
            r["esprimRandID"], rrand,
            int(datetime.datetime.strptime(r["esprimRandExpiry"], "%Y%m%dT%H%M%S").replace(
                tzinfo=datetime.timezone.utc).timestamp()),
            r["esprimKeyGenAlgIDs"], r["esprimProtocolAndAlgIDs"]), b["receiver-rand"])
        mac_data = rrand + orand + LABEL
        cmp("example %d: HMAC input" % i, mac_data.hex(), b["mac-data"])
        sk = session_key(key, rrand, orand)
        cmp("example %d: sessionESPrimKey (hmac/hashlib)" % i, sk.hex(), b["session-key"])
        cek = sk[:ENC[b["enc"]][1]]
        cmp("example %d: CEK = first %d bytes" % (i, len(cek)), cek.hex(), b["cek"])
        hdr = json.loads(b["protected-header"])
        cmp("example %d: header names the example's enc, ori, rri" % i,
            (hdr["alg"], hdr["enc"], hdr["ori"], hdr["rri"]),
            ("dir", b["enc"], o["esprimRandID"], r["esprimRandID"]))
        aad = b64u(b["protected-header"].encode())
        cmp("example %d: AAD = BASE64URL(header)" % i, aad, b["aad"])
        parts = b["jwe"].split(".")
        cmp("example %d: JWE parts" % i, parts,
            [b["aad"], "", b64u(bytes.fromhex(b["iv"])), b64u(bytes.fromhex(b["ciphertext"])),
             b64u(bytes.fromhex(b["tag"]))])
        if AESGCM is not None:
            out = AESGCM(cek).encrypt(bytes.fromhex(b["iv"]), b["plaintext"].encode(),
                                      aad.encode("ascii"))
            cmp("example %d: ciphertext (cryptography AESGCM)" % i, out[:-16].hex(),
                b["ciphertext"])
            cmp("example %d: tag (cryptography AESGCM)" % i, out[-16:].hex(), b["tag"])
    if len(found) < 4:
        bad += 1
        print("not ok - expected at least 4 esprim-example blocks, found %d" % len(found))
    print("# %d checks, %d failed" % (n, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "generate":
        generate()
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
