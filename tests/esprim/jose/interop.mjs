// The jose side of tests/esprim/jose_interop.sh: an independent ESPrim end
// built on the npm `jose` package (JWE) and node:crypto (HMAC-SHA256,
// random values), following docs/PROTOCOL.md section 9 only.
//
//   node interop.mjs open KEYFILE RECEIVER.json [ORIGINATOR.json] < jwe
//       derive sessionESPrimKey from the receiver RandObject and the
//       originator RandObject ("oro" of the header, or the file), then
//       compactDecrypt with its first 16/24/32 bytes; prints the plaintext
//       as hex. Exit 1 (error class on stderr) when jose refuses.
//   node interop.mjs seal KEYFILE KID RECEIVER.json ENC [ORIG_OUT.json] < plaintext
//       a new originator RandObject (random value, expiry 60 s before the
//       receiver's), CompactEncrypt with "alg":"dir", ENC, kid, ori, rri,
//       oro; prints the JWE. ORIG_OUT.json receives the originator object.
//   node interop.mjs examples PROTOCOL.md
//       every esprim-example block: derive the key, decrypt the JWE, and
//       encrypt the plaintext again with the documented IV and header:
//       the JWE must come out byte for byte. Prints ok / not ok lines.
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader } from 'jose';

const LABEL = 'oneM2M HMAC-SHA256 sessionESPrimKey derivation algorithm';
const KEYLEN = { A128GCM: 16, A192GCM: 24, A256GCM: 32 };
const ENCID = { A128GCM: 10, A192GCM: 11, A256GCM: 12 };

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const unb64u = (s) => Buffer.from(s, 'base64url');
const readKey = (file) => Buffer.from(readFileSync(file, 'utf8').replace(/\s+/g, ''), 'hex');
const readStdin = () => readFileSync(0);

function sessionKey(key, receiver, originator) {
  return createHmac('sha256', key)
    .update(unb64u(receiver.esprimRandValue))
    .update(unb64u(originator.esprimRandValue))
    .update(LABEL)
    .digest();
}

// "YYYYMMDDTHHMMSS" <-> seconds since 1970 (UTC)
function parseTs(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})/.exec(s);
  return Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000;
}
function formatTs(t) {
  return new Date(t * 1000).toISOString().replace(/[-:]/g, '').slice(0, 15);
}

async function open(keyFile, recvFile, origFile) {
  const jwe = readStdin().toString('utf8').replace(/\r?\n$/, '');
  const key = readKey(keyFile);
  const receiver = JSON.parse(readFileSync(recvFile, 'utf8'));
  const header = decodeProtectedHeader(jwe);
  const originator = header.oro ?? JSON.parse(readFileSync(origFile, 'utf8'));
  if (header.rri !== receiver.esprimRandID || header.ori !== originator.esprimRandID)
    throw new Error('ori/rri do not name the RandObjects');
  const cek = sessionKey(key, receiver, originator).subarray(0, KEYLEN[header.enc]);
  const { plaintext } = await compactDecrypt(jwe, cek);
  process.stdout.write(Buffer.from(plaintext).toString('hex') + '\n');
}

async function seal(keyFile, kid, recvFile, enc, origOut) {
  const key = readKey(keyFile);
  const receiver = JSON.parse(readFileSync(recvFile, 'utf8'));
  const originator = {
    esprimRandID: 'oJose' + randomBytes(9).toString('base64url'),
    esprimRandValue: b64u(randomBytes(16)),
    esprimRandExpiry: formatTs(parseTs(receiver.esprimRandExpiry) - 60),
    esprimKeyGenAlgIDs: 1,
    esprimProtocolAndAlgIDs: [ENCID[enc]],
  };
  const cek = sessionKey(key, receiver, originator).subarray(0, KEYLEN[enc]);
  const jwe = await new CompactEncrypt(readStdin())
    .setProtectedHeader({
      alg: 'dir', enc, kid, ori: originator.esprimRandID, rri: receiver.esprimRandID,
      oro: originator,
    })
    .encrypt(cek);
  if (origOut) (await import('node:fs')).writeFileSync(origOut, JSON.stringify(originator));
  process.stdout.write(jwe + '\n');
}

function blocks(doc) {
  const out = [];
  let cur = null, last = null;
  for (const line of readFileSync(doc, 'utf8').split('\n')) {
    if (cur === null) {
      if (line.trim() === '```esprim-example') { cur = {}; last = null; }
      continue;
    }
    if (line.trim() === '```') { out.push(cur); cur = null; continue; }
    if (/^[ \t]/.test(line) && last !== null) { cur[last] += line.trim(); continue; }
    const i = line.indexOf(' = ');
    if (i > 0) { last = line.slice(0, i); cur[last] = line.slice(i + 3); }
  }
  return out;
}

async function examples(doc) {
  let bad = 0, n = 0;
  const check = (label, ok) => {
    n++;
    if (!ok) bad++;
    console.log(`${ok ? 'ok' : 'not ok'} - ${label}`);
  };
  const found = blocks(doc);
  for (const [i, b] of found.entries()) {
    const k = i + 1;
    const key = Buffer.from(b.key, 'hex');
    const r = JSON.parse(b['receiver-rand']), o = JSON.parse(b['originator-rand']);
    const sk = sessionKey(key, r, o);
    check(`example ${k}: sessionESPrimKey (node:crypto HMAC)`, sk.toString('hex') === b['session-key']);
    const cek = sk.subarray(0, KEYLEN[b.enc]);
    const { plaintext, protectedHeader } = await compactDecrypt(b.jwe, cek);
    check(`example ${k}: jose compactDecrypt gives the documented plaintext`,
      Buffer.from(plaintext).toString('utf8') === b.plaintext);
    check(`example ${k}: jose sees alg dir, ${b.enc}, kid, ori, rri`,
      protectedHeader.alg === 'dir' && protectedHeader.enc === b.enc &&
      protectedHeader.kid === b.kid && protectedHeader.ori === o.esprimRandID &&
      protectedHeader.rri === r.esprimRandID);
    const again = await new CompactEncrypt(Buffer.from(b.plaintext, 'utf8'))
      .setProtectedHeader(JSON.parse(b['protected-header']))
      .setInitializationVector(Buffer.from(b.iv, 'hex'))
      .encrypt(cek);
    check(`example ${k}: jose CompactEncrypt with the documented IV gives the JWE byte for byte`,
      again === b.jwe);
  }
  check(`at least 4 examples (found ${found.length})`, found.length >= 4);
  console.log(`# ${n} checks, ${bad} failed`);
  return bad === 0;
}

const [cmd, ...args] = process.argv.slice(2);
try {
  if (cmd === 'open') await open(...args);
  else if (cmd === 'seal') await seal(...args);
  else if (cmd === 'examples') process.exitCode = (await examples(args[0])) ? 0 : 1;
  else { console.error('usage: interop.mjs open|seal|examples ...'); process.exitCode = 2; }
} catch (e) {
  console.error(`jose refused: ${e.code ?? e.name}: ${e.message}`);
  process.exitCode = 1;
}
