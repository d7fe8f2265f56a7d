// The page: search by digest or file, browse the log, pick a policy. Every
// verdict comes from reprolog.assess (verify.js), run here on what the log
// served; text from the log is only ever set as textContent.
"use strict";

(() => {
  const R = window.reprolog;
  const $ = (id) => document.getElementById(id);
  const POLICY_KEY = "reprolog.policy";
  const MAX_PAGES = 100;
  const MISMATCHES_CHECKED = 20;

  const state = { status: null, policy: null, policyError: null, checkpoint: null, turn: 0 };

  // The result panel shows the answer to the latest request only: a slower
  // lookup started earlier (a policy change re-routes while the user moves
  // on) must not overwrite it. Each request takes a turn; it writes to the
  // panel only while its turn is still the latest.
  function takeTurn() {
    const turn = ++state.turn;
    return () => turn === state.turn;
  }

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
    return e;
  }

  async function fetchOk(path, kind) {
    const resp = await fetch(path, { cache: "no-store" });
    if (!resp.ok) {
      const text = (await resp.text()).split("\n")[0];
      throw new Error(`${path}: ${resp.status} ${text}`);
    }
    if (kind === "json") return resp.json();
    if (kind === "bytes") return new Uint8Array(await resp.arrayBuffer());
    return resp.text();
  }

  // Every page of a lookup by the policy's rebuilder keys, following `next`:
  // entries by keys the policy does not list are never fetched (a flood of
  // them costs one number, `total`), as `reprolog verify` does.
  // The rebuilder keys a lookup asks for (hex), in the policy's order: the
  // index answers for each, in that order.
  const askedKeys = () => Object.values(state.policy?.rebuilders ?? {}).map((k) => R.hex(k.pub));

  async function lookup(digest) {
    const pages = [];
    let cursor = 0;
    const keys = askedKeys().map((k) => `key=${k}`);
    for (;;) {
      const params = [...keys, ...(cursor ? [`cursor=${cursor}`] : [])];
      const page = await fetchOk(`/lookup/${digest}${params.length ? `?${params.join("&")}` : ""}`, "json");
      pages.push(page);
      if (page.next === undefined || page.next === null) return pages;
      if (pages.length >= MAX_PAGES || page.next <= cursor) throw new R.VerifyError("the lookup does not end");
      cursor = page.next;
    }
  }

  // --- policy ----------------------------------------------------------

  async function loadPolicy() {
    const saved = localStorage.getItem(POLICY_KEY);
    let text = saved;
    let source = "your policy, kept in this browser";
    if (saved === null) {
      if (state.status?.hasPolicy) {
        text = await fetchOk("/api/v1/policy", "text");
        source = "the log's default policy (paste your own to replace it)";
      } else {
        text = "";
        source = "this log has no default policy: paste yours";
      }
    }
    $("policy").value = text;
    $("policy-source").textContent = `Using ${source}.`;
    state.policyFromLog = saved === null && state.status?.hasPolicy;
    await applyPolicy(text);
  }

  async function applyPolicy(text) {
    try {
      state.policy = await R.parsePolicy(text);
      state.policyError = null;
      $("policy-status").textContent = `Policy: ${Object.keys(state.policy.rebuilders).length} rebuilders, consensus ${state.policy.consensus}, witness quorum ${state.policy.quorum ?? "none"}.`;
      $("policy-status").className = "";
    } catch (e) {
      state.policy = null;
      state.policyError = e.message;
      $("policy-status").textContent = `Policy not usable: ${e.message}`;
      $("policy-status").className = "error";
    }
  }

  // --- the log ---------------------------------------------------------

  async function showLog() {
    const s = state.status;
    $("log-line").textContent = `Log ${s.origin}: ${s.size} entries.`;
    $("checkpoint").textContent = s.checkpoint;
    const status = $("checkpoint-status");
    state.checkpoint = null;
    if (!state.policy) {
      status.textContent = "No usable policy: the checkpoint cannot be verified.";
      status.className = "error";
    } else {
      try {
        const log = logKey();
        state.checkpoint = await R.openCheckpoint(s.checkpoint, log, state.policy);
        const cosigned = state.checkpoint.cosigned.length
          ? `, cosigned by ${state.checkpoint.cosigned.join(", ")}`
          : "";
        status.textContent = `Checkpoint of size ${state.checkpoint.size} verified in this browser (log signature${cosigned}).`;
        status.className = "verified";
      } catch (e) {
        status.textContent = `Checkpoint verification failed: ${e.message}`;
        status.className = "error";
      }
    }
    await showRebuilders();
    showRecent();
    await showMismatches();
  }

  function logKey() {
    const log = state.policy.logs.find((l) => l.key.name === state.status.origin);
    if (!log) throw new R.VerifyError(`your policy lists no log with origin ${state.status.origin}`);
    return log.key;
  }

  function trustedName(keyHex) {
    if (!state.policy) return null;
    const hit = Object.entries(state.policy.rebuilders).find(([, k]) => R.hex(k.pub) === keyHex);
    return hit ? hit[0] : null;
  }

  async function showRebuilders() {
    const body = $("rebuilder-rows");
    body.replaceChildren();
    for (const r of state.status.rebuilders) {
      const id = await R.keyId(r.name, 1, R.fromHex(r.key));
      body.append(el("tr", {},
        el("td", {}, r.name),
        el("td", { class: "mono" }, `${id}`),
        el("td", {}, trustedName(r.key) ?? "no"),
        el("td", {}, r.matches),
        el("td", {}, r.mismatches)));
    }
    if (!state.status.rebuilders.length) body.append(el("tr", {}, el("td", { colspan: "5" }, "No entries yet.")));
  }

  function showRecent() {
    const body = $("recent-rows");
    body.replaceChildren();
    for (const e of state.status.recent) {
      body.append(el("tr", {},
        el("td", {}, el("a", { href: `#entry:${e.index}` }, e.index)),
        el("td", {}, el("a", { href: `#sha256:${e.subject}` }, e.name || e.subject.slice(0, 16))),
        el("td", {}, e.rebuilder),
        el("td", {}, el("span", { class: `badge ${e.reproduced ? "match" : "mismatch"}` }, e.reproduced ? "match" : "MISMATCH")),
        el("td", {}, e.goVersion),
        el("td", {}, e.finishedOn)));
    }
  }

  async function showMismatches() {
    const list = $("mismatch-list");
    list.replaceChildren();
    const items = state.status.mismatched;
    if (!items.length) list.append(el("li", {}, "None logged."));
    await Promise.all(items.map(async (m, i) => {
      const badge = el("span", { class: "badge" }, "…");
      list.append(el("li", { "data-digest": m.digest }, badge, " ",
        el("a", { href: `#sha256:${m.digest}` }, m.name || "(unnamed)"), " ",
        el("span", { class: "mono" }, `sha256:${m.digest}`)));
      if (i >= MISMATCHES_CHECKED || !state.policy) {
        badge.textContent = "not checked";
        return;
      }
      try {
        const r = await R.assess(await lookup(m.digest), m.digest, state.policy, state.status.origin, askedKeys());
        badge.textContent = r.verdict;
        badge.className = `badge ${r.verdict}`;
      } catch (e) {
        badge.textContent = "VERIFICATION FAILED";
        badge.className = "badge FAILED";
      }
    }));
  }

  // --- a digest --------------------------------------------------------

  async function showDigest(digest) {
    const out = $("result");
    out.replaceChildren(el("p", {}, `Looking up sha256:${digest}…`));
    const latest = takeTurn();
    out.dataset.digest = digest;
    out.dataset.state = "working";
    delete out.dataset.verdict;
    $("digest").value = digest;
    let result;
    try {
      if (!state.policy) throw new R.VerifyError(`no usable policy (${state.policyError ?? "none given"})`);
      const pages = await lookup(digest);
      result = await R.assess(pages, digest, state.policy, state.status.origin, askedKeys());
    } catch (e) {
      if (!latest()) return;
      const failed = e instanceof R.VerifyError;
      out.replaceChildren(
        el("div", { class: "verdict FAILED", role: "status" }, failed ? "VERIFICATION FAILED" : "LOG ERROR"),
        el("p", { class: "error" }, failed
          ? `What the log served did not verify in this browser: ${e.message}. No verdict is given.`
          : `Could not read the log: ${e.message}`),
        el("p", { class: "mono" }, `sha256:${digest}`));
      out.dataset.verdict = failed ? "VERIFICATION FAILED" : "LOG ERROR";
      out.dataset.state = "done";
      return;
    }
    if (latest()) renderResult(out, digest, result);
  }

  function renderResult(out, digest, r) {
    const n = r.rows.length;
    const cosigned = r.checkpoint?.cosigned?.length ? ` and ${r.checkpoint.cosigned.length} witness cosignature(s)` : "";
    const explain = {
      REPRODUCED: `${r.reproducedBy.length} trusted rebuilder(s) reproduced this file (${r.reproducedBy.join(", ")}); the policy needs ${r.threshold}.`,
      INSUFFICIENT: `${r.reproducedBy.length} trusted rebuilder(s) reproduced this file; the policy needs ${r.threshold}.`,
      CONTESTED: "A trusted rebuilder logged a mismatch for this file.",
    }[r.verdict];
    const rows = r.rows.map((row) => el("tr", {},
      el("td", {}, row.trusted ?? `untrusted: ${row.builder}`),
      el("td", { class: "mono" }, row.keyId),
      el("td", {}, el("span", { class: `badge ${row.reproduced ? "match" : "mismatch"}` }, row.reproduced ? "match" : "MISMATCH")),
      el("td", {}, row.goVersion),
      el("td", { class: "mono" }, row.source),
      el("td", { class: "mono" }, row.inferred.join(" ")),
      el("td", {}, el("a", { href: `#entry:${row.index}` }, row.index)),
      el("td", {}, row.finishedOn)));
    const unfetched = r.total !== null && r.total > n
      ? [el("p", {}, `${r.total - n} more entr${r.total - n === 1 ? "y" : "ies"} by keys not in the policy (not fetched, not counted).`)]
      : [];
    const fromLog = state.policyFromLog
      ? [el("p", { class: "error", id: "policy-warning" }, "This verdict uses the policy served by the log you are checking: a dishonest log chooses whom you trust. Paste your own policy below to decide for yourself.")]
      : [];
    out.replaceChildren(
      el("div", { class: `verdict ${r.verdict}`, role: "status" }, r.verdict),
      ...fromLog,
      el("p", {}, explain),
      ...unfetched,
      el("p", { class: "verified" }, `Verified in this browser: the checkpoint of size ${r.checkpoint?.size ?? "?"} (log signature${cosigned}), ${n} inclusion proof(s), ${n} attestation signature(s)${r.proven ? ", and the log's index proof that these are all the attestations by the policy's rebuilders" : ""}.`),
      el("p", { class: "mono" }, `sha256:${digest}`),
      n ? el("div", { class: "scroll", tabindex: "0" }, el("table", {},
        el("thead", {}, el("tr", {}, ...["Rebuilder", "Key ID", "Result", "Go", "Source", "Inferred flags", "Log index", "Finished"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...rows))) : el("p", {}, r.proven ? "The log holds no attestation for this digest by the policy's rebuilders: its index proves there is none." : "The log holds no attestation for this digest."));
    out.dataset.verdict = r.verdict;
    out.dataset.verified = "true";
    out.dataset.state = "done";
  }

  // --- one entry -------------------------------------------------------

  async function showEntry(index) {
    const out = $("result");
    out.replaceChildren(el("p", {}, `Reading entry ${index}…`));
    const latest = takeTurn();
    out.dataset.state = "working";
    delete out.dataset.digest;
    try {
      const cp = state.checkpoint;
      if (!cp) throw new R.VerifyError("the log's checkpoint is not verified under your policy");
      if (!(index < cp.size)) throw new R.VerifyError(`entry ${index} is beyond the checkpoint (size ${cp.size})`);
      const proof = await fetchOk(`/proof/inclusion?index=${index}&size=${cp.size}`, "json");
      const bundle = R.bundleEntries(await fetchOk(`/${R.bundlePath(index, cp.size)}`, "bytes"));
      const bytes = bundle[index % 256];
      if (!bytes) throw new R.VerifyError("the entry bundle is short");
      await R.verifyInclusion(index, cp.size, await R.leafHash(bytes), proof.proof.map(R.b64decode), cp.root);
      const { key, statement } = await R.openEntry(bytes);
      const d = R.describe(statement);
      const builderKeyId = await R.keyId(d.builder, 1, R.fromHex(key));
      if (!latest()) return;
      const fields = [
        ["Log index", index],
        ["File", d.name],
        ["Subject", `sha256:${d.subject}`],
        ["Rebuilt", `sha256:${d.rebuilt}`],
        ["Result", d.rebuilt === d.subject ? "match" : "MISMATCH"],
        ["Rebuilder", `${trustedName(key) ?? "not in your policy"} (${d.builder}, key ID ${builderKeyId})`],
        ["Go", d.goVersion],
        ["Source", d.source],
        ["Inferred flags", d.inferred.join(" ")],
        ["Finished", d.finishedOn],
      ];
      out.replaceChildren(
        el("h3", {}, `Entry ${index}`),
        el("p", { class: "verified" }, `Verified in this browser: its inclusion proof in the checkpoint of size ${cp.size} and its attestation signature.`),
        el("table", {}, el("tbody", {}, ...fields.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", { class: "mono" }, v))))),
        el("p", {}, el("a", { href: `#sha256:${d.subject}` }, "Every attestation for this file")));
      out.dataset.verdict = "ENTRY";
    } catch (e) {
      if (!latest()) return;
      out.replaceChildren(
        el("div", { class: "verdict FAILED", role: "status" }, "VERIFICATION FAILED"),
        el("p", { class: "error" }, e.message));
      out.dataset.verdict = "VERIFICATION FAILED";
    }
    out.dataset.state = "done";
  }

  // --- navigation and input --------------------------------------------

  async function route() {
    const h = decodeURIComponent(location.hash.slice(1));
    const digest = /^sha256:([0-9a-fA-F]{64})$/.exec(h);
    const entry = /^entry:([0-9]{1,15})$/.exec(h);
    if (digest) await showDigest(digest[1].toLowerCase());
    else if (entry) await showEntry(Number(entry[1]));
  }

  async function hashFile(file) {
    const out = $("result");
    const latest = takeTurn();
    out.replaceChildren(el("p", {}, `Hashing ${file.name} in this browser…`));
    out.dataset.state = "hashing";
    const digest = R.hex(await R.sha256(new Uint8Array(await file.arrayBuffer())));
    if (!latest()) return;
    // The same digest again is no hash change: look it up directly.
    if (location.hash === `#sha256:${digest}`) route();
    else location.hash = `#sha256:${digest}`;
  }

  function wire() {
    $("search-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = $("digest").value.trim().replace(/^sha256:/, "").toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(v)) {
        $("result").replaceChildren(el("p", { class: "error" }, "A SHA-256 is 64 hexadecimal digits."));
        return;
      }
      if (location.hash === `#sha256:${v}`) route();
      else location.hash = `#sha256:${v}`;
    });
    $("file").addEventListener("change", () => {
      const f = $("file").files[0];
      if (f) hashFile(f);
    });
    const drop = $("drop");
    drop.addEventListener("dragover", (ev) => {
      ev.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (ev) => {
      ev.preventDefault();
      drop.classList.remove("over");
      const f = ev.dataTransfer?.files?.[0];
      if (f) hashFile(f);
    });
    // While a policy change is applied the page is not ready: a lookup
    // started meanwhile would use the old policy.
    $("policy-save").addEventListener("click", async () => {
      document.body.dataset.ready = "false";
      localStorage.setItem(POLICY_KEY, $("policy").value);
      $("policy-source").textContent = "Using your policy, kept in this browser.";
      state.policyFromLog = false;
      await applyPolicy($("policy").value);
      await showLog();
      document.body.dataset.ready = "true";
      await route();
    });
    $("policy-reset").addEventListener("click", async () => {
      document.body.dataset.ready = "false";
      localStorage.removeItem(POLICY_KEY);
      await loadPolicy();
      await showLog();
      document.body.dataset.ready = "true";
      await route();
    });
    window.addEventListener("hashchange", route);
  }

  async function start() {
    wire();
    try {
      state.status = await fetchOk("/api/v1/status", "json");
    } catch (e) {
      $("log-line").textContent = `Could not read the log: ${e.message}`;
      return;
    }
    await loadPolicy();
    await showLog();
    await route();
    document.body.dataset.ready = "true";
  }

  start();
})();
