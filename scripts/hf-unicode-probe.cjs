#!/usr/bin/env node
// Probes HF tokenizers (Rust, via @anush008/tokenizers, setup as in wordpiece-reference.cjs) over every code point:
// writes /tmp/wpref/rust-clean.txt (per code point: R removed by clean_text, W mapped to space, . kept, S surrogate),
// rust-norm.txt (code points whose strip-accents + lowercase result differs from themselves) and rust-punct.txt
// (code points BertPreTokenizer isolates as punctuation). Comparing these with Java's Character tables gave
// src/main/java/org/cottention/tokenizer/HfUnicodeExceptions.java.
//   NODE_PATH=/tmp/wpref/node_modules node scripts/hf-unicode-probe.cjs
const r0 = require('@anush008/tokenizers');
const n0 = r0.bertNormalizer({cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false});
// per code point: 'R' removed, 'W' -> space, '.' kept as is, 'X' something else
const out = [];
for (let base = 0; base <= 0x10FFFF; base += 4096) {
  const parts = [];
  for (let cp = base; cp < base + 4096 && cp <= 0x10FFFF; cp++) {
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp === 0x7C) { parts.push('a'); continue; }
    parts.push('a' + String.fromCodePoint(cp));
  }
  const s = n0.normalizeString(parts.join('|'));
  const got = s.split('|');
  if (got.length !== parts.length) throw new Error('split mismatch at ' + base);
  for (let i = 0; i < got.length; i++) {
    const cp = base + i;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp === 0x7C) { out.push(cp === 0x7C ? '.' : 'S'); continue; }
    const g = got[i];
    out.push(g === 'a' ? 'R' : g === 'a ' ? 'W' : g === parts[i] ? '.' : 'X');
  }
}
require('fs').writeFileSync('/tmp/wpref/rust-clean.txt', out.join(''));
const r = r0;
const fs = require('fs');
const n = r.bertNormalizer({cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: true});
const pt = r.bertPreTokenizer();
const ws = cp => (cp >= 9 && cp <= 13) || cp === 32 || cp === 0x85 || cp === 0xA0 || cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp === 0x2028 || cp === 0x2029 || cp === 0x202F || cp === 0x205F || cp === 0x3000;
const norm = [], punct = [];
for (let base = 0; base <= 0x10FFFF; base += 4096) {
  const cps = [];
  for (let cp = base; cp < base + 4096 && cp <= 0x10FFFF; cp++) if (!(cp >= 0xD800 && cp <= 0xDFFF) && !ws(cp) && cp !== 0x7C) cps.push(cp);
  // normalization: each code point between separators
  const s = n.normalizeString(cps.map(cp => String.fromCodePoint(cp)).join('|'));
  const got = s.split('|');
  if (got.length !== cps.length) throw new Error('norm split mismatch at ' + base);
  for (let i = 0; i < cps.length; i++) {
    const want = String.fromCodePoint(cps[i]);
    if (got[i] !== want) norm.push(cps[i].toString(16) + ' ' + Array.from(got[i]).map(c => c.codePointAt(0).toString(16)).join(','));
  }
  // punctuation: 'b' + cp + 'b' -> 3 pieces if punctuation
  const pieces = pt.preTokenizeString(cps.map(cp => 'b' + String.fromCodePoint(cp) + 'b').join(' '));
  let k = 0;
  for (let i = 0; i < cps.length; i++) {
    const w = 'b' + String.fromCodePoint(cps[i]) + 'b';
    if (pieces[k][0] === w) { k += 1; }
    else { punct.push(cps[i].toString(16)); k += 3; }
  }
}
fs.writeFileSync('/tmp/wpref/rust-norm.txt', norm.join('\n') + '\n');
fs.writeFileSync('/tmp/wpref/rust-punct.txt', punct.join('\n') + '\n');
console.log(norm.length, punct.length);
