// reprolog's verification, in the browser. Nothing here trusts the server:
// checkpoints are opened with the policy's log key and witness keys (C2SP
// signed-note, tlog-cosignature v1; Ed25519 by WebCrypto), inclusion proofs
// are checked against the checkpoint's root (RFC 9162 §2.1.3.2), and each
// attestation's DSSE signature is checked over its pre-authentication
// encoding. It mirrors proto (note.rs, cosignature.rs, checkpoint.rs,
// merkle.rs, entry.rs, dsse.rs, policy.rs); the vectors in
// proto/testdata/web-vectors.json, made by proto, keep the two in step.
"use strict";

const reprolog = (() => {
  const utf8 = new TextEncoder();
  const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
  const PAYLOAD_TYPE = "application/vnd.in-toto+json";
  const MAX_SIGNATURES = 100;

  class VerifyError extends Error {}
  const fail = (why) => {
    throw new VerifyError(why);
  };

  // --- bytes -------------------------------------------------------------

  function b64decode(s) {
    if (typeof s !== "string" || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
      fail("not base64");
    }
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function fromHex(s) {
    if (!/^([0-9a-f]{2})*$/.test(s)) fail("not lowercase hex");
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
    return out;
  }

  function concat(...parts) {
    const len = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(len);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  function equal(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // --- Merkle tree (RFC 6962 §2.1) ----------------------------------------

  const leafHash = (entry) => sha256(concat([0], entry));
  const nodeHash = (left, right) => sha256(concat([1], left, right));

  // RFC 9162 §2.1.3.2: verifies that `leaf` is record `index` of the tree of
  // `size` with root `root`. Rejects index ≥ size and proofs of the wrong
  // length (no junk appended).
  async function verifyInclusion(index, size, leaf, proof, root) {
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
      fail(`leaf index ${index} is not below tree size ${size}`);
    }
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) fail("inclusion proof has the wrong number of hashes");
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) fail("inclusion proof has the wrong number of hashes");
    if (!equal(r, root)) fail("inclusion proof does not lead to the checkpoint's root");
  }

  // --- keys and signed notes (C2SP signed-note, tlog-cosignature) ---------

  const KEY_ED25519 = 0x01;
  const KEY_COSIGNATURE = 0x04;

  async function keyId(name, type, pub) {
    return hex((await sha256(concat(utf8.encode(name), [0x0a, type], pub))).slice(0, 4));
  }

  // Parses `<name>+<hex key ID>+<base64(type ‖ key)>`; the key ID must match.
  async function parseVkey(text) {
    const t = text.trim();
    const first = t.indexOf("+");
    const second = t.indexOf("+", first + 1);
    if (first <= 0 || second < 0) fail("malformed key");
    const [name, id, b64] = [t.slice(0, first), t.slice(first + 1, second), t.slice(second + 1)];
    if (/\s/.test(name) || !/^[0-9a-f]{8}$/.test(id)) fail("malformed key");
    const material = b64decode(b64);
    const type = material[0];
    const pub = material.slice(1);
    if ((type !== KEY_ED25519 && type !== KEY_COSIGNATURE) || pub.length !== 32) {
      fail(`unsupported key ${name}`);
    }
    if ((await keyId(name, type, pub)) !== id) fail(`key ID of ${name} does not match its key`);
    const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    return { name, id, type, pub, key, text: text.trim() };
  }

  const ed25519 = (key, sig, msg) => crypto.subtle.verify({ name: "Ed25519" }, key, sig, msg);

  // Splits a note into its text and signature lines (not verified).
  function parseNote(note) {
    const split = note.lastIndexOf("\n\n");
    if (split < 0) fail("note has no signature block");
    const text = note.slice(0, split + 1);
    const block = note.slice(split + 2);
    if (!block.endsWith("\n")) fail("note signature block must end with a newline");
    const lines = block.slice(0, -1).split("\n");
    if (lines.length > MAX_SIGNATURES) fail("note has too many signatures");
    const sigs = lines.map((line) => {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) fail("malformed signature line");
      const blob = b64decode(m[2]);
      if (blob.length < 5) fail("malformed signature line");
      return { name: m[1], id: hex(blob.slice(0, 4)), sig: blob.slice(4) };
    });
    return { text, sigs };
  }

  // The cosignature/v1 message over a checkpoint's text at `time`.
  function cosignedMessage(text, time) {
    return utf8.encode(`cosignature/v1\ntime ${time}\n${text}`);
  }

  // Verifies every signature by a known key (one bad one rejects the note);
  // returns the keys that signed.
  async function openNote(note, verifiers) {
    const { text, sigs } = parseNote(note);
    const signed = [];
    const times = new Map();
    for (const s of sigs) {
      const v = verifiers.find((k) => k.name === s.name && k.id === s.id);
      if (!v) continue;
      if (signed.includes(v)) fail(`two signatures by ${v.name}`);
      let ok = false;
      if (v.type === KEY_ED25519 && s.sig.length === 64) {
        ok = await ed25519(v.key, s.sig, utf8.encode(text));
      } else if (v.type === KEY_COSIGNATURE && s.sig.length === 72) {
        const time = new DataView(s.sig.buffer, s.sig.byteOffset, 8).getBigUint64(0);
        ok = time < 2n ** 63n && (await ed25519(v.key, s.sig.slice(8), cosignedMessage(text, time)));
      }
      if (!ok) fail(`invalid signature by ${v.name}`);
      signed.push(v);
      if (v.type === KEY_COSIGNATURE) times.set(v, Number(new DataView(s.sig.buffer, s.sig.byteOffset, 8).getBigUint64(0)));
    }
    return { text, signed, times };
  }

  // C2SP tlog-checkpoint body: origin, size, base64 root, extension lines.
  function parseCheckpoint(text) {
    const lines = text.slice(0, -1).split("\n");
    if (!text.endsWith("\n") || lines.length < 3 || lines[0] === "") fail("malformed checkpoint");
    if (!/^(0|[1-9][0-9]*)$/.test(lines[1])) fail("malformed checkpoint size");
    const size = Number(lines[1]);
    if (!Number.isSafeInteger(size)) fail("checkpoint size too large for this page");
    const root = b64decode(lines[2]);
    if (root.length !== 32) fail("malformed checkpoint root");
    return { origin: lines[0], size, root };
  }

  // Opens a checkpoint as a policy requires: signed by `log` (its origin is
  // the key's name) and cosigned by witnesses meeting the quorum.
  async function openCheckpoint(note, log, policy) {
    const witnesses = Object.values(policy.witnesses);
    const { text, signed, times } = await openNote(note, [log, ...witnesses]);
    if (!signed.includes(log)) fail(`checkpoint is not signed by the log key ${log.name}`);
    const cp = parseCheckpoint(text);
    if (cp.origin !== log.name) fail(`checkpoint origin ${cp.origin} is not ${log.name}`);
    const cosigned = new Set(
      Object.entries(policy.witnesses)
        .filter(([, w]) => signed.includes(w))
        .map(([name]) => name),
    );
    if (policy.quorum !== null && !met(policy.quorum, policy.groups, (n) => n, cosigned)) {
      fail(`checkpoint lacks the policy's witness quorum ${policy.quorum}`);
    }
    // When the quorum last cosigned (LogVerifier::open_witnessed in proto):
    // the latest time whose cosigners since meet the quorum.
    let cosignedAt = null;
    if (policy.quorum !== null) {
      const byName = Object.entries(policy.witnesses).filter(([, w]) => times.has(w)).map(([n, w]) => [n, times.get(w)]);
      const candidates = [...new Set(byName.map(([, t]) => t))].sort((a, b) => b - a);
      cosignedAt = candidates.find((t) => met(policy.quorum, policy.groups, (n) => n, new Set(byName.filter(([, at]) => at >= t).map(([n]) => n)))) ?? null;
      const now = Math.floor(Date.now() / 1000);
      if (cosignedAt !== null && policy.maxAge !== null && now - cosignedAt > policy.maxAge) {
        fail(`the checkpoint was last cosigned by the witness quorum ${now - cosignedAt} s ago, longer than the policy's max-age of ${policy.maxAge} s: the log may be hiding newer entries`);
      }
    }
    return { ...cp, note, cosigned: [...cosigned], cosignedAt };
  }

  // --- entries (canonical CBOR, DSSE) -------------------------------------

  // Decodes the CBOR subset entries use: unsigned integers, byte and text
  // strings, arrays and maps, definite lengths only.
  function cborDecode(bytes) {
    let at = 0;
    const need = (n) => {
      if (at + n > bytes.length) fail("truncated CBOR");
    };
    const head = () => {
      need(1);
      const b = bytes[at++];
      const major = b >> 5;
      const info = b & 31;
      let len;
      if (info < 24) len = info;
      else if (info <= 27) {
        const n = 1 << (info - 24);
        need(n);
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + bytes[at++];
        if (!Number.isSafeInteger(len)) fail("CBOR length too large");
      } else fail("unsupported CBOR item");
      return { major, len };
    };
    const item = (depth) => {
      if (depth > 8) fail("CBOR nested too deeply");
      const { major, len } = head();
      switch (major) {
        case 0:
          return len;
        case 2:
          need(len);
          at += len;
          return bytes.slice(at - len, at);
        case 3:
          need(len);
          at += len;
          return strictUtf8.decode(bytes.slice(at - len, at));
        case 4:
          return Array.from({ length: Math.min(len, 1 << 16) }, () => item(depth + 1));
        case 5: {
          const m = new Map();
          for (let i = 0; i < len && i < 64; i++) m.set(item(depth + 1), item(depth + 1));
          return m;
        }
        default:
          fail("unsupported CBOR item");
      }
    };
    const value = item(0);
    if (at !== bytes.length) fail("trailing bytes after the CBOR entry");
    return value;
  }

  // DSSE v1 pre-authentication encoding.
  function pae(type, body) {
    const t = utf8.encode(type);
    return concat(utf8.encode(`DSSEv1 ${t.length} `), t, utf8.encode(` ${body.length} `), body);
  }

  // Decodes a log entry and checks its DSSE signature; returns the key (hex)
  // and the in-toto statement.
  async function openEntry(bytes) {
    const m = cborDecode(bytes);
    if (!(m instanceof Map) || m.size !== 5) fail("entry is not a five-field map");
    const [v, key, type, payload, sig] = ["v", "key", "payloadType", "payload", "sig"].map((k) => m.get(k));
    if (v !== 1 || !(key instanceof Uint8Array) || key.length !== 32) fail("entry has a bad version or key");
    if (type !== PAYLOAD_TYPE || !(payload instanceof Uint8Array)) fail("entry is not an in-toto statement");
    if (!(sig instanceof Uint8Array) || sig.length !== 64) fail("entry signature is malformed");
    const pub = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
    if (!(await ed25519(pub, sig, pae(type, payload)))) fail("entry's DSSE signature does not verify");
    let statement;
    try {
      statement = JSON.parse(strictUtf8.decode(payload));
    } catch (e) {
      fail("entry's statement is not JSON");
    }
    return { key: hex(key), statement };
  }

  // What the page shows of a statement.
  function describe(st) {
    const subject = st?.subject?.[0];
    const rebuilt = (st?.predicate?.runDetails?.byproducts || []).find((b) => b?.name === "rebuilt");
    const params = st?.predicate?.buildDefinition?.externalParameters || {};
    const deps = st?.predicate?.buildDefinition?.resolvedDependencies || [];
    const source = deps.find((d) => d?.name === "source");
    let sourceText = "";
    if (source?.digest?.gitCommit) sourceText = `git ${String(source.digest.gitCommit).slice(0, 12)}`;
    else if (source?.annotations?.kind === "go-distribution") sourceText = "Go source";
    else if (params.mainModule?.path) sourceText = `${params.mainModule.path}@${params.mainModule.version}`;
    const text = (x) => (typeof x === "string" ? x : "");
    return {
      subject: text(subject?.digest?.sha256),
      name: text(subject?.name),
      rebuilt: text(rebuilt?.digest?.sha256),
      builder: text(st?.predicate?.runDetails?.builder?.id),
      goVersion: text(params.goVersion),
      source: sourceText,
      inferred: (Array.isArray(params.inferred) ? params.inferred : []).map((f) => `${text(f?.key)}=${text(f?.value)}`),
      finishedOn: text(st?.predicate?.runDetails?.metadata?.finishedOn),
    };
  }

  // --- policy (C2SP tlog-policy plus rebuilders and consensus) -----------

  async function parsePolicy(text) {
    const p = { logs: [], witnesses: {}, rebuilders: {}, groups: {}, quorum: undefined, consensus: undefined, maxAge: undefined };
    const kinds = {};
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const f = lines[i].split("#")[0].trim().split(/[ \t]+/).filter(Boolean);
      if (f.length === 0) continue;
      const bad = (why) => fail(`policy line ${i + 1}: ${why}`);
      const define = (name, kind) => {
        if (name === "none" || kinds[name]) bad(`name ${name} is defined twice`);
        kinds[name] = kind;
      };
      const key = async (t, type) => {
        const k = await parseVkey(t).catch((e) => bad(e.message));
        if (k.type !== type) bad(`key ${k.name} has the wrong type`);
        return k;
      };
      const [kw, ...rest] = f;
      if (kw === "log" && rest.length >= 1 && rest.length <= 3) {
        // The optional read URL (a bucket or CDN) is the CLI's; the page
        // reads the log it is served by.
        p.logs.push({ key: await key(rest[0], KEY_ED25519), url: rest[1] || null });
      } else if (kw === "index" && rest.length === 1) {
        // The index log of the log above (proto/src/policy.rs).
        const log = p.logs[p.logs.length - 1];
        if (!log) bad("an index line follows the log line it belongs to");
        if (log.index) bad("second index line for one log");
        log.index = await key(rest[0], KEY_ED25519);
      } else if (kw === "witness" && rest.length >= 2 && rest.length <= 3) {
        define(rest[0], "witness");
        p.witnesses[rest[0]] = await key(rest[1], KEY_COSIGNATURE);
      } else if (kw === "rebuilder" && rest.length === 2) {
        define(rest[0], "rebuilder");
        p.rebuilders[rest[0]] = await key(rest[1], KEY_ED25519);
      } else if (kw === "group" && rest.length >= 3) {
        const [name, k, ...members] = rest;
        const kind = kinds[members[0]];
        if (!members.every((m) => kinds[m] && kinds[m] === kind)) bad("group members must be defined above, all witnesses or all rebuilders");
        if (new Set(members).size !== members.length) bad("group lists a member twice");
        const threshold = k === "all" ? members.length : k === "any" ? 1 : /^[1-9][0-9]*$/.test(k) ? Number(k) : 0;
        if (threshold < 1 || threshold > members.length) bad("threshold must be 1..members, all or any");
        define(name, kind);
        p.groups[name] = { threshold, members };
      } else if (kw === "quorum" && rest.length === 1) {
        if (p.quorum !== undefined) bad("second quorum line");
        if (rest[0] !== "none" && kinds[rest[0]] !== "witness") bad(`quorum ${rest[0]} is not a witness or group of witnesses`);
        p.quorum = rest[0] === "none" ? null : rest[0];
      } else if (kw === "max-age" && rest.length === 1) {
        if (p.maxAge !== undefined) bad("second max-age line");
        const m = /^([0-9]+)([smhd])$/.exec(rest[0]);
        if (rest[0] !== "none" && (!m || Number(m[1]) < 1)) bad(`max-age ${rest[0]} is not a duration such as 90s, 30m, 24h or 7d (or none)`);
        p.maxAge = rest[0] === "none" ? null : Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
        p.maxAgeLine = i + 1;
      } else if (kw === "consensus" && rest.length === 1) {
        if (p.consensus !== undefined) bad("second consensus line");
        if (kinds[rest[0]] !== "rebuilder") bad(`consensus ${rest[0]} is not a rebuilder or group of rebuilders`);
        p.consensus = rest[0];
      } else {
        bad(`unknown keyword or wrong number of fields: ${kw}`);
      }
    }
    if (p.logs.length === 0) fail("policy has no log line");
    if (p.quorum === undefined) fail("policy has no quorum line (write `quorum none` to require no witness)");
    if (p.consensus === undefined) fail("policy has no consensus line");
    // max-age bounds the quorum's cosignature time (proto/src/policy.rs):
    // a day by default with a quorum; none without one.
    if (p.quorum === null && p.maxAge) fail(`policy line ${p.maxAgeLine}: max-age needs a witness quorum: only witness cosignatures carry a time`);
    if (p.maxAge === undefined) p.maxAge = p.quorum === null ? null : 24 * 3600;
    return p;
  }

  // The tree under `name` with groups expanded, and each leaf's key.
  function thresholdTree(name, groups, keyOf) {
    const leaves = [];
    const expand = (n) => {
      const g = groups[n];
      if (!g) {
        leaves.push(keyOf(n));
        return { leaf: true };
      }
      return { k: g.threshold, members: g.members.map(expand) };
    };
    return { root: expand(name), leaves };
  }

  // Whether `name` is met by the keys in `present`, each key counted at one
  // leaf at most however many names or groups it stands in (the search of
  // proto/src/threshold.rs: every assignment of repeated keys to leaves).
  function met(name, groups, keyOf, present) {
    const { root, leaves } = thresholdTree(name, groups, keyOf);
    const places = new Map();
    leaves.forEach((k, i) => {
      if (!present.has(k)) return;
      if (!places.has(k)) places.set(k, []);
      places.get(k).push(i);
    });
    const choices = [...places.values()];
    const choice = choices.map(() => 0);
    const evalNode = (node, on, next) =>
      node.leaf ? on[next.i++] : node.members.filter((m) => evalNode(m, on, next)).length >= node.k;
    for (let tries = 0; tries <= 4096; tries++) {
      const on = leaves.map(() => false);
      choices.forEach((p, i) => { on[p[choice[i]]] = true; });
      if (evalNode(root, on, { i: 0 })) return true;
      let i = 0;
      for (;;) {
        if (i === choice.length) return false;
        choice[i]++;
        if (choice[i] < choices[i].length) break;
        choice[i] = 0;
        i++;
      }
    }
    return false;
  }

  // The fewest distinct keys that can meet the consensus.
  function consensusThreshold(policy) {
    const minKeys = (node) => node.leaf ? 1 : node.members.map(minKeys).sort((a, b) => a - b).slice(0, node.k).reduce((a, b) => a + b, 0);
    return minKeys(thresholdTree(policy.consensus, policy.groups, (n) => n).root);
  }

  function rebuilderKey(policy) {
    return (name) => (policy.rebuilders[name] ? hex(policy.rebuilders[name].pub) : `?${name}`);
  }

  // The policy's log whose key name is `origin`.
  function logFor(policy, origin) {
    const log = policy.logs.find((l) => l.key.name === origin);
    if (!log) fail(`the policy lists no log with origin ${origin}`);
    return log.key;
  }

  // --- the verifiable index (proto/src/index) ----------------------------

  const bitOf = (key, n) => (key[n >> 3] & (0x80 >> (n & 7))) !== 0;

  // The first `bits` bits of `key`, the rest zero.
  function prefixOf(key, bits) {
    const out = new Uint8Array(32);
    out.set(key.slice(0, bits >> 3));
    if (bits & 7) out[bits >> 3] = key[bits >> 3] & (0xff << (8 - (bits & 7))) & 0xff;
    return out;
  }

  // The first bit at which `a` and `b` differ, or null when equal.
  function firstDifference(a, b) {
    for (let i = 0; i < 32; i++) {
      const x = a[i] ^ b[i];
      if (x) return i * 8 + Math.clz32(x) - 24;
    }
    return null;
  }

  function be64(n) {
    const out = new Uint8Array(8);
    let v = BigInt(n);
    for (let i = 7; i >= 0; i--) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return out;
  }

  // The value hash of a strictly ascending list: a chain from 32 zero bytes.
  async function valueHash(indices) {
    let chain = new Uint8Array(32);
    for (let i = 0; i < indices.length; i++) {
      if (!Number.isSafeInteger(indices[i]) || indices[i] < 0 || (i > 0 && indices[i] <= indices[i - 1])) {
        fail("index proof: the indices listed for the key do not ascend");
      }
      chain = await sha256(concat([0x43], chain, be64(indices[i])));
    }
    return chain;
  }

  const subjectKey = (digest) => sha256(concat([0x53], digest));
  const signerKey = (digest, signer) => sha256(concat([0x4b], digest, signer));
  const mapLeaf = (key, value) => sha256(concat([0x00], key, value));
  const mapInner = (depth, prefix, left, right) => sha256(concat([0x01, depth], prefix, left, right));

  // A map proof's bytes (proto/src/index/proof.rs), strictly.
  function parseMapProof(bytes) {
    let at = 0;
    const take = (n) => {
      if (at + n > bytes.length) fail("index proof: malformed: truncated");
      const out = bytes.slice(at, at + n);
      at += n;
      return out;
    };
    const [hi, lo] = take(2);
    const count = (hi << 8) | lo;
    if (count > 256) fail("index proof: malformed: more than 256 steps");
    const steps = [];
    for (let i = 0; i < count; i++) steps.push({ depth: take(1)[0], hash: take(32) });
    const [tag] = take(1);
    let end;
    if (tag === 0) end = { kind: "member" };
    else if (tag === 1) end = { kind: "otherLeaf", key: take(32), value: take(32) };
    else if (tag === 2) end = { kind: "otherInner", depth: take(1)[0], prefix: take(32), left: take(32), right: take(32) };
    else if (tag === 3) end = { kind: "empty" };
    else fail("index proof: malformed: unknown end tag");
    if (at !== bytes.length) fail("index proof: malformed: bytes after the end");
    return { steps, end };
  }

  // That under map `root`, `key` holds exactly `indices` (none: absent).
  async function verifyMapProof(proof, root, key, indices) {
    const { steps, end } = proof;
    for (let i = 1; i < steps.length; i++) {
      if (steps[i - 1].depth >= steps[i].depth) fail("index proof: its steps do not descend");
    }
    const fixed = steps.length ? steps[steps.length - 1].depth : null;
    const onPath = (other) => {
      const d = firstDifference(key, other);
      return fixed === null || d === null || d > fixed;
    };
    let hash;
    if (end.kind === "member") {
      if (indices.length === 0) fail("index proof: it says the key is in the map, but no indices were given for it");
      hash = await mapLeaf(key, await valueHash(indices));
    } else if (indices.length > 0) {
      fail("index proof: it says the key is not in the map, but indices were given for it");
    } else if (end.kind === "otherLeaf") {
      if (equal(end.key, key)) fail("index proof: the leaf it ends at is the key's own");
      if (!onPath(end.key)) fail("index proof: the node it ends at is not where the key's path leads");
      hash = await mapLeaf(end.key, end.value);
    } else if (end.kind === "otherInner") {
      if (!equal(end.prefix, prefixOf(end.prefix, end.depth))) fail("index proof: malformed: bits past an inner node's depth are set");
      if ((fixed !== null && end.depth <= fixed) || !onPath(end.prefix) || equal(prefixOf(key, end.depth), end.prefix)) {
        fail("index proof: the node it ends at is not where the key's path leads");
      }
      hash = await mapInner(end.depth, end.prefix, end.left, end.right);
    } else {
      if (steps.length) fail("index proof: malformed: steps before an empty map");
      hash = await sha256(new Uint8Array(0));
    }
    for (let i = steps.length - 1; i >= 0; i--) {
      const { depth, hash: other } = steps[i];
      const [l, r] = bitOf(key, depth) ? [other, hash] : [hash, other];
      hash = await mapInner(depth, prefixOf(key, depth), l, r);
    }
    if (!equal(hash, root)) fail("index proof: it does not lead to the map root of the revision");
  }

  // A revision leaf (proto/src/index/revision.rs), strictly.
  function parseRevision(text) {
    const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : [];
    if (lines.length !== 5 || lines[0] !== "reprolog index revision") fail("index revision: not a revision leaf");
    const [, origin, size, logRoot, mapRoot] = lines;
    if (!/^(0|[1-9][0-9]*)$/.test(size) || !Number.isSafeInteger(Number(size))) fail("index revision: bad size line");
    const root = (line) => {
      const h = b64decode(line);
      if (h.length !== 32 || btoa(String.fromCharCode(...h)) !== line) fail("index revision: bad hash line");
      return h;
    };
    return { origin, size: Number(size), logRoot: root(logRoot), mapRoot: root(mapRoot) };
  }

  // The lists a page's index answer proves for `digest` (hex) and the keys
  // asked (hex; none: the subject's own key), under the answer's log
  // checkpoint `cp` (IndexAnswer::verify in proto/src/wire.rs).
  async function verifyIndex(answer, digest, keys, cp, indexKey, policy) {
    if (!answer) fail("the answer carries no index proof, so it may leave entries out (the policy names the log's index)");
    const icp = await openCheckpoint(answer.checkpoint, indexKey, policy);
    const revisionBytes = utf8.encode(answer.revision);
    const revision = parseRevision(answer.revision);
    if (icp.size < 1) fail("index: the index log is empty");
    await verifyInclusion(icp.size - 1, icp.size, await leafHash(revisionBytes), answer.revisionProof.map(b64decode), icp.root)
      .catch((e) => fail(`index: the revision is not the index log's last leaf: ${e.message}`));
    if (revision.origin !== cp.origin) fail("index: the revision indexes another log");
    if (revision.size !== cp.size || !equal(revision.logRoot, cp.root)) {
      fail(`index: the revision indexes the log at size ${revision.size}, the answer's checkpoint is of size ${cp.size}`);
    }
    const asked = keys.length ? keys : [null];
    if (!Array.isArray(answer.keys) || answer.keys.length !== asked.length) fail("index: the key answers are not for the keys asked");
    const d = fromHex(digest);
    const lists = [];
    for (let i = 0; i < asked.length; i++) {
      const a = answer.keys[i];
      if ((a.signer ?? null) !== asked[i]) fail("index: the key answers are not for the keys asked, in order");
      if (a.indices.some((x) => x >= revision.size)) fail("index: a list names an index past the revision's entries");
      const key = asked[i] === null ? await subjectKey(d) : await signerKey(d, fromHex(asked[i]));
      await verifyMapProof(parseMapProof(b64decode(a.proof)), revision.mapRoot, key, a.indices);
      lists.push({ signer: asked[i], indices: a.indices });
    }
    return lists;
  }

  // --- a lookup answer, verified, and the verdict ------------------------

  // Checks every page of a lookup of `digest` (hex) under `policy`: each
  // checkpoint (log signature, witness quorum), each inclusion proof, each
  // DSSE signature, each subject. Any failure throws: no verdict then.
  async function assess(pages, digest, policy, origin, keysAsked = []) {
    const log = logFor(policy, origin);
    const indexKey = policy.logs.find((l) => l.key === log).index;
    const rows = [];
    let checkpoint = null;
    let proven = null;
    for (const page of pages) {
      const cp = await openCheckpoint(page.checkpoint, log, policy);
      checkpoint = cp;
      if (indexKey) proven = await verifyIndex(page.index, digest, keysAsked, cp, indexKey, policy);
      for (const e of page.entries) {
        const bytes = b64decode(e.entry);
        const proof = e.inclusionProof.map(b64decode);
        await verifyInclusion(e.index, cp.size, await leafHash(bytes), proof, cp.root);
        const { key, statement } = await openEntry(bytes);
        const d = describe(statement);
        if (d.subject !== digest) fail(`entry ${e.index} is about another file`);
        const trusted = Object.entries(policy.rebuilders).find(([, k]) => hex(k.pub) === key);
        rows.push({
          index: e.index,
          key,
          keyId: await keyId(d.builder, KEY_ED25519, fromHex(key)),
          trusted: trusted ? trusted[0] : null,
          reproduced: d.rebuilt !== "" && d.rebuilt === d.subject,
          ...d,
        });
      }
    }
    // The pages together must hold what the last one says matches the keys
    // asked (an answer with entries cut out says more than it holds).
    const last = pages[pages.length - 1];
    const held = pages.reduce((n, p) => n + p.entries.length, 0);
    if (last && last.matched !== undefined && last.matched !== null && held !== last.matched) {
      fail(`the answer lists ${held} of the ${last.matched} entries it says match: entries are missing`);
    }
    // With the index: the entries are exactly the proven lists.
    if (proven) {
      for (const { signer, indices } of proven) {
        const got = [...new Set(rows.filter((r) => signer === null || r.key === signer).map((r) => r.index))].sort((a, b) => a - b);
        const by = signer === null ? "" : ` by key ${signer.slice(0, 16)}`;
        const missing = indices.find((i) => !got.includes(i));
        if (missing !== undefined) fail(`index: the index lists entry ${missing}${by}, but the answer leaves it out`);
        const extra = got.find((i) => !indices.includes(i));
        if (extra !== undefined) fail(`index: the answer holds entry ${extra}${by}, which the index does not list`);
      }
    }
    const trustedRows = rows.filter((r) => r.trusted);
    const reproducedBy = new Set(trustedRows.filter((r) => r.reproduced).map((r) => r.trusted));
    let verdict = "INSUFFICIENT";
    if (trustedRows.some((r) => !r.reproduced)) verdict = "CONTESTED";
    else if (met(policy.consensus, policy.groups, rebuilderKey(policy), new Set(trustedRows.filter((r) => r.reproduced).map((r) => r.key)))) verdict = "REPRODUCED";
    const total = last && typeof last.total === "number" ? last.total : null;
    return { verdict, rows, checkpoint, total, reproducedBy: [...reproducedBy], threshold: consensusThreshold(policy), proven: proven !== null };
  }

  // C2SP tlog-tiles path of the entry bundle holding record `index` of a
  // tree of `size`: `tile/entries/x001/x234/067[.p/<w>]`.
  function bundlePath(index, size) {
    const n = Math.floor(index / 256);
    const width = Math.min(256, size - n * 256);
    let digits = String(n);
    const groups = [];
    while (digits.length > 3) {
      groups.unshift(digits.slice(-3));
      digits = digits.slice(0, -3);
    }
    groups.unshift(digits.padStart(3, "0"));
    const path = groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join("/");
    return `tile/entries/${path}${width < 256 ? `.p/${width}` : ""}`;
  }

  // The entries of a bundle: big-endian u16 length-prefixed.
  function bundleEntries(bytes) {
    const out = [];
    let at = 0;
    while (at < bytes.length) {
      if (at + 2 > bytes.length) fail("truncated entry bundle");
      const len = (bytes[at] << 8) | bytes[at + 1];
      if (at + 2 + len > bytes.length) fail("truncated entry bundle");
      out.push(bytes.slice(at + 2, at + 2 + len));
      at += 2 + len;
    }
    return out;
  }

  return {
    VerifyError,
    b64decode,
    hex,
    fromHex,
    sha256,
    leafHash,
    verifyInclusion,
    parseVkey,
    keyId,
    parseNote,
    openNote,
    parseCheckpoint,
    openCheckpoint,
    cborDecode,
    pae,
    openEntry,
    describe,
    parsePolicy,
    met,
    parseMapProof,
    verifyMapProof,
    parseRevision,
    verifyIndex,
    assess,
    bundlePath,
    bundleEntries,
  };
})();

if (typeof window !== "undefined") window.reprolog = reprolog;
