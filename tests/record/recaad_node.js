// SPDX-License-Identifier: Apache-2.0
// M2M-RECAAD from Node.js's crypto module (docs/PROTOCOL.md 5.7): a new
// cipher object per message, key and IV at creation, setAAD, update, final,
// getAuthTag / setAuthTag - nothing else. Run by recaad_node.sh with
// OPENSSL_CONF naming a configuration that activates m2msec and
// --openssl-shared-config. Prints "ok N - ..." / "not ok N - ..." lines and
// exits 1 if any check failed.
'use strict';
const crypto = require('crypto');

let n = 0;
let bad = 0;
function check(cond, what) {
    n++;
    if (!cond)
        bad++;
    console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${what}`);
}

// u64be(epoch) || u64be(seq) || application AAD
function aad(epoch, seq, app) {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(BigInt(epoch), 0);
    h.writeBigUInt64BE(BigInt(seq), 8);
    return Buffer.concat([h, app]);
}

function seal(name, key, iv, epoch, seq, app, pt) {
    const c = crypto.createCipheriv(name, key, iv, { authTagLength: 16 });
    c.setAAD(aad(epoch, seq, app));
    const ct = Buffer.concat([c.update(pt), c.final()]);
    return { ct, tag: c.getAuthTag() };
}

function open(name, key, iv, epoch, seq, app, rec) {
    const d = crypto.createDecipheriv(name, key, iv, { authTagLength: 16 });
    d.setAuthTag(rec.tag);
    d.setAAD(aad(epoch, seq, app));
    return Buffer.concat([d.update(rec.ct), d.final()]);
}

function refused(fn) {
    try {
        fn();
        return false;
    } catch (e) {
        return true;
    }
}

// The independent reference: the stock AEAD, nonce = IV XOR (0^32 || u64be(seq)).
function refSeal(name, key, iv, epoch, seq, app, pt) {
    const nonce = Buffer.from(iv);
    const s = Buffer.alloc(8);
    s.writeBigUInt64BE(BigInt(seq), 0);
    for (let i = 0; i < 8; i++)
        nonce[4 + i] ^= s[i];
    return seal(name, key, nonce, epoch, seq, app, pt);
}

const algs = [
    ['M2M-RECAAD-AES-128-GCM', 'aes-128-gcm', 16],
    ['M2M-RECAAD-AES-256-GCM', 'aes-256-gcm', 32],
    ['M2M-RECAAD-CHACHA20-POLY1305', 'chacha20-poly1305', 32],
];
const app = Buffer.from('node-app');

for (const [name, ref, keylen] of algs) {
    const key = crypto.randomBytes(keylen);
    const iv = crypto.randomBytes(12);
    const recs = [];

    for (const seq of [0, 1, 2, 1000]) {
        const pt = crypto.randomBytes(seq === 2 ? 0 : 37);
        const r = seal(name, key, iv, 7, seq, app, pt);
        const w = refSeal(ref, key, iv, 7, seq, app, pt);
        check(r.ct.equals(w.ct) && r.tag.equals(w.tag), `${name}: record ${seq} equals stock ${ref}`);
        recs.push([seq, r, pt]);
    }
    check(refused(() => seal(name, key, iv, 7, 1000, app, Buffer.alloc(1))),
        `${name}: sequence number 1000 again refused (new cipher object)`);
    check(refused(() => seal(name, key, iv, 7, 3, app, Buffer.alloc(1))),
        `${name}: a lower sequence number refused`);
    check(refused(() => seal(name, key, iv, 8, 2000, app, Buffer.alloc(1))),
        `${name}: another epoch with the same key refused`);
    for (const [seq, r, pt] of recs.slice(0, 2))
        check(open(name, key, iv, 7, seq, app, r).equals(pt), `${name}: record ${seq} opens`);
    check(refused(() => open(name, key, iv, 7, 0, app, recs[0][1])),
        `${name}: record 0 replayed (new decipher object) refused`);
    const forged = { ct: recs[3][1].ct, tag: Buffer.from(recs[3][1].tag) };
    forged.tag[0] ^= 1;
    check(refused(() => open(name, key, iv, 7, 1000, app, forged)), `${name}: forged record refused`);
    check(open(name, key, iv, 7, 1000, app, recs[3][1]).equals(recs[3][2]),
        `${name}: record 1000 opens after the forgery`);
    check(refused(() => open(name, key, iv, 7, 2, app, recs[2][1])),
        `${name}: record 2, below the replay window, refused`);
    check(refused(() => {
        const c = crypto.createCipheriv(name, key, iv, { authTagLength: 16 });
        c.update(Buffer.alloc(4));
    }), `${name}: data without the AAD header refused`);
}
console.log(`1..${n}`);
process.exit(bad === 0 ? 0 : 1);
